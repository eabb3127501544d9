"""Gift packs as their tests set them up: the programme of `enrolling.set_up` (its default stages each hand out a pack
type of their own), children enrolled through the enrolment service, and desks at the libraries."""

from datetime import date, timedelta

from tortoise import connections

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.newborn import enrolment
from backend.newborn.enrolment import EnrolmentRequest
from backend.newborn.models import Enrolment, PackStock, Stage
from entrypoints.bootstrap import Dependencies
from tests.integration.factories import make_staff
from tests.integration.newborn.enrolling import Setup
from tests.integration.service import BUS, NETWORK_TIME, Service


def deps(service: Service) -> Dependencies:
    dependencies: Dependencies = service.app.state.deps
    return dependencies


async def stage_pack(setup: Setup, stage: int = 0) -> int:
    """The pack type of the programme's stage (0: the youngest)."""
    stages = await Stage.filter(programme_id=setup.programme_id).order_by("min_age_months")
    return stages[stage].pack_type_id


async def desk(username: str, library_code: str, role: StaffRole = StaffRole.LIBRARIAN) -> StaffUser:
    await make_staff(username, role, library_code)
    return await StaffUser.get(username=username).select_related("library")


async def enrol_children(
    service: Service, setup: Setup, count: int, *, library_code: str = "TL-A", born: date | None = None
) -> list[Enrolment]:
    """`count` families enrolled in the app, collecting at `library_code`, each child born ten days ago unless
    `born`; each guardian has a bound phone."""
    now = service.clock.now()
    first = await Reader.all().count()
    made = []
    for i in range(first, first + count):
        guardian = await Reader.create(card_number=f"9{i:011d}", openid=f"pack-parent-{i}", phone_encrypted=b"phone")
        request = EnrolmentRequest(
            code=None,
            programme_id=setup.programme_id,
            library_code=library_code,
            child_id=None,
            child_name=f"宝宝{i}",
            born=born or NETWORK_TIME.day(now) - timedelta(days=10),
            consent_version=setup.consent_version,
            consent=True,
        )
        made.append(
            await enrolment.enrol(
                guardian,
                request,
                keys=deps(service).keys,
                card_prefix=service.settings.network.card_prefix,
                now=now,
                network_time=NETWORK_TIME,
                bus=BUS,
            )
        )
    return made


async def stock_of(library_code: str, pack_type_id: int) -> tuple[int, int]:
    """(on hand, reserved) of a library's pack type; (0, 0) without a row."""
    row = await PackStock.get_or_none(library__code=library_code, pack_type_id=pack_type_id)
    return (row.on_hand, row.reserved) if row else (0, 0)


async def ledger_agrees() -> bool:
    """Every stock row is the sum of its ledger lines, and nothing is negative."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT s.on_hand, s.reserved, coalesce(sum(m.on_hand_change), 0) AS on_hand_lines, "
        "coalesce(sum(m.reserved_change), 0) AS reserved_lines FROM pack_stock s LEFT JOIN pack_movement m "
        "ON m.library_id = s.library_id AND m.pack_type_id = s.pack_type_id GROUP BY s.id"
    )
    return all(
        r["on_hand"] == r["on_hand_lines"] and r["reserved"] == r["reserved_lines"] and r["on_hand"] >= 0 for r in rows
    )
