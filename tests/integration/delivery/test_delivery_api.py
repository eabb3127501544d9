from typing import Any

import httpx

from backend.catalog.models import Copy, CopyStatus
from backend.money.models import Refund, RefundState, Settlement, SettlementKind
from tests.integration.delivery.conftest import Delivery
from tests.integration.factories import LoggedIn

ADDRESS = {"recipient": "李四", "phone": "13912345678", "address": "安徽省铜陵市铜官区长江西路 8 号"}


class App:
    def __init__(self, delivery: Delivery, reader: LoggedIn) -> None:
        self.client, self.headers = delivery.service.client, reader.headers

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"/readers/me/delivery{path}", headers=self.headers)

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(f"/readers/me/delivery{path}", json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(f"/readers/me/delivery{path}", headers=self.headers)


async def test_a_reader_fills_the_basket_and_orders_it_to_a_service_point(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("basket-reader")
    app = App(delivery, reader)
    ids = {title: delivery.titles[title].id for title in ("三体", "围城", "边城")}

    added = [await app.post("/basket", {"record_id": record_id}) for record_id in ids.values()]
    again = await app.post("/basket", {"record_id": ids["三体"]})
    removed = await app.delete(f"/basket/{ids['边城']}")
    listed = await app.get("/basket")
    placed = await app.post("/orders", {"destination": "service_point", "pickup_library_code": "TL-A-1"})
    emptied = await app.get("/basket")

    assert [a.status_code for a in added] == [201, 201, 201]
    assert again.status_code == 201
    assert removed.status_code == 204
    assert [(i["title"], i["orderable"]) for i in listed.json()["items"]] == [("围城", 1), ("三体", 3)]
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert (order["state"], order["destination"], order["fee_fen"], order["charge_id"]) == (
        "picking",
        "service_point",
        0,
        None,
    )
    assert order["pickup_library"] == {"code": "TL-A-1", "name": "新华书店阅读点"}
    assert [(line["title"], line["barcode"], line["library"]["code"], line["state"]) for line in order["lines"]] == [
        ("三体", "T0001", "TL", "reserved"),
        ("围城", "B1001", "TL-B-1", "reserved"),
    ]
    assert order["address"] is None
    assert emptied.json()["total"] == 0


async def test_a_title_no_copy_of_which_could_be_ordered_stays_out_of_the_basket(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("picky")
    app = App(delivery, reader)
    await Copy.filter(barcode="B1001").update(status=CopyStatus.ON_LOAN)

    refused = await app.post("/basket", {"record_id": delivery.titles["围城"].id})
    unknown = await app.post("/basket", {"record_id": 999_999})

    assert (refused.status_code, refused.json()["code"]) == (409, "title_not_orderable")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "record_not_found")


async def test_a_home_order_is_paid_by_wechat_pay_then_cancelled_and_refunded(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("door-reader")
    app = App(delivery, reader)
    records = [delivery.titles[t].id for t in ("三体", "活着", "围城", "红楼梦")]

    placed = await app.post("/orders", {"destination": "home", "record_ids": records, "address": ADDRESS})
    order = placed.json()
    await delivery.pay(reader, order["charge_id"])
    paid = (await app.get(f"/orders/{order['id']}")).json()
    cancelled = await app.post(f"/orders/{order['id']}/cancel")
    again = await app.post(f"/orders/{order['id']}/cancel")

    assert placed.status_code == 201, placed.text
    assert (order["state"], order["fee_fen"], order["paid"]) == ("awaiting_payment", 400, False)
    assert order["address"] == {"recipient": "李*", "phone": "139****5678", "address": order["address"]["address"]}
    assert "长江西路" not in order["address"]["address"]
    assert (paid["state"], paid["paid"]) == ("picking", True)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["state"], {line["state"] for line in cancelled.json()["lines"]}) == (
        "cancelled",
        {"released"},
    )
    assert (again.status_code, again.json()["code"]) == (409, "order_not_cancellable")
    assert [(r.amount_fen, r.state) for r in await Refund.all()] == [(400, RefundState.PENDING)]
    assert await Copy.filter(status=CopyStatus.IN_DELIVERY).count() == 0


async def test_an_order_is_refused_with_every_reason_and_a_bad_address_is_named(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("too-much")
    app = App(delivery, reader)
    six = [r.id for r in delivery.titles.values()][:6]
    await app.post("/orders", {"destination": "service_point", "pickup_library_code": "TL-A-1", "record_ids": six[:1]})

    refused = await app.post(
        "/orders", {"destination": "service_point", "pickup_library_code": "TL-A-1", "record_ids": six}
    )
    bad_phone = await app.post(
        "/orders", {"destination": "home", "record_ids": six[1:2], "address": {**ADDRESS, "phone": "12345678901"}}
    )
    no_address = await app.post("/orders", {"destination": "home", "record_ids": six[1:2]})
    nothing = await app.post("/orders", {"destination": "home", "address": ADDRESS})

    assert refused.status_code == 409
    assert refused.json()["code"] == "too_many_books"
    assert [r["code"] for r in refused.json()["reasons"]] == ["too_many_books", "title_in_order"]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (bad_phone.status_code, bad_phone.json()["code"]) == (422, "address_invalid")
    assert (no_address.status_code, no_address.json()["code"]) == (422, "address_required")
    assert (nothing.status_code, nothing.json()["code"]) == (422, "nothing_to_order")


async def test_readers_see_only_their_own_orders_newest_first_a_page_at_a_time(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("owner")
    other, _ = await delivery.logged_in("stranger")
    mine, theirs = App(delivery, reader), App(delivery, other)
    placed = []
    for title in ("三体", "活着", "围城"):
        delivery.service.clock.advance(60)
        body = {
            "destination": "service_point",
            "pickup_library_code": "TL-A-1",
            "record_ids": [delivery.titles[title].id],
        }
        placed.append((await mine.post("/orders", body)).json()["id"])

    first = (await mine.get("/orders?limit=2")).json()
    second = (await mine.get("/orders?limit=2&offset=2")).json()
    peeked = await theirs.get(f"/orders/{placed[0]}")
    cancelled = await theirs.post(f"/orders/{placed[0]}/cancel")
    none = (await theirs.get("/orders")).json()

    assert [o["id"] for o in first["items"] + second["items"]] == placed[::-1]
    assert (first["total"], first["next_offset"], second["next_offset"]) == (3, 2, None)
    assert (peeked.status_code, peeked.json()["code"]) == (404, "delivery_order_not_found")
    assert (cancelled.status_code, cancelled.json()["code"]) == (404, "delivery_order_not_found")
    assert none["total"] == 0


async def test_a_courier_pickup_is_booked_paid_and_cancelled_with_its_fee_refunded(delivery: Delivery) -> None:
    reader, _ = await delivery.logged_in("returner")
    app = App(delivery, reader)

    booked = await app.post("/pickups", {"books": 3, "library_code": "TL-A", "address": ADDRESS})
    unpaid = await app.post("/pickups", {"books": 1, "library_code": "TL-B", "address": ADDRESS})
    pickup = booked.json()
    await delivery.pay(reader, pickup["charge_id"])
    listed = (await app.get("/pickups")).json()
    cancelled = await app.post(f"/pickups/{pickup['id']}/cancel")
    waived = await app.post(f"/pickups/{unpaid.json()['id']}/cancel")
    again = await app.post(f"/pickups/{pickup['id']}/cancel")
    too_many = await app.post("/pickups", {"books": 21, "library_code": "TL-A", "address": ADDRESS})

    assert booked.status_code == 201, booked.text
    assert (pickup["state"], pickup["fee_fen"], pickup["books"], pickup["library"]["code"]) == (
        "awaiting_payment",
        500,
        3,
        "TL-A",
    )
    assert [(p["id"], p["state"]) for p in listed["items"]] == [
        (unpaid.json()["id"], "awaiting_payment"),
        (pickup["id"], "booked"),
    ]
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")
    assert (waived.status_code, waived.json()["state"]) == (200, "cancelled")
    assert (again.status_code, again.json()["code"]) == (409, "return_pickup_not_cancellable")
    assert too_many.status_code == 400
    assert [(r.amount_fen, r.state) for r in await Refund.all()] == [(500, RefundState.PENDING)]
    assert [s.amount_fen for s in await Settlement.filter(kind=SettlementKind.WAIVER)] == [500]
