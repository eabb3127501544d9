from datetime import timedelta

from backend.delivery import orders, picking
from backend.delivery.models import DeliveryLine, DeliveryOrder
from tests.integration.delivery.conftest import Delivery
from tests.integration.delivery.staff_fixtures import courier, desk_at, packed, pay_at_desk, ship
from tests.integration.factories import staff_headers


async def _pack_and_ship(delivery: Delivery, order: DeliveryOrder, at: timedelta) -> None:
    """Pulled, gathered and handed to the van `at` before now, as the desk would have done then."""
    when = delivery.now - at
    for barcode in await DeliveryLine.filter(order_id=order.id).values_list("copy__barcode", flat=True):
        await picking.pick(delivery.desk, str(barcode), now=when, bus=delivery.deps.bus)
    await picking.ship(delivery.desk, order.id, courier_code=None, tracking_no=None, now=when, bus=delivery.deps.bus)


async def test_open_orders_come_late_first_then_oldest_within_the_staff_members_libraries(
    delivery: Delivery,
) -> None:
    client = delivery.service.client
    days_ago = [delivery.now - timedelta(days=days) for days in range(6)]
    not_shipped = await delivery.order(await delivery.reader("甲"), ["平凡的世界"], now=days_ago[5])
    on_the_way = await delivery.order(await delivery.reader("乙"), ["边城"], now=days_ago[4])
    await _pack_and_ship(delivery, on_the_way, timedelta(days=4) - timedelta(hours=1))
    fresh = await delivery.order(await delivery.reader("丙"), ["朝花夕拾"], now=days_ago[1])
    b_desk = await desk_at(delivery, "b-desk", "TL-B")

    everything = await client.get("/staff/delivery/orders", headers=delivery.desk_headers)
    shipped = await client.get("/staff/delivery/orders", params={"state": "shipped"}, headers=delivery.desk_headers)
    supplied_by_b = await client.get("/staff/delivery/orders", headers=b_desk)
    not_b = await client.get("/staff/delivery/orders", params={"library": "TL-A"}, headers=b_desk)

    listed = [(o["order"]["id"], o["order"]["state"], o["late"], o["books"]) for o in everything.json()["items"]]
    assert listed == [
        (not_shipped.id, "picking", True, 1),
        (on_the_way.id, "shipped", True, 1),
        (fresh.id, "picking", False, 1),
    ]
    assert [o["order"]["id"] for o in shipped.json()["items"]] == [on_the_way.id]
    assert [o["order"]["id"] for o in supplied_by_b.json()["items"]] == [fresh.id]
    assert (not_b.status_code, not_b.json()["code"]) == (403, "outside_staff_scope")


async def test_figures_count_each_order_where_it_goes_in_the_period(delivery: Delivery) -> None:
    client = delivery.service.client
    to_point = await delivery.order(await delivery.reader("甲"), ["红楼梦", "朝花夕拾"])
    called_off_reader = await delivery.reader("乙")
    called_off = await delivery.order(called_off_reader, ["边城"])
    to_door = await delivery.order(await delivery.reader("丙"), ["平凡的世界"], home=True)
    await pay_at_desk(delivery, to_door)
    await courier(delivery)
    await packed(delivery, to_point)
    await packed(delivery, to_door)
    await ship(delivery, to_point.id)
    await ship(delivery, to_door.id, "SF4004")
    await orders.cancel_by_reader(
        called_off_reader, called_off.id, now=delivery.now, hold_policy=delivery.deps.hold_policy, bus=delivery.deps.bus
    )
    a_desk = await desk_at(delivery, "a-desk-2", "TL-A")
    not_packing = await client.post(
        f"/staff/delivery/orders/{to_door.id}/status", json={"state": "delivered"}, headers=a_desk
    )

    delivery.service.clock.advance(timedelta(days=1, hours=12).total_seconds())
    desk = await staff_headers(client, "tl-desk")
    by_hand = await client.post(
        f"/staff/delivery/orders/{to_door.id}/status", json={"state": "delivered", "note": "快递未推送"}, headers=desk
    )
    van = await client.post(f"/staff/delivery/orders/{to_point.id}/status", json={"state": "delivered"}, headers=desk)
    december = {"from": "2026-12-01", "to": "2026-12-31"}
    figures = await client.get("/staff/delivery/figures", params=december, headers=desk)
    backwards = await client.get(
        "/staff/delivery/figures", params={"from": "2026-12-31", "to": "2026-12-01"}, headers=desk
    )

    assert (not_packing.status_code, not_packing.json()["code"]) == (403, "outside_staff_scope")
    assert (by_hand.status_code, by_hand.json()["state"]) == (200, "delivered")
    assert van.json()["state"] == "delivered"
    rows = {row["library_code"]: row for row in figures.json()["items"]}
    assert set(rows) == {"TL", "TL-A-1"}
    assert rows["TL"] | {"library": ""} == {
        "library_code": "TL",
        "library": "",
        "placed": 1,
        "shipped": 1,
        "delivered": 1,
        "cancelled": 0,
        "returned": 0,
        "books_delivered": 1,
        "average_days_to_delivery": 1.5,
        "fees_fen": 300,
    }
    point = rows["TL-A-1"]
    assert (point["placed"], point["shipped"], point["delivered"], point["cancelled"]) == (2, 1, 1, 1)
    assert (point["books_delivered"], point["fees_fen"]) == (2, 0)
    assert backwards.json()["code"] == "delivery_figures_period_invalid"
