import asyncio
from dataclasses import replace

import pytest

from backend.accounts.models import StaffRole
from backend.catalog.models import Copy, CopyStatus
from backend.catalog.search import availability
from backend.circulation import holds
from backend.circulation.errors import CheckoutRefused
from backend.circulation.models import CreditEvent, CreditReason, HoldStatus, Suspension, SuspensionKind
from backend.circulation.services import checkout
from backend.delivery import basket, orders
from backend.delivery.errors import OrderNotCancellable, OrderRefused
from backend.delivery.models import DeliveryLine, DeliveryOrder, LineState, OrderState
from backend.money import ledger
from backend.money.models import Charge, ChargeKind, Refund, RefundState, Settlement, SettlementKind
from backend.shipping.models import Destination, Shipment, ShipmentState
from tests.integration.delivery.conftest import Delivery
from tests.integration.delivery.staff_fixtures import desk_at, packed, ship
from tests.integration.factories import make_staff, staff_headers


def codes(refused: BaseException) -> list[str]:
    assert isinstance(refused, OrderRefused), refused
    return [reason.code for reason in refused.reasons]


async def lines_of(order: DeliveryOrder) -> list[tuple[str, str, LineState]]:
    lines = await DeliveryLine.filter(order_id=order.id).select_related("copy", "library").order_by("id")
    return [(line.copy.barcode, line.library.code, line.state) for line in lines]


async def statuses(*barcodes: str) -> list[CopyStatus]:
    return [(await Copy.get(barcode=barcode)).status for barcode in barcodes]


async def test_an_order_to_a_service_point_reserves_a_copy_of_each_title_the_packing_librarys_first(
    delivery: Delivery,
) -> None:
    reader = await delivery.reader("读者甲")
    for title in ("三体", "围城", "边城"):
        await basket.add_to_basket(reader, delivery.titles[title].id, delivery.now)

    order = await delivery.order(reader, ["三体", "围城"])
    left, _ = await basket.basket(reader.id, limit=10, offset=0)
    (hits,) = await availability([delivery.titles["围城"]], None, None)

    assert (order.state, order.fee_fen, order.charge_id) == (OrderState.PICKING, 0, None)
    assert await lines_of(order) == [("T0001", "TL", LineState.RESERVED), ("B1001", "TL-B-1", LineState.RESERVED)]
    assert await statuses("T0001", "A0001", "B1001") == [
        CopyStatus.IN_DELIVERY,
        CopyStatus.AVAILABLE,
        CopyStatus.IN_DELIVERY,
    ]
    assert [line.item.record.title for line in left] == ["边城"]
    assert hits.available == 0
    shipment = await Shipment.get(id=order.shipment_id).select_related("pickup_library")
    assert (shipment.state, shipment.pickup_library and shipment.pickup_library.code) == (
        ShipmentState.PREPARING,
        "TL-A-1",
    )


async def test_a_reserved_copy_is_not_lent_at_a_desk_nor_trapped_by_a_hold_when_another_copy_comes_back(
    delivery: Delivery,
) -> None:
    orderer, borrower, waiting = [await delivery.reader(name) for name in ("甲", "乙", "丙")]
    b_desk = await make_staff("b-desk", StaffRole.LIBRARIAN, "TL-B")
    await b_desk.fetch_related("library")
    deps = delivery.deps
    await checkout(borrower, "B0001", now=delivery.now, bus=deps.bus, network_time=deps.network_time, staff=b_desk)
    await delivery.order(orderer, ["活着"])  # the other copy, T0002 at the packing library
    hold = await holds.place_hold(waiting, delivery.titles["活着"].id, "TL-A-1", delivery.now, deps.network_time)

    with pytest.raises(CheckoutRefused) as refused:
        await checkout(
            waiting, "T0002", now=delivery.now, bus=deps.bus, network_time=deps.network_time, staff=delivery.desk
        )
    pulled, _ = await holds.pull_list(delivery.libraries["TL"], limit=10, offset=0)
    returned = await delivery.service.client.post(
        "/staff/checkins", json={"barcode": "B0001"}, headers=await staff_headers(delivery.service.client, "b-desk")
    )

    assert [reason.code for reason in refused.value.reasons] == ["copy_not_available"]
    assert pulled == []
    assert returned.status_code == 200, returned.text
    await hold.refresh_from_db()
    assert (hold.status, hold.copy_id) == (HoldStatus.IN_TRANSIT, (await delivery.copy("B0001")).id)
    assert await statuses("T0002") == [CopyStatus.IN_DELIVERY]


async def test_ten_readers_ordering_the_last_copy_at_once_one_gets_it_the_rest_hear_title_unavailable(
    delivery: Delivery,
) -> None:
    readers = [await delivery.reader(f"读者{i}") for i in range(10)]

    outcomes = await asyncio.gather(*(delivery.order(r, ["围城"]) for r in readers), return_exceptions=True)

    placed = [o for o in outcomes if isinstance(o, DeliveryOrder)]
    assert len(placed) == 1
    assert sorted(codes(o)[0] for o in outcomes if not isinstance(o, DeliveryOrder)) == ["title_unavailable"] * 9
    assert await DeliveryLine.filter(copy__barcode="B1001").count() == 1
    assert await statuses("B1001") == [CopyStatus.IN_DELIVERY]


async def test_orders_racing_desk_checkouts_of_the_same_copies_one_of_each_pair_wins(delivery: Delivery) -> None:
    orderer, borrower = await delivery.reader("网上"), await delivery.reader("到馆")
    b_desk = await make_staff("b-desk", StaffRole.LIBRARIAN, "TL-B")
    await b_desk.fetch_related("library")
    deps = delivery.deps
    races = [f"孤本{i}" for i in range(5)]
    for i, name in enumerate(races):
        await delivery.title(name, (f"S{i:04d}", "TL-B-1"))

    outcomes = await asyncio.gather(
        *(
            work
            for i, name in enumerate(races)
            for work in (
                checkout(
                    borrower, f"S{i:04d}", now=delivery.now, bus=deps.bus, network_time=deps.network_time, staff=b_desk
                ),
                delivery.order(orderer, [name]),
            )
        ),
        return_exceptions=True,
    )

    for i in range(5):
        lent, ordered = outcomes[2 * i : 2 * i + 2]
        assert isinstance(lent, BaseException) != isinstance(ordered, BaseException), (lent, ordered)
        (status,) = await statuses(f"S{i:04d}")
        assert status is (CopyStatus.IN_DELIVERY if isinstance(ordered, DeliveryOrder) else CopyStatus.ON_LOAN)
        loser = ordered if isinstance(ordered, BaseException) else lent
        assert isinstance(loser, OrderRefused | CheckoutRefused)
        assert [r.code for r in loser.reasons] == (
            ["title_unavailable"] if isinstance(loser, OrderRefused) else ["copy_not_available"]
        )


async def test_twenty_orders_at_once_stay_within_the_readers_limit(delivery: Delivery) -> None:
    reader = await delivery.reader("心急")
    names = [f"新书{i}" for i in range(40)]
    for i, name in enumerate(names):
        await delivery.title(name, (f"N{i:04d}", "TL"))
    policy = replace(delivery.deps.delivery_policy, max_on_loan=7)
    deps = delivery.deps

    async def order(pair: list[str]) -> DeliveryOrder:
        return await orders.place_order(
            reader,
            record_ids=[delivery.titles[name].id for name in pair],
            destination=Destination.SERVICE_POINT,
            pickup_library_code="TL-A-1",
            address=None,
            now=delivery.now,
            policy=policy,
            keys=deps.keys,
            credit_check=deps.credit_check,
            network_time=deps.network_time,
            bus=deps.bus,
        )

    outcomes = await asyncio.gather(*(order(names[i : i + 2]) for i in range(0, 40, 2)), return_exceptions=True)

    placed = [o for o in outcomes if isinstance(o, DeliveryOrder)]
    assert len(placed) == 3
    assert [codes(o) for o in outcomes if not isinstance(o, DeliveryOrder)] == [["delivery_limit_reached"]] * 17
    assert await DeliveryLine.all().count() == 6
    assert await Copy.filter(status=CopyStatus.IN_DELIVERY).count() == 6


async def test_an_order_is_refused_for_every_reason_at_once(delivery: Delivery) -> None:
    reader = await delivery.reader("多事")
    deps = delivery.deps
    await holds.place_hold(reader, delivery.titles["围城"].id, "TL-A-1", delivery.now, deps.network_time)
    await delivery.order(reader, ["边城"])

    with pytest.raises(OrderRefused) as refused:
        await delivery.order(reader, ["三体", "活着", "围城", "红楼梦", "白鹿原", "边城"])

    assert codes(refused.value) == ["too_many_books", "title_on_hold", "title_in_order"]


async def test_delivery_is_refused_below_the_tier_that_allows_it_and_while_suspended(delivery: Delivery) -> None:
    reader = await delivery.reader("信用低")
    await CreditEvent.create(reader=reader, reason=CreditReason.STAFF_ADJUSTMENT, points=-15, created_at=delivery.now)
    await Suspension.create(
        reader=reader, kind=SuspensionKind.SUSPENDED, reason="逾期未还", starts_at=delivery.now, scope_path="/"
    )

    with pytest.raises(OrderRefused) as refused:
        await delivery.order(reader, ["三体"])

    assert codes(refused.value) == ["delivery_not_allowed", "reader_suspended"]
    assert await statuses("T0001") == [CopyStatus.AVAILABLE]


async def test_a_home_delivery_costs_three_yuan_to_three_books_and_a_yuan_each_more(delivery: Delivery) -> None:
    reader = await delivery.reader("宅家")

    three = await delivery.order(reader, ["三体", "活着", "围城"], home=True)
    other = await delivery.reader("宅家二")
    five = await delivery.order(other, ["红楼梦", "平凡的世界", "边城", "白鹿原", "朝花夕拾"], home=True)

    charges = {c.id: c for c in await Charge.all()}
    assert (three.state, three.fee_fen, five.fee_fen) == (OrderState.AWAITING_PAYMENT, 300, 500)
    assert three.charge_id is not None and five.charge_id is not None
    fee = charges[three.charge_id]
    assert (fee.kind, fee.amount_fen, fee.source, fee.occasion) == (
        ChargeKind.DELIVERY,
        300,
        f"delivery-order:{three.id}",
        f"delivery-order:{three.id}",
    )
    assert fee.library_id == delivery.libraries["TL"].id
    assert await ledger.owed_fen(reader.id) == 300


async def test_an_unpaid_order_cancelled_five_times_at_once_is_released_and_waived_once(delivery: Delivery) -> None:
    reader = await delivery.reader("反悔")
    order = await delivery.order(reader, ["三体", "围城"], home=True)
    deps = delivery.deps

    outcomes = await asyncio.gather(
        *(
            orders.cancel_by_reader(reader, order.id, now=delivery.now, hold_policy=deps.hold_policy, bus=deps.bus)
            for _ in range(5)
        ),
        return_exceptions=True,
    )

    assert sorted(type(o).__name__ for o in outcomes) == ["DeliveryOrder"] + ["OrderNotCancellable"] * 4
    await order.refresh_from_db()
    assert order.state is OrderState.CANCELLED
    assert await statuses("T0001", "B1001") == [CopyStatus.AVAILABLE, CopyStatus.AVAILABLE]
    assert [(s.kind, s.amount_fen) for s in await Settlement.all()] == [(SettlementKind.WAIVER, 300)]
    assert await ledger.owed_fen(reader.id) == 0
    assert (await Shipment.get(id=order.shipment_id)).state is ShipmentState.CANCELLED


async def test_an_unpaid_order_cancelled_while_the_job_expires_it_is_closed_and_waived_once(delivery: Delivery) -> None:
    reader = await delivery.reader("拖延")
    order = await delivery.order(reader, ["三体"], home=True)
    deps = delivery.deps
    later = delivery.now + deps.delivery_policy.payment_window * 2

    cancelled, expired = await asyncio.gather(
        orders.cancel_by_reader(reader, order.id, now=later, hold_policy=deps.hold_policy, bus=deps.bus),
        orders.expire_unpaid(later, policy=deps.delivery_policy, hold_policy=deps.hold_policy, bus=deps.bus),
        return_exceptions=True,
    )

    assert isinstance(cancelled, DeliveryOrder | OrderNotCancellable), cancelled
    assert isinstance(cancelled, DeliveryOrder) != (expired == 1), (cancelled, expired)
    assert [(s.kind, s.amount_fen) for s in await Settlement.all()] == [(SettlementKind.WAIVER, 300)]
    assert await statuses("T0001") == [CopyStatus.AVAILABLE]
    assert (
        await orders.expire_unpaid(later, policy=deps.delivery_policy, hold_policy=deps.hold_policy, bus=deps.bus) == 0
    )


async def test_the_job_leaves_an_order_whose_window_has_not_passed(delivery: Delivery) -> None:
    reader = await delivery.reader("还来得及")
    order = await delivery.order(reader, ["三体"], home=True)
    deps = delivery.deps
    soon = delivery.now + deps.delivery_policy.payment_window / 2

    assert (
        await orders.expire_unpaid(soon, policy=deps.delivery_policy, hold_policy=deps.hold_policy, bus=deps.bus) == 0
    )
    await order.refresh_from_db()
    assert order.state is OrderState.AWAITING_PAYMENT


async def test_a_paid_order_goes_to_be_picked_and_cancelled_at_once_twice_is_refunded_once(delivery: Delivery) -> None:
    reader, card = await delivery.logged_in("付款读者")
    order = await delivery.order(card, ["三体", "围城"], home=True)
    assert order.charge_id is not None
    deps = delivery.deps

    await delivery.pay(reader, order.charge_id)
    await order.refresh_from_db()
    paid_state = order.state
    outcomes = await asyncio.gather(
        *(
            orders.cancel_by_reader(card, order.id, now=delivery.now, hold_policy=deps.hold_policy, bus=deps.bus)
            for _ in range(3)
        ),
        return_exceptions=True,
    )

    assert (paid_state, order.paid_at) == (OrderState.PICKING, delivery.now)
    assert sum(isinstance(o, DeliveryOrder) for o in outcomes) == 1
    assert [(r.amount_fen, r.state, r.charge_id) for r in await Refund.all()] == [
        (300, RefundState.PENDING, order.charge_id)
    ]
    assert await statuses("T0001", "B1001") == [CopyStatus.AVAILABLE, CopyStatus.AVAILABLE]


async def test_a_cancelled_orders_copy_fills_the_next_hold(delivery: Delivery) -> None:
    orderer, waiting = await delivery.reader("先订"), await delivery.reader("后约")
    deps = delivery.deps
    order = await delivery.order(orderer, ["围城"])
    hold = await holds.place_hold(waiting, delivery.titles["围城"].id, "TL-A-1", delivery.now, deps.network_time)

    await orders.cancel_by_reader(orderer, order.id, now=delivery.now, hold_policy=deps.hold_policy, bus=deps.bus)

    await hold.refresh_from_db()
    copy = await delivery.copy("B1001")
    assert (hold.status, hold.copy_id) == (HoldStatus.IN_TRANSIT, copy.id)
    assert (copy.status, copy.in_transit_to_id) == (CopyStatus.IN_TRANSIT, delivery.libraries["TL-A-1"].id)


async def test_a_missing_copy_drops_out_with_its_part_of_the_fee_and_the_last_one_cancels_the_order(
    delivery: Delivery,
) -> None:
    reader, card = await delivery.logged_in("五本书")
    titles = ["三体", "活着", "围城", "红楼梦", "边城"]
    order = await delivery.order(card, titles, home=True)
    assert order.charge_id is not None
    await delivery.pay(reader, order.charge_id)
    deps = delivery.deps
    lines = await DeliveryLine.filter(order_id=order.id).order_by("id")

    refunds = []
    for line in lines:
        async with deps.bus.transaction(), orders.locked_order(order.id) as locked:
            await orders.drop_line(
                locked, line, now=delivery.now, policy=deps.delivery_policy, hold_policy=deps.hold_policy
            )
        refunds.append(sum(r.amount_fen for r in await Refund.all()))

    await order.refresh_from_db()
    assert refunds == [100, 200, 200, 200, 500]
    assert (order.state, order.fee_fen) == (OrderState.CANCELLED, 300)
    assert await statuses("T0001") == [CopyStatus.LOST]
    assert {line.state for line in await DeliveryLine.filter(order_id=order.id)} == {LineState.MISSING}


async def test_books_waiting_on_the_service_points_hold_shelf_count_towards_the_limit(delivery: Delivery) -> None:
    _, reader = await delivery.logged_in("shelf-waiting")
    order = await delivery.order(reader, ["红楼梦", "朝花夕拾"])
    point_desk = await desk_at(delivery, "a1-desk", "TL-A-1")
    await packed(delivery, order)
    await ship(delivery, order.id)
    arrived = await delivery.service.client.post(f"/staff/delivery/orders/{order.id}/arrived", headers=point_desk)
    assert arrived.status_code == 200, arrived.text
    deps = delivery.deps
    policy = replace(deps.delivery_policy, max_on_loan=3)

    with pytest.raises(OrderRefused) as refused:
        await orders.place_order(
            reader,
            record_ids=[delivery.titles[title].id for title in ("三体", "活着")],
            destination=Destination.SERVICE_POINT,
            pickup_library_code="TL-A-1",
            address=None,
            now=delivery.now,
            policy=policy,
            keys=deps.keys,
            credit_check=deps.credit_check,
            network_time=deps.network_time,
            bus=deps.bus,
        )

    assert codes(refused.value) == ["delivery_limit_reached"]
    assert refused.value.reasons[0].params == {"held": 2, "books": 2, "limit": 3}
