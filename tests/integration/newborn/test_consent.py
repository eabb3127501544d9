from datetime import UTC, datetime

from tortoise import connections

from backend.accounts.models import Reader
from backend.eventbus import EventBus
from backend.newborn import enrolment as newborn
from backend.newborn.domain_events import ConsentWithdrawn
from backend.newborn.models import (
    Consent,
    ConsentEnd,
    Enrolment,
    Milestone,
    PackReservation,
    ReadingLogEntry,
    ReadingSource,
)
from tests.integration.newborn.enrolling import at_ward, enrol, guardian, set_up, today
from tests.integration.service import NETWORK_TIME, Service

# Every programme table that holds something of a child, and the column naming the enrolment.
CHILD_TABLES = ("newborn_enrolment", "pack_reservation", "newborn_reading", "newborn_milestone")


async def enrolled_with_a_record(service: Service, openid: str) -> tuple[dict[str, str], int]:
    """A guardian's child enrolled, with its first stage's pack reserved (at enrolment), a book logged and a milestone
    reached: the tables the other parts of the programme fill."""
    setup = await set_up(service)
    parent = await guardian(service, openid)
    enrolment_id = (await enrol(service.client, parent, at_ward(service, setup))).json()["id"]
    enrolment = await Enrolment.get(id=enrolment_id)
    assert await PackReservation.filter(enrolment=enrolment).count() == 1
    now = service.clock.now()
    await ReadingLogEntry.create(
        enrolment=enrolment, source=ReadingSource.FREE_TEXT, title="小熊很忙", read_on=today(service), created_at=now
    )
    await Milestone.create(enrolment=enrolment, books=10, reached_at=now)
    return parent.headers, enrolment_id


async def rows_of(enrolment_id: int) -> dict[str, int]:
    conn = connections.get("default")
    counts = {}
    for table in CHILD_TABLES:
        column = "id" if table == "newborn_enrolment" else "enrolment_id"
        rows = await conn.execute_query_dict(f"SELECT count(*) AS n FROM {table} WHERE {column} = $1", [enrolment_id])
        counts[table] = rows[0]["n"]
    return counts


async def test_withdrawn_consent_leaves_no_personal_data_of_the_child_in_the_programme_tables(service: Service) -> None:
    headers, enrolment_id = await enrolled_with_a_record(service, "openid-withdraws")
    child_id = (await Enrolment.get(id=enrolment_id)).child_id
    before = await rows_of(enrolment_id)

    withdrawn = await service.client.delete(f"/readers/me/newborn/enrolments/{enrolment_id}", headers=headers)
    again = await service.client.delete(f"/readers/me/newborn/enrolments/{enrolment_id}", headers=headers)

    assert before == dict.fromkeys(CHILD_TABLES, 1)
    assert withdrawn.status_code == 204 and again.status_code == 404
    assert await rows_of(enrolment_id) == dict.fromkeys(CHILD_TABLES, 0)
    consent = await Consent.get()
    assert consent.ended_by is ConsentEnd.WITHDRAWN and consent.ended_at is not None
    tally = await connections.get("default").execute_query_dict(
        "SELECT enrolled, withdrawn FROM newborn_enrolment_tally"
    )
    assert tally == [{"enrolled": 1, "withdrawn": 1}]
    assert await Reader.filter(id=child_id).exists()  # the card follows its own closing rules
    consents = (await service.client.get("/readers/me/newborn/consents", headers=headers)).json()["items"]
    assert [(c["version"], c["ended_by"]) for c in consents] == [(1, "withdrawn")]


async def test_removing_the_child_card_ends_its_enrolment_by_the_same_rules(service: Service) -> None:
    headers, enrolment_id = await enrolled_with_a_record(service, "openid-closes-card")
    child_id = (await Enrolment.get(id=enrolment_id)).child_id

    removed = await service.client.delete(f"/readers/me/children/{child_id}", headers=headers)

    assert removed.status_code == 204
    assert await rows_of(enrolment_id) == dict.fromkeys(CHILD_TABLES, 0)
    assert (await Consent.get()).ended_by is ConsentEnd.CARD_CLOSED
    assert (await service.client.get("/readers/me/newborn/enrolments", headers=headers)).json()["items"] == []


async def test_consent_withdrawn_is_handled_while_the_enrolment_is_still_there(service: Service) -> None:
    _, enrolment_id = await enrolled_with_a_record(service, "openid-retention")
    bus = EventBus()
    seen: list[tuple[ConsentWithdrawn, int]] = []

    async def reservations_left(event: ConsentWithdrawn) -> None:
        seen.append((event, await PackReservation.filter(enrolment_id=event.enrolment_id).count()))

    bus.subscribe(ConsentWithdrawn, reservations_left)
    await newborn.end_enrolment(enrolment_id, ConsentEnd.RETENTION, datetime.now(UTC), NETWORK_TIME, bus)

    assert [(event.enrolment_id, event.reason, left) for event, left in seen] == [
        (enrolment_id, ConsentEnd.RETENTION, 1)
    ]
    assert await rows_of(enrolment_id) == dict.fromkeys(CHILD_TABLES, 0)
