"""Demo readers in the states a newcomer wants to see, brought there through the same services the desk and the app
use: alice with books on loan (one overdue), a hold ready on the shelf, a booking and a child's card; bob with one
loan; carol not registered yet, so that her first login registers her."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.accounts import ages, cards, services
from backend.accounts.models import Reader, StaffUser
from backend.catalog.models import Copy, Record
from backend.circulation import holds
from backend.circulation import services as circulation
from backend.circulation.holds import HoldPolicy
from backend.eventbus import EventBus
from backend.events import booking
from backend.events.booking import EventPolicy, FullMark
from backend.events.models import Event
from backend.network.models import Library, LibraryLevel

# The login code of each demo reader, as the demo WeChat takes it (`demo-alice`), and the openid it logs in.
DEMO_LOGINS = {f"demo-{name}": f"demo-openid-{name}" for name in ("alice", "bob", "carol")}

_ALICE = "林爱丽"
_BOB = "周博文"
_CHILD = "林小满"
_CHILD_AGE_DAYS = 600  # about twenty months
# The lending desk is the central library's, whose shelves hold every Chinese title of the demo catalogue.
_DESK = "admin"


@dataclass(frozen=True, slots=True)
class DemoServices:
    """What the demo readers' histories are made through: the API's and worker's handlers of domain events (so a
    ready hold leaves its notice, a loan queues its reader's recommendations), and the policies from the settings."""

    bus: EventBus
    event_policy: EventPolicy
    events_full: FullMark
    hold_policy: HoldPolicy
    card_prefix: str


async def have_readers() -> bool:
    """Whether the demo seed's readers are in the database: alice stands for them (the seed makes her and bob in one
    transaction; carol is made by her own first login)."""
    return await Reader.exists(openid=DEMO_LOGINS["demo-alice"])


async def seed_readers(deps: DemoServices, now: datetime) -> tuple[str, ...]:
    """alice, bob and their histories, each step at its moment of the last two months (call inside the demo's
    transaction); returns a line about each demo reader."""
    central = await Library.get(level=LibraryLevel.CENTRAL)
    desk = await StaffUser.get(username=_DESK).select_related("library")
    network_time = deps.event_policy.network_time

    async def lend(reader: Reader, title: str, days_ago: int) -> Copy:
        copy = await _copy_on_shelf(title, central)
        await circulation.checkout(
            reader,
            copy.barcode,
            now=now - timedelta(days=days_ago),
            bus=deps.bus,
            network_time=network_time,
            staff=desk,
        )
        return copy

    async def check_in(copy: Copy, days_ago: int) -> None:
        moment = now - timedelta(days=days_ago)
        await circulation.check_in(copy.barcode, staff=desk, now=moment, policy=deps.hold_policy, bus=deps.bus)

    async def hold(reader: Reader, title: str, days_ago: int) -> None:
        record = await Record.get(title=title, language="chi")
        await holds.place_hold(reader, record.id, central.code, now - timedelta(days=days_ago), network_time)

    alice = await _register("alice", _ALICE, central, deps.card_prefix)
    await circulation.set_reading_history(alice, True)
    await check_in(await lend(alice, "围城", 60), 40)  # on time: her reading history and an on-time return
    await lend(alice, "活着", 35)  # due five days ago
    await lend(alice, "三体", 12)
    await lend(alice, "平凡的世界", 7)
    await hold(alice, "红楼梦", 3)
    await hold(alice, "三体Ⅱ：黑暗森林", 2)
    await check_in(await _copy_on_shelf("红楼梦", central), 1)  # pulled from the shelf for her hold: ready for her
    child = await services.add_child(
        alice,
        name=_CHILD,
        birth_month=ages.month_of(network_time.day(now) - timedelta(days=_CHILD_AGE_DAYS)),
        guardian_consent=True,
        card_prefix=deps.card_prefix,
        now=now - timedelta(days=30),
        network_time=network_time,
    )
    await lend(child, "小蝌蚪找妈妈", 10)
    lecture = await _book(deps, alice, "铜都讲坛", None, now)
    morning = await _book(deps, alice, "宝宝爬爬阅读会", child, now)  # for 12 to 36 months
    await circulation.charge_overdue_loans(now)  # the worker's daily job, so her credit already shows the overdue days

    bob = await _register("bob", _BOB, await Library.get(code=f"{central.code}-TG"), deps.card_prefix)
    await lend(bob, "西游记", 3)
    return (
        f"alice ({_ALICE}): 3 books on loan, 1 of them overdue, a hold ready at {central.name}, another waiting, "
        f"{'a lecture booked, ' if lecture else ''}and her child {_CHILD}'s card (a picture book on loan"
        f"{', a reading morning booked' if morning else ''})",
        f"bob ({_BOB}): one book on loan",
        "carol: not registered yet, her first login registers her",
    )


async def _register(name: str, display_name: str, home: Library, card_prefix: str) -> Reader:
    """The reader a first WeChat login registers, with the name and home library they then choose."""
    reader = await Reader.create(
        card_number=await cards.allocate_card_number(card_prefix), openid=DEMO_LOGINS[f"demo-{name}"]
    )
    return await services.update_profile(reader, name=display_name, home_library_code=home.code)


async def _copy_on_shelf(title: str, library: Library) -> Copy:
    # The central library holds one copy of each Chinese title.
    return await Copy.get(record__title=title, record__language="chi", current_library=library)


async def _book(deps: DemoServices, booker: Reader, title: str, child: Reader | None, now: datetime) -> bool:
    """A seat at the event, for the booker or for their child (who brings the booker along); False when its booking
    has closed (a demo network loaded weeks before its readers: its events are not made again)."""
    event = await Event.filter(title__contains=title, booking_closes_at__gt=now).order_by("starts_at").first()
    if event is None:
        return False
    await booking.book(
        booker,
        event.id,
        child_id=None if child is None else child.id,
        companions=0 if child is None else 1,
        now=now,
        policy=deps.event_policy,
        full=deps.events_full,
    )
    return True
