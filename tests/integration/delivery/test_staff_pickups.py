"""A courier pickup of books going back, on the library's side: the paid pickups waiting for a courier, the address
to book it with (logged), the courier sent, and its reports following the books to the library."""

from __future__ import annotations

from datetime import timedelta

from backend.counter.models import LookupAction, ReaderLookup
from backend.delivery.models import PickupState, ReturnPickup
from tests.integration.delivery.conftest import Delivery
from tests.integration.delivery.staff_fixtures import COURIER, courier, desk_at
from tests.integration.delivery.test_delivery_api import ADDRESS, App


async def test_a_paid_pickup_gets_its_courier_and_is_received_at_the_library(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("pickup-reader")
    app, client = App(delivery, reader), delivery.service.client
    sf = await courier(delivery)
    branch_a = await desk_at(delivery, "desk-a", "TL-A")
    branch_b = await desk_at(delivery, "desk-b", "TL-B")
    pickup = (await app.post("/pickups", {"books": 2, "library_code": "TL-A", "address": ADDRESS})).json()
    unpaid = (await app.post("/pickups", {"books": 1, "library_code": "TL-A", "address": ADDRESS})).json()
    await delivery.pay(reader, pickup["charge_id"])
    path = f"/staff/delivery/pickups/{pickup['id']}"

    waiting = (await client.get("/staff/delivery/pickups", headers=branch_a)).json()
    elsewhere = (await client.get("/staff/delivery/pickups", headers=branch_b)).json()
    foreign_label = await client.get(f"{path}/label", headers=branch_b)
    label = (await client.get(f"{path}/label", headers=branch_a)).json()
    unpaid_sent = await client.post(
        f"/staff/delivery/pickups/{unpaid['id']}/courier",
        json={"courier_code": COURIER, "tracking_no": "SF0000000001"},
        headers=branch_a,
    )
    sent = await client.post(
        f"{path}/courier", json={"courier_code": COURIER, "tracking_no": "SF100200"}, headers=branch_a
    )
    cancelled_after = await app.post(f"/pickups/{pickup['id']}/cancel")
    now = delivery.service.clock.now()
    collected = await sf.report("SF100200", "in_transit", now)
    arrived = await sf.report("SF100200", "delivered", now + timedelta(seconds=1))
    mine = (await app.get("/pickups")).json()["items"]

    assert [p["id"] for p in waiting["items"]] == [pickup["id"]] and elsewhere["items"] == []
    assert foreign_label.json()["code"] == "outside_staff_scope"
    assert (label["recipient"], label["phone"], label["address"]) == (
        ADDRESS["recipient"],
        ADDRESS["phone"],
        ADDRESS["address"],
    )
    assert await ReaderLookup.filter(action=LookupAction.LABEL).count() == 1
    assert (unpaid_sent.status_code, unpaid_sent.json()["code"]) == (409, "return_pickup_not_booked")
    assert (sent.status_code, sent.json()["state"], sent.json()["tracking_no"]) == (200, "collected", "SF100200")
    assert cancelled_after.json()["code"] == "return_pickup_not_cancellable"
    assert collected.json()["result"] == arrived.json()["result"] == "applied"
    assert {p["id"]: p["state"] for p in mine}[pickup["id"]] == "received"
    assert (await ReturnPickup.get(id=pickup["id"])).state is PickupState.RECEIVED
