import asyncio

from backend.catalog.models import CopyStatus
from backend.delivery.models import DeliveryLine, DeliveryOrder, LineState, OrderState
from tests.integration.delivery.conftest import Delivery
from tests.integration.delivery.staff_fixtures import desk_at, pay_at_desk, scan, ship


async def _pick_list(delivery: Delivery, code: str, headers: dict[str, str]) -> list[str]:
    response = await delivery.service.client.get(f"/staff/delivery/libraries/{code}/pick-list", headers=headers)
    assert response.status_code == 200, response.text
    return [item["barcode"] for item in response.json()["items"]]


async def test_an_order_is_picked_at_its_libraries_and_packed_when_its_last_book_is_gathered(
    delivery: Delivery,
) -> None:
    reader = await delivery.reader("王芳")
    order = await delivery.order(reader, ["平凡的世界", "红楼梦", "朝花夕拾"])
    a_desk = await desk_at(delivery, "a-picker", "TL-A")
    b_desk = await desk_at(delivery, "b-picker", "TL-B")

    assert await _pick_list(delivery, "TL-A", a_desk) == ["A0002"]
    assert await _pick_list(delivery, "TL-B", b_desk) == ["B0002"]
    assert await _pick_list(delivery, "TL", delivery.desk_headers) == ["T0003"]

    at_a = await scan(delivery, "picks", "a0002", a_desk)
    at_b = await scan(delivery, "picks", "B0002", b_desk)
    at_packing = await scan(delivery, "picks", "T0003", delivery.desk_headers)

    assert (at_a["line_state"], at_a["send_to_library_code"], at_a["order_state"]) == ("picked", "TL", "picking")
    assert (at_b["line_state"], at_b["send_to_library_code"]) == ("picked", "TL")
    # Picked where it is packed: gathered at once, no second scan.
    assert (at_packing["line_state"], at_packing["send_to_library_code"]) == ("gathered", None)
    assert await _pick_list(delivery, "TL-A", a_desk) == []
    travelling = await delivery.copy("A0002")
    assert (travelling.status, travelling.current_library_id) == (CopyStatus.IN_DELIVERY, delivery.libraries["TL-A"].id)
    assert travelling.in_transit_to_id == delivery.libraries["TL"].id

    first = await scan(delivery, "gathered", "A0002", delivery.desk_headers)
    last = await scan(delivery, "gathered", "B0002", delivery.desk_headers)

    assert (first["line_state"], first["packed"], first["order_state"]) == ("gathered", False, "picking")
    assert (last["packed"], last["order_state"]) == (True, "packed")
    arrived = await delivery.copy("B0002")
    assert (arrived.current_library_id, arrived.in_transit_to_id) == (delivery.libraries["TL"].id, None)
    assert arrived.status is CopyStatus.IN_DELIVERY
    assert (await DeliveryOrder.get(id=order.id)).state is OrderState.PACKED


async def test_a_home_order_is_picked_only_once_its_fee_is_paid(delivery: Delivery) -> None:
    reader = await delivery.reader("李雷")
    order = await delivery.order(reader, ["红楼梦"], home=True)
    a_desk = await desk_at(delivery, "a-picker", "TL-A")

    unpaid = await scan(delivery, "picks", "A0002", a_desk)
    list_unpaid = await _pick_list(delivery, "TL-A", a_desk)
    await pay_at_desk(delivery, order)
    paid = await scan(delivery, "picks", "A0002", a_desk)

    assert (unpaid["http"], unpaid["code"], list_unpaid) == (409, "delivery_copy_not_to_pick", [])
    assert (paid["http"], paid["line_state"]) == (200, "picked")


async def test_a_scan_moves_only_the_order_its_copy_is_reserved_for(delivery: Delivery) -> None:
    first = await delivery.order(await delivery.reader("甲"), ["三体"])
    second = await delivery.order(await delivery.reader("乙"), ["三体"])
    lines = {line.order_id: line for line in await DeliveryLine.filter(order_id__in=[first.id, second.id])}
    second_copy = (await lines[second.id].copy).barcode
    ordered = {(await line.copy).barcode for line in lines.values()}
    (free,) = {"T0001", "A0001", "A1001"} - ordered  # the title's third copy, in no order

    moved = await scan(delivery, "picks", second_copy, delivery.desk_headers)
    on_the_shelf = await scan(delivery, "picks", free, delivery.desk_headers)

    assert moved["order_id"] == second.id
    assert (await DeliveryLine.get(id=lines[first.id].id)).state is LineState.RESERVED
    assert (on_the_shelf["http"], on_the_shelf["code"]) == (409, "delivery_copy_not_to_pick")
    assert (await delivery.copy(free)).status is CopyStatus.AVAILABLE


async def test_two_desks_scanning_one_book_at_once_pick_it_once(delivery: Delivery) -> None:
    order = await delivery.order(await delivery.reader("丙"), ["红楼梦", "边城"])
    a_desk = await desk_at(delivery, "a-picker", "TL-A")
    other = await desk_at(delivery, "a-picker-2", "TL-A")

    results = await asyncio.gather(*(scan(delivery, "picks", "A0002", h) for h in (a_desk, other, a_desk, other)))

    assert sorted(r["http"] for r in results) == [200, 409, 409, 409]
    assert {r.get("code") for r in results if r["http"] == 409} == {"delivery_copy_not_to_pick"}
    line = await DeliveryLine.get(order_id=order.id, copy__barcode="A0002")
    assert line.state is LineState.PICKED


async def test_staff_of_another_library_cannot_pick_or_ship_its_books(delivery: Delivery) -> None:
    reader = await delivery.reader("丁")
    order = await delivery.order(reader, ["朝花夕拾", "边城"])
    a_desk = await desk_at(delivery, "a-picker", "TL-A")

    pick_list = await delivery.service.client.get("/staff/delivery/libraries/TL-B/pick-list", headers=a_desk)
    pick = await scan(delivery, "picks", "B0002", a_desk)
    await scan(delivery, "picks", "B0002", delivery.desk_headers)
    await scan(delivery, "picks", "T0004", delivery.desk_headers)
    gather = await scan(delivery, "gathered", "B0002", a_desk)
    await scan(delivery, "gathered", "B0002", delivery.desk_headers)
    shipped = await delivery.service.client.post(f"/staff/delivery/orders/{order.id}/ship", json={}, headers=a_desk)

    assert (pick_list.status_code, pick_list.json()["code"]) == (403, "outside_staff_scope")
    assert (pick["http"], pick["code"]) == (403, "outside_staff_scope")
    assert (gather["http"], gather["code"]) == (403, "outside_staff_scope")
    assert (shipped.status_code, shipped.json()["code"]) == (403, "outside_staff_scope")
    assert (await DeliveryOrder.get(id=order.id)).state is OrderState.PACKED


async def test_only_a_packed_order_is_shipped(delivery: Delivery) -> None:
    order = await delivery.order(await delivery.reader("戊"), ["红楼梦"])

    refused = await ship(delivery, order.id)

    assert (refused["http"], refused["code"]) == (409, "delivery_order_not_packed")


async def test_a_book_not_on_the_shelf_is_lost_and_dropped_from_its_order(delivery: Delivery) -> None:
    reader = await delivery.reader("己")
    order = await delivery.order(reader, ["红楼梦", "白鹿原"])
    a_desk = await desk_at(delivery, "a-picker", "TL-A")
    b_desk = await desk_at(delivery, "b-picker", "TL-B")
    lines = {(await line.copy).barcode: line for line in await DeliveryLine.filter(order_id=order.id)}

    elsewhere = await delivery.service.client.post(f"/staff/delivery/lines/{lines['A0002'].id}/missing", headers=b_desk)
    one = await delivery.service.client.post(f"/staff/delivery/lines/{lines['A0002'].id}/missing", headers=a_desk)
    again = await delivery.service.client.post(f"/staff/delivery/lines/{lines['A0002'].id}/missing", headers=a_desk)

    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "outside_staff_scope")
    assert (one.status_code, one.json()["state"]) == (200, "picking")
    assert (again.status_code, again.json()["code"]) == (404, "delivery_line_not_found")
    assert (await delivery.copy("A0002")).status is CopyStatus.LOST
    assert await _pick_list(delivery, "TL-A", a_desk) == ["A0003"]

    last = await delivery.service.client.post(f"/staff/delivery/lines/{lines['A0003'].id}/missing", headers=a_desk)

    assert (last.status_code, last.json()["state"]) == (200, "cancelled")


async def test_the_last_book_awaited_going_missing_packs_the_order(delivery: Delivery) -> None:
    reader = await delivery.reader("庚")
    order = await delivery.order(reader, ["平凡的世界", "红楼梦"])
    a_desk = await desk_at(delivery, "a-picker", "TL-A")
    gathered = await scan(delivery, "picks", "T0003", delivery.desk_headers)  # at the packing library: gathered
    line = await DeliveryLine.get(order_id=order.id, copy__barcode="A0002")

    dropped = await delivery.service.client.post(f"/staff/delivery/lines/{line.id}/missing", headers=a_desk)

    assert gathered["line_state"] == "gathered"
    assert (dropped.status_code, dropped.json()["state"]) == (200, "packed")


async def test_a_book_cancelled_on_its_way_to_packing_travels_on_and_is_settled_where_it_arrives(
    delivery: Delivery,
) -> None:
    reader, card = await delivery.logged_in("辛")
    order = await delivery.order(card, ["红楼梦"])
    a_desk = await desk_at(delivery, "a-picker", "TL-A")
    await scan(delivery, "picks", "A0002", a_desk)

    cancelled = await delivery.service.client.post(
        f"/readers/me/delivery/orders/{order.id}/cancel", headers=reader.headers
    )
    travelling = await delivery.copy("A0002")
    received = await delivery.service.client.post(
        "/staff/transits/receive", json={"barcode": "A0002"}, headers=delivery.desk_headers
    )

    assert cancelled.json()["state"] == "cancelled"
    assert (travelling.status, travelling.in_transit_to_id) == (CopyStatus.IN_TRANSIT, delivery.libraries["TL"].id)
    assert received.status_code == 200, received.text
    home_again = await delivery.copy("A0002")  # not needed at the packing library: sent home
    assert (home_again.status, home_again.in_transit_to_id) == (CopyStatus.IN_TRANSIT, delivery.libraries["TL-A"].id)
