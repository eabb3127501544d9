from datetime import datetime, timedelta

from backend.catalog.models import CopyStatus
from backend.circulation import holds, rules
from backend.circulation.models import Hold, HoldStatus
from backend.delivery.models import DeliveryLine, DeliveryOrder, LineState, OrderState
from tests.integration.circulation.lending import lend
from tests.integration.delivery.conftest import SERVICE_POINT, Delivery
from tests.integration.delivery.staff_fixtures import desk_at, packed, ship
from tests.integration.factories import login_reader, staff_headers


async def test_the_vans_arrival_puts_the_books_on_the_hold_shelf_for_the_reader_alone(delivery: Delivery) -> None:
    client = delivery.service.client
    _, reader = await delivery.logged_in("openid-point")
    order = await delivery.order(reader, ["红楼梦", "朝花夕拾"])
    point_desk = await desk_at(delivery, "a1-desk", SERVICE_POINT)
    b_desk = await desk_at(delivery, "b-desk", "TL-B")
    await packed(delivery, order)
    by_van = await ship(delivery, order.id)  # no courier: the library's own van
    assert (by_van["http"], by_van["state"], by_van["pickup_library_code"]) == (200, "shipped", SERVICE_POINT)

    delivery.service.clock.advance(600)
    elsewhere = await client.post(f"/staff/delivery/orders/{order.id}/arrived", headers=b_desk)
    arrived = await client.post(f"/staff/delivery/orders/{order.id}/arrived", headers=point_desk)
    again = await client.post(f"/staff/delivery/orders/{order.id}/arrived", headers=point_desk)

    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "outside_staff_scope")
    assert (arrived.status_code, arrived.json()["state"]) == (200, "delivered")
    assert (again.status_code, again.json()["code"]) == (409, "delivery_order_not_shipped")
    shelf = await client.get(f"/staff/libraries/{SERVICE_POINT}/hold-shelf", headers=point_desk)
    assert sorted((h["barcode"], h["card_number"]) for h in shelf.json()["items"]) == [
        ("A0002", reader.card_number),
        ("B0002", reader.card_number),
    ]
    lines = await DeliveryLine.filter(order_id=order.id)
    assert {line.state for line in lines} == {LineState.DELIVERED} and all(line.hold_id for line in lines)
    waiting = await delivery.copy("B0002")
    point = delivery.libraries[SERVICE_POINT]
    assert (waiting.status, waiting.current_library_id) == (CopyStatus.ON_HOLD_SHELF, point.id)
    assert (await DeliveryOrder.get(id=order.id)).state is OrderState.DELIVERED

    someone_else = await login_reader(delivery.service, "openid-someone")
    refused = await lend(delivery.service, point_desk, someone_else, "A0002")
    assert (refused["status"], refused["code"]) == (409, "copy_held_for_another")

    delivery.service.clock.advance(2 * 86_400)  # collected two days later: the loan runs from then
    point_desk = await staff_headers(client, "a1-desk")
    collected = await lend(delivery.service, point_desk, await login_reader(delivery.service, "openid-point"), "A0002")
    assert collected["status"] == 201, collected
    due = rules.due_after(delivery.now, 40, delivery.libraries[SERVICE_POINT].timezone)
    assert datetime.fromisoformat(str(collected["due_at"])) == due
    assert (await Hold.get(copy__barcode="A0002")).status is HoldStatus.FULFILLED


async def test_a_delivered_book_left_uncollected_expires_and_is_cleared_like_a_hold(delivery: Delivery) -> None:
    client = delivery.service.client
    _, reader = await delivery.logged_in("openid-forgot")
    order = await delivery.order(reader, ["平凡的世界"])
    point_desk = await desk_at(delivery, "a1-desk", SERVICE_POINT)
    await packed(delivery, order)
    await ship(delivery, order.id)
    await client.post(f"/staff/delivery/orders/{order.id}/arrived", headers=point_desk)

    delivery.service.clock.advance(timedelta(days=9).total_seconds())
    await holds.expire_uncollected(delivery.now)  # the worker's daily job
    point_desk = await staff_headers(client, "a1-desk")
    to_clear = await client.get(f"/staff/libraries/{SERVICE_POINT}/holds-to-clear", headers=point_desk)

    assert [c["barcode"] for c in to_clear.json()["items"]] == ["T0003"]
