import asyncio
from datetime import timedelta

import pytest

from backend.errors import DomainError
from backend.money import desk, ledger
from backend.money.errors import ChargeInPayment, ChargeSettled, DepositInPayment, NotRefundable
from backend.money.models import (
    AnomalyKind,
    Channel,
    Charge,
    Payment,
    PaymentAnomaly,
    PaymentState,
    Refund,
    RefundState,
    Settlement,
    SettlementKind,
)
from backend.money.payments import Settled, close_payment, open_payment, settle_payment
from backend.money.policy import MoneyPolicy
from backend.settings import MoneySettings
from tests.integration.circulation.lending import TUESDAY
from tests.integration.money.accounts import charge, settled_of
from tests.integration.money.conftest import Desks, a_reader
from tests.integration.service import BUS

POLICY = MoneyPolicy.of(MoneySettings())
LATER = TUESDAY + timedelta(minutes=5)


async def test_twenty_desks_settling_one_charge_at_once_take_it_once(desks: Desks) -> None:
    fee = await charge(await a_reader("赵六"), 800, TUESDAY)

    results = await asyncio.gather(
        *(desk.pay_at_desk(desks.librarian, fee.id, Channel.DESK_CASH, TUESDAY, BUS) for _ in range(20)),
        return_exceptions=True,
    )

    assert len([r for r in results if isinstance(r, Settlement)]) == 1
    assert all(isinstance(r, ChargeSettled) for r in results if not isinstance(r, Settlement))
    assert await settled_of(fee.id) == 800


async def test_a_payment_notice_delivered_twenty_times_at_once_settles_once(desks: Desks) -> None:
    reader = await a_reader("钱七")
    fees = [await charge(reader, amount, TUESDAY) for amount in (150, 250)]
    order = await open_payment(reader, [f.id for f in fees], now=TUESDAY, expires_at=LATER, policy=POLICY)

    results = await asyncio.gather(
        *(settle_payment(order.out_trade_no, "4200000001202612010001", 400, LATER, bus=BUS) for _ in range(20))
    )

    assert results.count(Settled.SETTLED) == 1 and results.count(Settled.ALREADY_SETTLED) == 19
    assert [await settled_of(f.id) for f in fees] == [150, 250]
    assert await Settlement.filter(payment_id=order.id).count() == 2
    assert (await Payment.get(id=order.id)).state is PaymentState.PAID
    assert await ledger.owed_fen(reader.id) == 0


async def test_a_notice_for_another_amount_or_an_unknown_order_changes_nothing_and_is_recorded_once(
    desks: Desks,
) -> None:
    reader = await a_reader("孙八")
    fee = await charge(reader, 300, TUESDAY)
    order = await open_payment(reader, [fee.id], now=TUESDAY, expires_at=LATER, policy=POLICY)

    for _ in range(3):
        assert await settle_payment(order.out_trade_no, "4200000001202612010002", 1, LATER, bus=BUS) is Settled.ANOMALY
    nobodys = await settle_payment("P-nobody-ordered-this", "4200000001202612010003", 300, LATER, bus=BUS)
    assert nobodys is Settled.ANOMALY

    assert (await Payment.get(id=order.id)).state is PaymentState.OPEN
    assert await ledger.owed_fen(reader.id) == 300
    anomalies = await PaymentAnomaly.all().order_by("id")
    assert [(a.kind, a.amount_fen, a.expected_fen) for a in anomalies] == [
        (AnomalyKind.AMOUNT_MISMATCH, 1, 300),
        (AnomalyKind.UNKNOWN_ORDER, 300, None),
    ]


async def test_a_payment_and_a_waiver_at_the_same_moment_never_both_settle_the_charge(desks: Desks) -> None:
    reader = await a_reader("周九")
    for round_ in range(6):
        fee = await charge(reader, 500, TUESDAY)
        order = await open_payment(reader, [fee.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
        settled, waived = await asyncio.gather(
            settle_payment(order.out_trade_no, f"42000000012026120100{round_:02d}", 500, LATER, bus=BUS),
            desk.waive(desks.admin, fee.id, "读者投诉", LATER, POLICY),
            return_exceptions=True,
        )
        kinds = await Settlement.filter(charge_id=fee.id).values_list("kind", flat=True)
        refunded = await Refund.filter(payment_id=order.id).values_list("amount_fen", flat=True)

        assert settled is Settled.SETTLED
        if isinstance(waived, DomainError):  # the order held the charge: the payment settles it
            assert isinstance(waived, ChargeInPayment | ChargeSettled)
            assert (kinds, refunded) == ([SettlementKind.WECHAT_PAY], [])
        else:  # the waiver came first: the payment is given back
            assert (kinds, refunded) == ([SettlementKind.WAIVER], [500])
        assert await settled_of(fee.id) == 500


async def test_concurrent_refunds_of_one_payment_never_return_more_than_was_paid(desks: Desks) -> None:
    reader = await a_reader("吴十")
    fee = await charge(reader, 1000, TUESDAY)
    order = await open_payment(reader, [fee.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
    await settle_payment(order.out_trade_no, "4200000001202612010099", 1000, LATER, bus=BUS)
    paid = await Settlement.get(payment_id=order.id)

    results = await asyncio.gather(
        *(desk.refund(desks.network_admin, paid.id, "退款", LATER, POLICY, amount_fen=300) for _ in range(20)),
        return_exceptions=True,
    )

    refunds = [r for r in results if isinstance(r, Refund)]
    assert len(refunds) == 3 and all(isinstance(r, NotRefundable) for r in results if not isinstance(r, Refund))
    assert all((r.state, r.channel) == (RefundState.PENDING, Channel.WECHAT_PAY) for r in refunds)
    assert (await desk.refund(desks.network_admin, paid.id, "余款", LATER, POLICY)).amount_fen == 100


async def test_balances_equal_the_sums_of_their_lines_after_a_concurrent_mix(desks: Desks) -> None:
    readers = [await a_reader(f"读者{i}") for i in range(4)]
    fees = [await charge(readers[i % 4], 100 * (i % 5 + 1), TUESDAY) for i in range(24)]
    orders = []
    for reader in readers:
        chosen = [f.id for f in fees if f.reader_id == reader.id][:2]
        orders.append(await open_payment(reader, chosen, now=TUESDAY, expires_at=LATER, policy=POLICY))
    work = [
        settle_payment(o.out_trade_no, f"42000000012026{i}", o.amount_fen, LATER, bus=BUS) for i, o in enumerate(orders)
    ]
    for i, fee in enumerate(fees):
        work.append(desk.pay_at_desk(desks.librarian, fee.id, Channel.DESK_CARD, LATER, BUS))
        if i % 3 == 0:
            work.append(desk.waive(desks.admin, fee.id, "减免", LATER, POLICY))

    await asyncio.gather(*work, return_exceptions=True)

    settled: dict[int, int] = {}
    for settlement in await Settlement.all():
        settled[settlement.charge_id] = settled.get(settlement.charge_id, 0) + settlement.amount_fen
    charges = await Charge.all()
    assert all(0 <= settled.get(c.id, 0) <= c.amount_fen for c in charges)
    for reader in readers:
        owed = sum(c.amount_fen - settled.get(c.id, 0) for c in charges if c.reader_id == reader.id)
        assert await ledger.owed_fen(reader.id) == owed
    for order in orders:
        payment = await Payment.get(id=order.id)
        taken = sum(await Settlement.filter(payment_id=order.id).values_list("amount_fen", flat=True))
        given_back = sum(await Refund.filter(payment_id=order.id).values_list("amount_fen", flat=True))
        assert payment.state is PaymentState.PAID and taken + given_back == payment.amount_fen


async def test_ten_orders_opened_at_once_for_one_charge_make_one_order(desks: Desks) -> None:
    reader = await a_reader("郑一")
    fee = await charge(reader, 600, TUESDAY)

    results = await asyncio.gather(
        *(open_payment(reader, [fee.id], now=TUESDAY, expires_at=LATER, policy=POLICY) for _ in range(10)),
        return_exceptions=True,
    )

    assert len([r for r in results if isinstance(r, Payment)]) == 1
    assert all(isinstance(r, ChargeInPayment) for r in results if not isinstance(r, Payment))
    assert await Payment.all().count() == 1


async def test_two_deposit_orders_opened_at_once_make_one_and_only_one_deposit_is_paid(desks: Desks) -> None:
    reader = await a_reader("王二")

    results = await asyncio.gather(
        *(open_payment(reader, [], now=TUESDAY, expires_at=LATER, policy=POLICY, deposit=True) for _ in range(2)),
        return_exceptions=True,
    )
    (order,) = [r for r in results if isinstance(r, Payment)]
    with pytest.raises(DepositInPayment):  # nor at a desk while the order is open
        await desk.pay_deposit_at_desk(desks.librarian, reader, Channel.DESK_CASH, TUESDAY, POLICY)
    await settle_payment(order.out_trade_no, "4200000001202612010201", order.amount_fen, LATER, bus=BUS)

    assert [type(r) for r in results if not isinstance(r, Payment)] == [DepositInPayment]
    assert await ledger.deposit_fen(reader.id) == 10000


async def test_a_late_deposit_notice_after_a_desk_took_the_deposit_is_refunded_not_added(desks: Desks) -> None:
    reader = await a_reader("张三丰")
    order = await open_payment(reader, [], now=TUESDAY, expires_at=LATER, policy=POLICY, deposit=True)
    assert await close_payment(order.out_trade_no, LATER)  # expired; the reader pays at a desk instead
    await desk.pay_deposit_at_desk(desks.librarian, reader, Channel.DESK_CASH, LATER, POLICY)

    late = await settle_payment(order.out_trade_no, "4200000001202612010202", 10000, LATER, bus=BUS)

    assert late is Settled.SETTLED and await ledger.deposit_fen(reader.id) == 10000
    refunds = await Refund.filter(payment_id=order.id)
    assert [(r.amount_fen, r.state, r.channel, r.charge_id) for r in refunds] == [
        (10000, RefundState.PENDING, Channel.WECHAT_PAY, None)
    ]


async def test_a_payment_arriving_for_a_closed_order_after_the_charge_was_waived_is_refunded_not_settled_twice(
    desks: Desks,
) -> None:
    reader = await a_reader("李四")
    fee = await charge(reader, 400, TUESDAY)
    order = await open_payment(reader, [fee.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
    assert await close_payment(order.out_trade_no, LATER)
    await desk.waive(desks.librarian, fee.id, "首次", LATER, POLICY)

    late = await settle_payment(order.out_trade_no, "4200000001202612010203", 400, LATER, bus=BUS)

    assert late is Settled.SETTLED
    assert (await Payment.get(id=order.id)).state is PaymentState.PAID
    assert await Settlement.filter(charge_id=fee.id).values_list("kind", flat=True) == [SettlementKind.WAIVER]
    assert [(r.amount_fen, r.state) for r in await Refund.filter(payment_id=order.id)] == [(400, RefundState.PENDING)]
    assert await settled_of(fee.id) == 400 and await ledger.owed_fen(reader.id) == 0


async def test_a_transaction_id_too_long_or_already_another_orders_is_an_anomaly_not_an_error(desks: Desks) -> None:
    reader = await a_reader("刘五")
    first, second = [await charge(reader, 100, TUESDAY) for _ in range(2)]
    paid = await open_payment(reader, [first.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
    other = await open_payment(reader, [second.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
    assert await settle_payment(paid.out_trade_no, "4200000001202612010204", 100, LATER, bus=BUS) is Settled.SETTLED

    reused = await settle_payment(other.out_trade_no, "4200000001202612010204", 100, LATER, bus=BUS)
    too_long = await settle_payment(other.out_trade_no, "4" * 33, 100, LATER, bus=BUS)

    assert (reused, too_long) == (Settled.ANOMALY, Settled.ANOMALY)
    assert (await Payment.get(id=other.id)).state is PaymentState.OPEN and await settled_of(second.id) == 0
    anomalies = await PaymentAnomaly.all().order_by("id")
    assert [(a.kind, a.transaction_id) for a in anomalies] == [
        (AnomalyKind.BAD_TRANSACTION, "4200000001202612010204"),
        (AnomalyKind.BAD_TRANSACTION, "4" * 33),
    ]
