import asyncio
import json
from datetime import timedelta

from backend.shipping.models import Destination, Shipment, ShipmentState, Step
from backend.shipping.services import steps
from standins.courier import CourierClient
from tests.integration.shipping.conftest import SECRET, Parcels

PROBLEM = "application/problem+json"


async def _state(shipment: Shipment) -> ShipmentState:
    await shipment.refresh_from_db()
    return shipment.state


async def test_a_signed_report_moves_the_parcel_and_the_reader_is_told_it_arrived(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1001")

    on_the_way = await parcels.sf.report("SF1001", "in_transit", parcels.now - timedelta(minutes=30))
    delivered = await parcels.sf.report("SF1001", "delivered", parcels.now, note="本人签收")

    assert on_the_way.status_code == 200 and on_the_way.json() == {"result": "applied"}
    assert delivered.status_code == 200 and delivered.json() == {"result": "applied"}
    await shipment.refresh_from_db()
    assert shipment.state is ShipmentState.DELIVERED
    assert shipment.delivered_at == shipment.closed_at and shipment.closed_at is not None
    assert [(s.state, s.applied, s.note) for s in await steps(shipment.id)] == [
        (ShipmentState.SHIPPED, True, ""),
        (ShipmentState.IN_TRANSIT, True, ""),
        (ShipmentState.DELIVERED, True, "本人签收"),
    ]
    told = {n["title"]: n["body"] for n in await parcels.notices()}
    assert told.keys() == {"包裹已发出", "包裹已签收"}
    assert "顺丰速运" in told["包裹已发出"] and "SF1001" in told["包裹已发出"] and "家门口" in told["包裹已发出"]


async def test_a_parcel_at_a_service_point_tells_the_reader_to_collect_it_there(parcels: Parcels) -> None:
    await parcels.shipped("SF2001", Destination.SERVICE_POINT)

    await parcels.sf.report("SF2001", "delivered", parcels.now)

    told = {n["title"]: n["body"] for n in await parcels.notices()}
    assert "新华书店阅读点" in told["包裹已发出"]
    assert "新华书店阅读点" in told["包裹已到服务点"] and "领取" in told["包裹已到服务点"]


async def test_a_forged_stale_or_unsigned_report_is_refused_and_changes_nothing(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1002")
    body = json.dumps(
        {"report_id": "r1", "tracking_no": "SF1002", "status": "delivered", "occurred_at": parcels.now.isoformat()}
    ).encode()
    now = int(parcels.now.timestamp())

    refused = [
        await parcels.sf.send(body, secret="not-the-secret-0123456789abcdefghijklmn"),
        await parcels.sf.send(body, timestamp=now - 301),
        await parcels.sf.send(body, timestamp=now + 301),
        await parcels.service.client.post("/couriers/sf/reports", content=body),
        await parcels.service.client.post(
            "/couriers/sf/reports",
            content=body,
            headers={"X-Courier-Timestamp": str(now), "X-Courier-Signature": "ff" * 32},
        ),
    ]
    another_courier = CourierClient(parcels.service.client, "ems", SECRET, clock=parcels.service.clock.now)
    refused.append(await another_courier.send(body))

    for response in refused:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["code"] == "courier_signature_invalid"
    assert await _state(shipment) is ShipmentState.SHIPPED
    assert await Step.filter(shipment_id=shipment.id).count() == 1
    assert [n["title"] for n in await parcels.notices()] == ["包裹已发出"]
    accepted = await parcels.sf.send(body, timestamp=now - 299)
    assert accepted.json() == {"result": "applied"}


async def test_a_report_sent_twice_is_answered_as_a_repeat_and_applied_once(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1003")

    first = await parcels.sf.report("SF1003", "delivered", parcels.now, report_id="push-77")
    again = await parcels.sf.report("SF1003", "delivered", parcels.now, report_id="push-77")

    assert first.json() == {"result": "applied"}
    assert again.status_code == 200 and again.json() == {"result": "repeated"}
    assert await Step.filter(shipment_id=shipment.id, state=ShipmentState.DELIVERED).count() == 1
    assert [n["title"] for n in await parcels.notices()].count("包裹已签收") == 1


async def test_a_report_older_than_the_parcel_state_is_kept_but_changes_nothing(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1004")

    delivered = await parcels.sf.report("SF1004", "delivered", parcels.now - timedelta(minutes=5))
    late = await parcels.sf.report("SF1004", "in_transit", parcels.now - timedelta(minutes=40))
    backwards = await parcels.sf.report("SF1004", "out_for_delivery", parcels.now)

    assert [r.json()["result"] for r in (delivered, late, backwards)] == ["applied", "late", "ignored"]
    assert await _state(shipment) is ShipmentState.DELIVERED
    assert [(s.state, s.applied) for s in await steps(shipment.id)] == [
        (ShipmentState.SHIPPED, True),
        (ShipmentState.IN_TRANSIT, False),
        (ShipmentState.DELIVERED, True),
        (ShipmentState.OUT_FOR_DELIVERY, False),
    ]


async def test_a_failed_delivery_comes_back_or_is_delivered_by_a_later_attempt(parcels: Parcels) -> None:
    returned = await parcels.shipped("SF1005")
    second_try = await parcels.shipped("SF1006")
    at = parcels.now - timedelta(minutes=30)

    results = [
        await parcels.sf.report("SF1005", "returned", at),  # not failed first: it cannot be on its way back
        await parcels.sf.report("SF1005", "failed", at),
        await parcels.sf.report("SF1005", "delivered", at + timedelta(minutes=10)),
        await parcels.sf.report("SF1005", "returned", at + timedelta(minutes=20)),
        await parcels.sf.report("SF1006", "failed", at),
        await parcels.sf.report("SF1006", "delivered", at + timedelta(minutes=10)),
        await parcels.sf.report("SF1006", "returned", at + timedelta(minutes=20)),
    ]

    assert [r.json()["result"] for r in results] == [
        "ignored",
        "applied",
        "applied",
        "ignored",
        "applied",
        "applied",
        "ignored",
    ]
    assert await _state(returned) is ShipmentState.DELIVERED
    assert await _state(second_try) is ShipmentState.DELIVERED


async def test_a_parcel_that_could_not_be_delivered_is_returned_and_the_reader_told(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1007")

    await parcels.sf.report("SF1007", "failed", parcels.now - timedelta(minutes=10), note="电话无人接听")
    await parcels.sf.report("SF1007", "returned", parcels.now)

    await shipment.refresh_from_db()
    assert shipment.state is ShipmentState.RETURNED and shipment.closed_at is not None
    assert shipment.delivered_at is None
    assert {n["title"] for n in await parcels.notices()} == {"包裹已发出", "包裹未能送达"}


async def test_an_unknown_parcel_a_malformed_report_or_one_from_the_future_is_refused(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1008")
    malformed = [
        b"{not json",
        json.dumps({"report_id": "r", "tracking_no": "SF1008", "status": "teleported", "occurred_at": "x"}).encode(),
        json.dumps({"report_id": "r" * 65, "tracking_no": "SF1008", "status": "delivered"}).encode(),
        json.dumps(
            {"report_id": "r", "tracking_no": "SF1008", "status": "delivered", "occurred_at": "2026-12-01T10:00:00"}
        ).encode(),
        json.dumps(
            {"report_id": "r", "tracking_no": "SF1008", "status": "shipped", "occurred_at": parcels.now.isoformat()}
        ).encode(),
    ]

    unknown = await parcels.sf.report("SF9999", "delivered", parcels.now)
    bad = [await parcels.sf.send(body) for body in malformed]
    huge = await parcels.sf.send(b'{"note": "' + b"x" * 5000 + b'"}')
    future = await parcels.sf.report("SF1008", "delivered", parcels.now + timedelta(hours=1))

    assert unknown.status_code == 404 and unknown.json()["code"] == "shipment_not_found"
    assert [r.status_code for r in bad] == [400] * len(malformed)
    assert all(r.headers["content-type"].startswith(PROBLEM) for r in bad)
    assert huge.status_code == 413
    assert future.status_code == 422 and future.json()["code"] == "report_time_invalid"
    assert await _state(shipment) is ShipmentState.SHIPPED
    assert await Step.filter(shipment_id=shipment.id).count() == 1


async def test_a_report_and_its_retry_and_an_older_one_at_once_leave_one_delivery(parcels: Parcels) -> None:
    shipments = [await parcels.shipped(f"SF3{n:03d}") for n in range(6)]
    delivered_at, in_transit_at = parcels.now - timedelta(minutes=1), parcels.now - timedelta(minutes=20)

    answers = await asyncio.gather(
        *(
            report
            for s in shipments
            for report in (
                parcels.sf.report(str(s.tracking_no), "delivered", delivered_at, report_id=f"d-{s.id}"),
                parcels.sf.report(str(s.tracking_no), "delivered", delivered_at, report_id=f"d-{s.id}"),
                parcels.sf.report(str(s.tracking_no), "in_transit", in_transit_at, report_id=f"t-{s.id}"),
            )
        )
    )

    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    for n, shipment in enumerate(shipments):
        delivered, retried, older = (a.json()["result"] for a in answers[3 * n : 3 * n + 3])
        assert sorted([delivered, retried]) == ["applied", "repeated"]
        assert older in ("applied", "late")  # before the delivery or after it: either way it does not undo it
        assert await _state(shipment) is ShipmentState.DELIVERED
        assert await Step.filter(shipment_id=shipment.id, state=ShipmentState.DELIVERED).count() == 1
    assert [n["title"] for n in await parcels.notices()].count("包裹已签收") == len(shipments)


async def test_a_retired_courier_reports_are_refused(parcels: Parcels) -> None:
    shipment = await parcels.shipped("SF1009")
    parcels.courier.active = False
    await parcels.courier.save(update_fields=["active"])

    response = await parcels.sf.report("SF1009", "delivered", parcels.now)

    assert response.status_code == 401 and response.json()["code"] == "courier_signature_invalid"
    assert await _state(shipment) is ShipmentState.SHIPPED


async def test_one_report_id_arriving_for_two_parcels_at_once_is_stored_once_and_never_a_server_error(
    parcels: Parcels,
) -> None:
    first, second = await parcels.shipped("SF4001"), await parcels.shipped("SF4002")
    at = parcels.now - timedelta(minutes=1)

    answers = await asyncio.gather(
        *(
            parcels.sf.report(str(s.tracking_no), "in_transit", at, report_id="reused-id")
            for _ in range(4)
            for s in (first, second)
        )
    )

    codes = [a.status_code if a.status_code != 200 else a.json()["result"] for a in answers]
    assert set(codes) <= {"applied", "repeated", 409}, [a.text for a in answers]
    assert all(a.json()["code"] == "courier_report_conflict" for a in answers if a.status_code == 409)
    assert await Step.filter(report_id="reused-id").count() == 1
