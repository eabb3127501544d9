from datetime import datetime, timedelta

import pytest

from backend.accounts.models import StaffRole
from backend.newborn import packs, stages
from backend.newborn.models import Enrolment, PackReservation, ReservationStatus, StockMovement
from backend.newborn.pack_errors import PacksOutOfStock
from notifications.models import Notice
from tests.integration.factories import staff_headers
from tests.integration.newborn.enrolling import at_ward, enrol, guardian, set_up
from tests.integration.newborn.packing import deps, desk, enrol_children, ledger_agrees, stage_pack, stock_of
from tests.integration.service import BUS, NETWORK_TIME, Service


async def test_enrolling_reserves_the_stage_pack_at_the_familys_library_and_tells_the_family(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-pack-mum")
    now = service.clock.now()

    enrolled = await enrol(service.client, parent, at_ward(service, setup))
    mine = await service.client.get("/readers/me/newborn/packs", headers=parent.headers)
    shortfalls = await service.client.get("/staff/newborn/pack-shortfalls", headers=setup.admin)

    assert enrolled.status_code == 201, enrolled.text
    assert mine.status_code == 200, mine.text
    (pack,) = mine.json()["items"]
    assert (pack["stage"], pack["library"]["code"], pack["status"]) == ("0-6个月", "TL-A", "reserved")
    assert (pack["enrolment_id"], pack["child_name"]) == (enrolled.json()["id"], "小宝")
    assert datetime.fromisoformat(pack["expires_at"]) == packs.lapses_at(NETWORK_TIME, now, 60)
    pack_type = await stage_pack(setup)
    assert await stock_of("TL-A", pack_type) == (0, 1)
    assert [
        (s["library"]["code"], s["on_hand"], s["reserved"], s["shortfall"]) for s in shortfalls.json()["items"]
    ] == [("TL-A", 0, 1, 1)]
    notice = await Notice.get(reader__openid="openid-pack-mum")
    assert notice.title == "阅读礼包已为宝宝预留" and "铜官区图书馆" in notice.body and "小宝" not in notice.body
    assert notice.link == f"pack={pack['id']}"
    assert await ledger_agrees()


async def test_staff_receive_adjust_and_transfer_packs_in_their_own_libraries(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    await desk("tla-admin", "TL-A", StaffRole.LIBRARY_ADMIN)
    staff = await staff_headers(service.client, "tla-admin")
    place = {"library_code": "TL-A", "pack_type_id": pack_type}

    received = await service.client.post(
        "/staff/newborn/pack-stock/receipts", json={**place, "quantity": 10, "reason": "配送单 0042"}, headers=staff
    )
    counted = await service.client.post(
        "/staff/newborn/pack-stock/adjustments", json={**place, "change": -3, "reason": "盘点缺少"}, headers=staff
    )
    too_many = await service.client.post(
        "/staff/newborn/pack-stock/adjustments", json={**place, "change": -8, "reason": "破损"}, headers=staff
    )
    no_reason = await service.client.post(
        "/staff/newborn/pack-stock/adjustments", json={**place, "change": -1, "reason": ""}, headers=staff
    )
    sent = await service.client.post(
        "/staff/newborn/pack-stock/transfers",
        json={"from_library_code": "TL-A", "to_library_code": "TL-A-1", "pack_type_id": pack_type, "quantity": 2},
        headers=staff,
    )
    elsewhere = await service.client.post(
        "/staff/newborn/pack-stock/transfers",
        json={"from_library_code": "TL-A", "to_library_code": "TL-B", "pack_type_id": pack_type, "quantity": 1},
        headers=staff,
    )
    not_mine = await service.client.post(
        "/staff/newborn/pack-stock/receipts", json={**place, "library_code": "TL-B", "quantity": 1}, headers=staff
    )
    stock = await service.client.get("/staff/newborn/pack-stock", headers=staff)
    ledger = await service.client.get("/staff/newborn/libraries/TL-A/pack-movements", headers=staff)

    assert received.status_code == 201, received.text
    assert (received.json()["on_hand"], counted.json()["on_hand"]) == (10, 7)
    assert (too_many.status_code, too_many.json()["code"]) == (409, "pack_stock_too_low")
    assert no_reason.status_code == 400
    assert sent.status_code == 201, sent.text
    assert (sent.json()["source"]["on_hand"], sent.json()["target"]["on_hand"]) == (5, 2)
    assert (elsewhere.json()["code"], not_mine.json()["code"]) == ("outside_staff_scope", "outside_staff_scope")
    assert [(s["library"]["code"], s["on_hand"]) for s in stock.json()["items"]] == [("TL-A", 5), ("TL-A-1", 2)]
    assert [(m["kind"], m["on_hand_change"], m["reason"]) for m in ledger.json()["items"]] == [
        ("transfer", -2, ""),
        ("adjust", -3, "盘点缺少"),
        ("receive", 10, "配送单 0042"),
    ]
    assert ledger.json()["items"][0]["counterpart"]["code"] == "TL-A-1"
    assert await ledger_agrees()


async def test_a_family_collects_its_pack_once_with_the_claim_code(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-collects")
    await enrol(service.client, parent, at_ward(service, setup))
    pack_type = await stage_pack(setup)
    await desk("tla-desk", "TL-A")
    staff = await staff_headers(service.client, "tla-desk")
    await service.client.post(
        "/staff/newborn/pack-stock/receipts",
        json={"library_code": "TL-A", "pack_type_id": pack_type, "quantity": 5},
        headers=staff,
    )
    (pack,) = (await service.client.get("/readers/me/newborn/packs", headers=parent.headers)).json()["items"]

    image = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}/claim-code.png", headers=parent.headers)
    payload = image.headers["X-Claim-Payload"]
    forged = payload[:-2] + ("AA" if not payload.endswith("AA") else "BB")
    refused_forgery = await service.client.post("/staff/newborn/pack-claims", json={"payload": forged}, headers=staff)
    claimed = await service.client.post("/staff/newborn/pack-claims", json={"payload": payload}, headers=staff)
    replayed = await service.client.post("/staff/newborn/pack-claims", json={"payload": payload}, headers=staff)
    fresh = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}/claim-code", headers=parent.headers)
    mine = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}", headers=parent.headers)

    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    assert refused_forgery.json()["code"] == "pack_claim_code_invalid"
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["status"], claimed.json()["claimed_library"]["code"]) == ("claimed", "TL-A")
    assert claimed.json()["pack_type"]["id"] == pack_type and "child_name" not in claimed.json()
    assert replayed.json()["code"] == "pack_claim_code_replayed"
    assert fresh.json()["code"] == "pack_already_claimed"
    assert mine.json()["status"] == "claimed"
    assert await stock_of("TL-A", pack_type) == (4, 0)
    assert await StockMovement.filter(kind="claim").count() == 1
    assert await ledger_agrees()


async def test_an_expired_claim_code_hands_out_nothing(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-slow")
    await enrol(service.client, parent, at_ward(service, setup))
    await desk("tla-desk", "TL-A")
    (pack,) = (await service.client.get("/readers/me/newborn/packs", headers=parent.headers)).json()["items"]
    code = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}/claim-code", headers=parent.headers)

    service.clock.advance(service.settings.security.card_payload_ttl_seconds + 1)
    staff = await staff_headers(service.client, "tla-desk")
    late = await service.client.post(
        "/staff/newborn/pack-claims", json={"payload": code.json()["payload"]}, headers=staff
    )

    assert late.json()["code"] == "pack_claim_code_expired"
    assert (await PackReservation.get(id=pack["id"])).status is ReservationStatus.RESERVED


async def test_a_guardian_sees_and_claims_only_their_own_childrens_packs(service: Service) -> None:
    setup = await set_up(service)
    mum = await guardian(service, "openid-own-mum")
    other = await guardian(service, "openid-other", phone="13900139000")
    enrolled = await enrol(service.client, mum, at_ward(service, setup))
    (pack,) = (await service.client.get("/readers/me/newborn/packs", headers=mum.headers)).json()["items"]

    listed = await service.client.get("/readers/me/newborn/packs", headers=other.headers)
    by_enrolment = await service.client.get(
        "/readers/me/newborn/packs", params={"enrolment_id": enrolled.json()["id"]}, headers=other.headers
    )
    one = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}", headers=other.headers)
    code = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}/claim-code", headers=other.headers)
    image = await service.client.get(f"/readers/me/newborn/packs/{pack['id']}/claim-code.png", headers=other.headers)
    absurd = await service.client.get(
        "/readers/me/newborn/packs", params={"enrolment_id": 2**31}, headers=other.headers
    )

    assert listed.status_code == 200 and listed.json()["items"] == []
    assert by_enrolment.json()["code"] == "newborn_enrolment_not_found"
    assert [r.json()["code"] for r in (one, code, image)] == ["pack_reservation_not_found"] * 3
    assert absurd.status_code == 400


async def test_another_library_hands_the_pack_over_only_from_packs_it_has_to_spare(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    (away,) = await enrol_children(service, setup, 1, library_code="TL-A")
    (local,) = await enrol_children(service, setup, 1, library_code="TL-A-1")
    branch = await desk("branch-desk", "TL-A-1")
    now = service.clock.now()
    await packs.receive_stock(branch, "TL-A-1", pack_type, 1, "", now)
    claims = deps(service).pack_claims
    reservation = await PackReservation.get(enrolment_id=away.id)

    with pytest.raises(PacksOutOfStock):  # its one pack is promised to its own family
        await packs.claim(claims, branch, claims.issue(str(reservation.id), now).text, None, now)
    await packs.receive_stock(branch, "TL-A-1", pack_type, 1, "", now)
    claimed = await packs.claim(claims, branch, claims.issue(str(reservation.id), now).text, None, now)

    assert (claimed.library.code, claimed.claimed_library.code) == ("TL-A", "TL-A-1")
    assert await stock_of("TL-A-1", pack_type) == (1, 1)  # the other pack still waits for its own family
    assert await stock_of("TL-A", pack_type) == (0, 0)
    assert (await PackReservation.get(enrolment_id=local.id)).status is ReservationStatus.RESERVED
    assert await ledger_agrees()


async def test_packs_not_collected_by_their_last_day_lapse_back_to_stock(service: Service) -> None:
    setup = await set_up(service)
    pack_type = await stage_pack(setup)
    (enrolled,) = await enrol_children(service, setup, 1)
    reservation = await PackReservation.get(enrolment_id=enrolled.id)

    on_the_last_day = await packs.lapse_reservations(reservation.expires_at - timedelta(seconds=1))
    lapsed = await packs.lapse_reservations(reservation.expires_at)
    again = await packs.lapse_reservations(reservation.expires_at + timedelta(days=1))

    assert (on_the_last_day, lapsed, again) == (0, 1, 0)
    assert (await PackReservation.get(id=reservation.id)).status is ReservationStatus.LAPSED
    assert await stock_of("TL-A", pack_type) == (0, 0)
    assert await StockMovement.filter(kind="lapse", reservation_id=reservation.id).count() == 1
    assert await ledger_agrees()


async def test_the_daily_job_moves_children_into_their_next_stage_and_reserves_its_pack(service: Service) -> None:
    setup = await set_up(service)
    today = NETWORK_TIME.day(service.clock.now())
    (growing,) = await enrol_children(service, setup, 1, born=today - timedelta(days=170))
    (leaving,) = await enrol_children(service, setup, 1, born=today - timedelta(days=1080))
    (young,) = await enrol_children(service, setup, 1)
    later = service.clock.now() + timedelta(days=20)

    moved = await stages.move_children(later, NETWORK_TIME, BUS)
    again = await stages.move_children(later, NETWORK_TIME, BUS)

    assert (moved, again) == (2, 0)
    growing_now = await Enrolment.get(id=growing.id).select_related("stage")
    assert growing_now.stage is not None and growing_now.stage.name == "6-18个月"
    assert (await Enrolment.get(id=leaving.id)).stage_id is None  # past 36 months: no stage, no pack
    assert (await Enrolment.get(id=young.id)).stage_id == young.stage_id
    reserved = await PackReservation.filter(enrolment_id=growing.id).order_by("id").select_related("stage")
    assert [(r.stage.name, r.library_id) for r in reserved] == [
        ("0-6个月", growing.library_id),
        ("6-18个月", growing.library_id),
    ]
    assert reserved[1].expires_at == packs.lapses_at(NETWORK_TIME, later, 60)
    assert await stock_of("TL-A", await stage_pack(setup, 1)) == (0, 1)
    assert await PackReservation.filter(enrolment_id=leaving.id).count() == 1
    assert await Notice.filter(reader_id=growing.guardian_id).count() == 2
    assert await ledger_agrees()


async def test_withdrawing_consent_gives_the_reserved_packs_back_and_forgets_their_notices(service: Service) -> None:
    setup = await set_up(service)
    parent = await guardian(service, "openid-withdraws-pack")
    enrolled = await enrol(service.client, parent, at_ward(service, setup))
    pack_type = await stage_pack(setup)
    reservation = await PackReservation.get(enrolment_id=enrolled.json()["id"])

    withdrawn = await service.client.delete(
        f"/readers/me/newborn/enrolments/{enrolled.json()['id']}", headers=parent.headers
    )

    assert withdrawn.status_code == 204, withdrawn.text
    assert await stock_of("TL-A", pack_type) == (0, 0)
    cancel = await StockMovement.get(kind="cancel")
    assert (cancel.reserved_change, cancel.reason, cancel.reservation_id) == (-1, "withdrawn", None)
    assert not await PackReservation.exists(id=reservation.id)
    assert not await Notice.filter(reader__openid="openid-withdraws-pack", link__startswith="pack=").exists()
    assert await ledger_agrees()
