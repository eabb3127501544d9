"""A flash crowd on a popular event: the database's locks and indexes hold, whatever Redis does."""

import asyncio
import random

from backend.accounts.models import Reader
from backend.events import booking
from backend.events.booking import EventPolicy, FullMark
from backend.events.errors import EventFull
from backend.events.models import HOLDS_SEATS, Booking, BookingStatus, Event
from tests.integration.events.eventing import OPENS, make_event, many_readers
from tests.integration.factories import build_network
from tests.integration.service import BUS, NETWORK_TIME, Service

POLICY = EventPolicy(NETWORK_TIME)


async def _attempt(service: Service, reader: Reader, event_id: int) -> str:
    try:
        made = await booking.book(
            reader, event_id, child_id=None, companions=0, now=OPENS, policy=POLICY, full=FullMark(service.redis)
        )
    except EventFull:
        return "full"
    return made.status.value


async def _seats_agree(event_id: int) -> tuple[int, int]:
    """The event's seat count, and the seats of the bookings holding one."""
    event = await Event.get(id=event_id)
    held = sum(await Booking.filter(event_id=event_id, status__in=HOLDS_SEATS).values_list("seats", flat=True))
    return event.seats_taken, held


async def test_two_thousand_readers_rush_a_hundred_seats(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=100, waitlist_limit=100)
    readers = await many_readers(2000)

    outcomes = await asyncio.gather(*(_attempt(service, reader, event.id) for reader in readers))

    assert outcomes.count("confirmed") == 100
    assert outcomes.count("waitlisted") == 100
    assert outcomes.count("full") == 1800
    assert await _seats_agree(event.id) == (100, 100)
    assert await Booking.filter(event_id=event.id, status=BookingStatus.CONFIRMED).count() == 100
    assert (await Event.get(id=event.id)).waitlisted == 100


async def test_twenty_taps_by_one_reader_make_one_booking(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=5)
    (reader,) = await many_readers(1)

    outcomes = await asyncio.gather(*(_attempt(service, reader, event.id) for _ in range(20)))

    assert outcomes == ["confirmed"] * 20
    assert await Booking.filter(event_id=event.id).count() == 1
    assert await _seats_agree(event.id) == (1, 1)


async def test_seats_cancelled_during_the_rush_go_down_the_waiting_list_in_order_once_each(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=50, waitlist_limit=300)
    readers = await many_readers(400)
    early, rush = readers[:50], readers[50:]
    for reader in early:
        assert await _attempt(service, reader, event.id) == "confirmed"
    leaving = random.Random(7).sample(early, 20)
    someone_waits = asyncio.Event()

    async def join(reader: Reader) -> None:
        if await _attempt(service, reader, event.id) == "waitlisted":
            someone_waits.set()

    async def leave(reader: Reader) -> None:
        mine = await Booking.get(event_id=event.id, attendee_id=reader.id)
        await someone_waits.wait()
        await booking.cancel(reader, mine.id, OPENS, POLICY, FullMark(service.redis), BUS)

    await asyncio.gather(*(join(r) for r in rush), *(leave(r) for r in leaving))

    newcomers = Booking.filter(event_id=event.id, attendee_id__in=[r.id for r in rush])
    offered = await newcomers.filter(status=BookingStatus.OFFERED).order_by("id")
    seated = await newcomers.filter(status=BookingStatus.CONFIRMED).count()  # a seat freed before anyone waited
    waiting = await newcomers.filter(status=BookingStatus.WAITLISTED).order_by("id")
    assert len(offered) + seated == 20
    assert offered, "some seats were freed while readers waited"
    # The offers went to the front of the list: nobody still waiting joined it before anyone offered a seat.
    assert max(b.id for b in offered) < min(b.id for b in waiting)
    assert await _seats_agree(event.id) == (50, 50)
    assert (await Event.get(id=event.id)).waitlisted == len(waiting)


async def test_a_redis_restart_in_the_rush_loses_no_booking_and_adds_none(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=100, waitlist_limit=0)
    readers = await many_readers(1000)

    async def restart_redis() -> None:
        for _ in range(3):
            await asyncio.sleep(0)  # let some of the rush through first
        # What a restart does to us: every connection dropped and the memory (the full marks) gone.
        await service.redis.flushall()
        await service.redis.client_kill_filter(_type="normal", skipme=True)

    first, second = readers[:500], readers[500:]
    outcomes = await asyncio.gather(*(_attempt(service, r, event.id) for r in first))
    outcomes += (await asyncio.gather(restart_redis(), *(_attempt(service, r, event.id) for r in second)))[1:]

    assert outcomes.count("confirmed") == 100
    assert outcomes.count("full") == 900
    assert await _seats_agree(event.id) == (100, 100)
