from datetime import UTC, datetime, timedelta
from typing import Any

from backend.accounts.models import StaffRole
from backend.events.models import Booking, BookingStatus
from backend.newborn import enrolment, packs
from backend.newborn.models import ConsentEnd, PackReservation, ReadingLogEntry, ReadingSource
from tests.integration.events.eventing import make_event
from tests.integration.factories import make_staff, staff_headers
from tests.integration.newborn.enrolling import add_hospital, at_ward, enrol, guardian, set_up
from tests.integration.newborn.packing import enrol_children, stage_pack
from tests.integration.newborn.recording import catalogue, family_of, lend_to_child, log_book, tla_desk
from tests.integration.service import BUS, NETWORK_TIME, Service

OCTOBER = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)


async def figures(service: Service, headers: dict[str, str], programme_id: int, kind: str, **params: Any) -> Any:
    answer = await service.client.get(
        f"/staff/newborn/programmes/{programme_id}/figures/{kind}", params=params, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_enrolments_are_counted_by_partner_and_month_withdrawn_ones_included(service: Service) -> None:
    service.clock.freeze_at(OCTOBER)
    setup = await set_up(service)
    at_the_ward = [
        await enrol(service.client, await guardian(service, f"openid-october-{n}"), at_ward(service, setup))
        for n in range(2)
    ]
    (by_app,) = await enrol_children(service, setup, 1)
    await enrolment.end_enrolment(by_app.id, ConsentEnd.WITHDRAWN, OCTOBER, NETWORK_TIME, BUS)
    # Ended, but not withdrawn: still enrolled in the figures, not counted as withdrawn.
    await enrolment.end_enrolment(at_the_ward[0].json()["id"], ConsentEnd.RETENTION, OCTOBER, NETWORK_TIME, BUS)
    await enrolment.end_enrolment(at_the_ward[1].json()["id"], ConsentEnd.CARD_CLOSED, OCTOBER, NETWORK_TIME, BUS)
    service.clock.freeze_at(NOVEMBER)
    county = await add_hospital(
        service,
        await staff_headers(service.client, "admin"),
        setup.programme_id,
        "枞阳县医院",
        "TL-B",
        enroller="zongyang",
    )
    await enrol(service.client, await guardian(service, "openid-november"), at_ward(service, setup))
    county_ward = at_ward(service, setup, code=county.scene)
    await enrol(service.client, await guardian(service, "openid-county"), county_ward)
    admin = await staff_headers(service.client, "admin")
    await make_staff("tlb-librarian", StaffRole.LIBRARIAN, "TL-B")
    county_desk = await staff_headers(service.client, "tlb-librarian")

    everywhere = await figures(service, admin, setup.programme_id, "enrolments")
    november = await figures(service, admin, setup.programme_id, "enrolments", from_month="2026-11")
    at_the_county = await figures(service, county_desk, setup.programme_id, "enrolments")
    path = f"/staff/newborn/programmes/{setup.programme_id}/figures/enrolments"
    backwards = await service.client.get(path, params={"from_month": "2026-11", "to_month": "2026-10"}, headers=admin)
    too_long = await service.client.get(path, params={"from_month": "2023-10", "to_month": "2026-11"}, headers=admin)
    no_month = await service.client.get(path, params={"from_month": "2026-13"}, headers=admin)
    no_programme = await service.client.get("/staff/newborn/programmes/999/figures/enrolments", headers=admin)

    rows = {(f["month"], f["partner"], f["enrolled"], f["withdrawn"]) for f in everywhere["items"]}
    assert rows == {
        ("2026-10", None, 1, 1),
        ("2026-10", "铜陵市妇幼保健院", 2, 0),
        ("2026-11", "枞阳县医院", 1, 0),
        ("2026-11", "铜陵市妇幼保健院", 1, 0),
    }
    assert [f["month"] for f in everywhere["items"]] == ["2026-11", "2026-11", "2026-10", "2026-10"]
    assert everywhere["items"][2]["partner"] is None  # the app before the partners of its month
    assert (everywhere["total"], november["total"]) == (4, 2)
    assert [(f["partner"], f["enrolled"]) for f in at_the_county["items"]] == [("枞阳县医院", 1)]
    assert [backwards.json()["code"], too_long.json()["code"]] == ["newborn_figures_period_invalid"] * 2
    assert no_month.status_code == 400
    assert (no_programme.status_code, no_programme.json()["code"]) == (404, "newborn_programme_not_found")


async def test_packs_reserved_claimed_lapsed_and_given_back_are_counted_from_the_ledger(service: Service) -> None:
    service.clock.freeze_at(OCTOBER)
    setup = await set_up(service)
    admin = setup.admin
    pack_type = await stage_pack(setup)
    await service.client.post(
        "/staff/newborn/pack-stock/receipts",
        json={"library_code": "TL-A", "pack_type_id": pack_type, "quantity": 5},
        headers=admin,
    )
    claimed, lapsed, withdrawn = await enrol_children(service, setup, 3)
    (elsewhere,) = await enrol_children(service, setup, 1, library_code="TL-B")
    parent = (await family_of(service, setup, claimed)).parent
    reservation = await PackReservation.get(enrolment_id=claimed.id)
    code = await service.client.get(f"/readers/me/newborn/packs/{reservation.id}/claim-code", headers=parent.headers)
    await make_staff("tla-desk", StaffRole.LIBRARIAN, "TL-A")
    handed = await service.client.post(
        "/staff/newborn/pack-claims",
        json={"payload": code.json()["payload"]},
        headers=await staff_headers(service.client, "tla-desk"),
    )
    await enrolment.end_enrolment(withdrawn.id, ConsentEnd.WITHDRAWN, OCTOBER, NETWORK_TIME, BUS)
    lapses = (await PackReservation.get(enrolment_id=lapsed.id)).expires_at
    assert await packs.lapse_reservations(lapses) == 2  # and the one at TL-B
    service.clock.freeze_at(lapses + timedelta(days=1))
    admin = await staff_headers(service.client, "admin")
    branch = await staff_headers(service.client, "tla-desk")

    counted = await figures(service, admin, setup.programme_id, "packs")
    at_tla = await figures(service, branch, setup.programme_id, "packs")
    before = await figures(service, admin, setup.programme_id, "packs", to_month="2026-09", from_month="2026-01")

    assert handed.status_code == 200, handed.text
    rows = [
        (f["library"]["code"], f["stage"], f["reserved"], f["claimed"], f["lapsed"], f["cancelled"])
        for f in counted["items"]
    ]
    assert rows == [("TL-A", "0-6个月", 3, 1, 1, 1), ("TL-B", "0-6个月", 1, 0, 1, 0)]
    assert [f["library"]["code"] for f in at_tla["items"]] == ["TL-A"]
    assert before["items"] == [] and elsewhere.library_id != claimed.library_id


async def test_families_active_in_the_last_90_days_borrowed_logged_or_attended(service: Service) -> None:
    setup = await set_up(service)
    await catalogue()
    desk = await tla_desk(service)
    logged, borrowed, attended, quiet = await enrol_children(service, setup, 4)
    (county,) = await enrol_children(service, setup, 1, library_code="TL-B")
    now = service.clock.now()
    for enrolled in (logged, county):
        family = await family_of(service, setup, enrolled)
        assert (await log_book(service, family, title="这周读的书")).status_code == 201
    lender = await family_of(service, setup, borrowed)
    await lend_to_child(service, desk, lender.parent, borrowed.child_id, "9787533258931-1")
    event = await make_event(starts_at=now - timedelta(days=10), ends_at=now - timedelta(days=10, hours=-1))
    await Booking.create(
        event=event,
        attendee_id=attended.child_id,
        booked_by_id=attended.guardian_id,
        seats=2,
        status=BookingStatus.CHECKED_IN,
        created_at=now - timedelta(days=20),
        checked_in_at=now - timedelta(days=10),
    )
    await ReadingLogEntry.create(
        enrolment_id=quiet.id,
        source=ReadingSource.FREE_TEXT,
        title="很久以前读的",
        read_on=NETWORK_TIME.day(now - timedelta(days=100)),
        created_at=now - timedelta(days=100),
    )

    counted = await figures(service, setup.admin, setup.programme_id, "families")
    at_tla = await figures(service, desk, setup.programme_id, "families")

    assert [(f["library"]["code"], f["families"], f["active"]) for f in counted["items"]] == [
        ("TL-A", 4, 3),
        ("TL-B", 1, 1),
    ]
    assert [f["library"]["code"] for f in at_tla["items"]] == ["TL-A"]


async def test_a_pack_claimed_at_another_library_counts_once_at_the_familys_library(service: Service) -> None:
    service.clock.freeze_at(OCTOBER)
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    home_claimed, branch_claimed = await enrol_children(service, setup, 2)
    await make_staff("tla-desk", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("branch-desk", StaffRole.LIBRARIAN, "TL-A-1")
    home, branch = await staff_headers(service.client, "tla-desk"), await staff_headers(service.client, "branch-desk")
    for library in ("TL-A", "TL-A-1"):
        received = await service.client.post(
            "/staff/newborn/pack-stock/receipts",
            json={"library_code": library, "pack_type_id": pack_type, "quantity": 2},
            headers=setup.admin,
        )
        assert received.status_code == 201, received.text
    handed = []
    for enrolled, desk in ((home_claimed, home), (branch_claimed, branch)):
        parent = (await family_of(service, setup, enrolled)).parent
        reservation = await PackReservation.get(enrolment_id=enrolled.id)
        code = await service.client.get(
            f"/readers/me/newborn/packs/{reservation.id}/claim-code", headers=parent.headers
        )
        handed.append(
            await service.client.post(
                "/staff/newborn/pack-claims", json={"payload": code.json()["payload"]}, headers=desk
            )
        )

    counted = await figures(service, setup.admin, setup.programme_id, "packs")

    assert [h.status_code for h in handed] == [200, 200], [h.text for h in handed]
    rows = [
        (f["library"]["code"], f["stage"], f["reserved"], f["claimed"], f["lapsed"], f["cancelled"])
        for f in counted["items"]
    ]
    assert rows == [("TL-A", "0-6个月", 2, 2, 0, 0)]
