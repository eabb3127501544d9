import asyncio

from backend.money import cancellations, desk, ledger
from backend.money.models import Channel, Refund, RefundState, Settlement, SettlementKind
from tests.integration.delivery.conftest import Delivery


async def test_an_unpaid_fee_withdrawn_ten_times_at_once_is_waived_once(delivery: Delivery) -> None:
    reader = await delivery.reader("未付")
    order = await delivery.order(reader, ["三体"], home=True)
    assert order.charge_id is not None

    made = await asyncio.gather(
        *(cancellations.withdraw_charge(order.charge_id, "取消", delivery.now) for _ in range(10))
    )

    waivers = await Settlement.filter(charge_id=order.charge_id)
    assert [(s.kind, s.amount_fen, s.staff_id, s.note) for s in waivers] == [(SettlementKind.WAIVER, 300, None, "取消")]
    assert made == [[]] * 10
    assert await ledger.owed_fen(reader.id) == 0


async def test_a_fee_paid_by_wechat_pay_withdrawn_ten_times_at_once_is_refunded_once(delivery: Delivery) -> None:
    reader, card = await delivery.logged_in("已付")
    order = await delivery.order(card, ["三体", "活着", "围城", "红楼梦"], home=True)
    assert order.charge_id is not None
    await delivery.pay(reader, order.charge_id)

    made = await asyncio.gather(
        *(cancellations.withdraw_charge(order.charge_id, "取消", delivery.now) for _ in range(10))
    )

    assert sorted(len(refunds) for refunds in made) == [0] * 9 + [1]
    assert [(r.amount_fen, r.state, r.staff_id) for r in await Refund.all()] == [(400, RefundState.PENDING, None)]


async def test_a_smaller_fee_refunds_the_difference_and_withdrawing_it_later_refunds_the_rest(
    delivery: Delivery,
) -> None:
    reader, card = await delivery.logged_in("减免")
    order = await delivery.order(card, ["三体", "活着", "围城", "红楼梦", "边城"], home=True)
    assert order.charge_id is not None
    await delivery.pay(reader, order.charge_id)

    part = await cancellations.refund_part(order.charge_id, 200, "少了两本", delivery.now)
    rest = await cancellations.withdraw_charge(order.charge_id, "取消", delivery.now)

    assert [r.amount_fen for r in part] == [200]
    assert [r.amount_fen for r in rest] == [300]
    assert await cancellations.withdraw_charge(order.charge_id, "取消", delivery.now) == []


async def test_a_fee_paid_at_a_desk_is_left_for_the_desk_to_give_back(delivery: Delivery) -> None:
    reader = await delivery.reader("现金")
    order = await delivery.order(reader, ["三体"], home=True)
    assert order.charge_id is not None
    await desk.pay_at_desk(delivery.desk, order.charge_id, Channel.DESK_CASH, delivery.now, delivery.deps.bus)
    await order.refresh_from_db()

    made = await cancellations.withdraw_charge(order.charge_id, "取消", delivery.now)

    assert order.state.value == "picking"  # paid at the desk: ChargePaid moved it on
    assert made == []
    assert [s.kind for s in await Settlement.filter(charge_id=order.charge_id)] == [SettlementKind.DESK_CASH]
