"""Paying by WeChat Pay: an order for chosen lines of an account made at WeChat Pay, its notices and queries carried to
the ledger, orders nobody paid closed, refunds sent and followed to their end.

The ledger decides (`payments`, `refunds`): it settles an order exactly once, reserves its lines while it is open and
records what does not fit. This module only carries WeChat Pay's verified facts to it, and asks WeChat Pay when a
notice is late: every call it makes is idempotent at WeChat Pay, so a job may run again after any failure."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.accounts.models import Reader
from backend.eventbus import EventBus
from backend.money import ledger, payments, refunds
from backend.money.errors import ChargeInPayment, PaymentNotFound, RefundNotFound
from backend.money.models import (
    AnomalyKind,
    Channel,
    Payment,
    PaymentAnomaly,
    PaymentLine,
    PaymentState,
    Refund,
    RefundState,
)
from backend.money.payments import Settled
from backend.money.policy import MoneyPolicy
from backend.wechatpay.errors import (
    MerchantBalanceTooLow,
    OrderAlreadyPaid,
    OrderClosed,
    OrderNotFound,
    RefundRefused,
    WeChatPayError,
    WeChatPayNotConfigured,
    WeChatPayUnavailable,
)
from backend.wechatpay.gateway import REASON_MAX, PaymentParams, RefundStatus, TradeState, Transaction, WeChatPay
from backend.wechatpay.gateway import Refund as WeChatPayRefund

log = logging.getLogger(__name__)

# Where WeChat Pay posts its notices, under the public root in the settings (the API's routes are these).
PAYMENT_NOTICE_PATH = "/wechatpay/notices/payments"
REFUND_NOTICE_PATH = "/wechatpay/notices/refunds"
# What the payer sees in WeChat for the order (at most 127 characters).
ORDER_DESCRIPTION = "图书馆费用"
# WeChat Pay notices a payment within seconds: an order this old without one is asked about.
UNNOTICED_AFTER = timedelta(seconds=90)
# An open order is given again only if the reader has this long left to pay it.
STILL_PAYABLE = timedelta(minutes=2)
# Orders and refunds one run of a job looks after; the next run takes the rest.
BATCH = 200
_PAID = (TradeState.SUCCESS, TradeState.REFUND)  # REFUND: paid, then (partly) refunded
_REFUND_ENDS = {
    RefundStatus.SUCCESS: RefundState.SUCCEEDED,
    RefundStatus.CLOSED: RefundState.FAILED,
    RefundStatus.ABNORMAL: RefundState.ABNORMAL,
}


@dataclass(frozen=True, slots=True)
class WeChatPaySetup:
    """WeChat Pay as the money services use it: the adapter, where its notices come back, how long an order may be
    paid."""

    gateway: WeChatPay
    notify_base: str
    order_lifetime: timedelta

    @property
    def payment_notify_url(self) -> str:
        return self.notify_base.rstrip("/") + PAYMENT_NOTICE_PATH

    @property
    def refund_notify_url(self) -> str:
        return self.notify_base.rstrip("/") + REFUND_NOTICE_PATH


@dataclass(frozen=True, slots=True)
class StartedPayment:
    """An order made at WeChat Pay: what the mini-program hands `wx.requestPayment` to pay it."""

    payment: Payment
    params: PaymentParams


async def start_payment(
    wechatpay: WeChatPaySetup,
    payer: Reader,
    charge_ids: Sequence[int],
    *,
    everything: bool,
    deposit: bool,
    now: datetime,
    policy: MoneyPolicy,
    bus: EventBus,
) -> StartedPayment:
    """An order for the chosen charges of the payer's cards (`everything`: all they still owe) and, with `deposit`,
    what is missing of the deposit, made at WeChat Pay for the payer's WeChat account and expiring with it; the ledger
    computes the amount. The payer's open order of the very same lines is given again (a reader who dismissed WeChat's
    pay sheet and taps pay again), so a line stays in one order. A new order WeChat Pay refuses or cannot be reached
    for is closed again, its lines payable, and WeChat Pay's error raised."""
    if payer.openid is None:  # a card never logged in through the mini-program has no WeChat account to pay from
        raise WeChatPayNotConfigured()
    if everything:
        charge_ids = await _outstanding(payer)
    wanted = (frozenset(charge_ids), deposit)
    again = await _open_order_of(payer, wanted, now)
    if again is None:
        try:
            payment = await payments.open_payment(
                payer, charge_ids, now=now, expires_at=now + wechatpay.order_lifetime, policy=policy, deposit=deposit
            )
        except ChargeInPayment:  # the same lines asked for twice at once: the other request's order
            again = await _open_order_of(payer, wanted, now)
            if again is None:
                raise
        else:
            try:
                return await _at_wechatpay(wechatpay, payer.openid, payment)
            except Exception:
                # WeChat Pay may have made the order after all, and a concurrent tap for the same lines been given its
                # prepay_id: closed there first. Should that fail, the order stays open for `follow_payments`.
                try:
                    await _close(wechatpay.gateway, payment, now, bus)
                except WeChatPayError as exc:
                    log.warning("order %s left open for the job: %s", payment.out_trade_no, exc.code)
                raise
    return await _at_wechatpay(wechatpay, payer.openid, again)


async def _at_wechatpay(wechatpay: WeChatPaySetup, openid: str, payment: Payment) -> StartedPayment:
    # The same order sent again gets the same prepay_id.
    prepay_id = await wechatpay.gateway.create_jsapi_order(
        out_trade_no=payment.out_trade_no,
        description=ORDER_DESCRIPTION,
        total_fen=payment.amount_fen,
        payer_openid=openid,
        time_expire=payment.expires_at,
        notify_url=wechatpay.payment_notify_url,
    )
    return StartedPayment(payment, wechatpay.gateway.payment_params(prepay_id))


async def _outstanding(payer: Reader) -> list[int]:
    lines, _ = await ledger.charge_lines(
        await ledger.cards_paid_by(payer), outstanding_only=True, limit=payments.MAX_LINES + 1, offset=0
    )
    return [line.charge.id for line in lines]


async def _open_order_of(payer: Reader, wanted: tuple[frozenset[int], bool], now: datetime) -> Payment | None:
    """The payer's open order of exactly these lines (and the deposit or not), payable a while yet."""
    orders = await Payment.filter(
        payer_id=payer.id, state=PaymentState.OPEN, expires_at__gt=now + STILL_PAYABLE
    ).order_by("id")
    lines = await PaymentLine.filter(payment_id__in=[order.id for order in orders]).values_list(
        "payment_id", "charge_id"
    )
    for order in orders:
        charges = [charge for payment_id, charge in lines if payment_id == order.id]
        if (frozenset(c for c in charges if c is not None), None in charges) == wanted:
            return order
    return None


async def payer_payment(payer: Reader, out_trade_no: str) -> Payment:
    """One of the payer's orders; anyone else's is `payment_not_found`."""
    found = await payments.payment(out_trade_no)
    if found.payer_id != payer.id:
        raise PaymentNotFound()
    return found


async def check_payment(gateway: WeChatPay, payment: Payment, now: datetime, *, bus: EventBus) -> Payment:
    """The order again, after asking WeChat Pay about it if it is still open (the reader says they paid and the
    notice has not come yet): a payment WeChat Pay took is settled now."""
    if payment.state is PaymentState.OPEN:
        try:
            transaction = await gateway.query_order(payment.out_trade_no)
        except OrderNotFound:  # never made at WeChat Pay: nothing was paid
            return payment
        await settle_if_paid(transaction, now, bus=bus)
        await payment.refresh_from_db()
    return payment


async def settle_if_paid(transaction: Transaction, now: datetime, *, bus: EventBus) -> Settled | None:
    """A genuine payment notice, or a query's answer: settle its order (once, however often it comes). None: it
    reports no payment."""
    if transaction.trade_state not in _PAID or transaction.transaction_id is None:
        return None
    # The order's total, not what the payer paid: a coupon may have paid part of it.
    return await payments.settle_payment(
        transaction.out_trade_no,
        transaction.transaction_id,
        transaction.total_fen,
        transaction.success_time or now,
        bus=bus,
    )


async def finish_refund(refund: WeChatPayRefund, now: datetime) -> Refund | None:
    """A genuine refund notice, or a refund's answer: the refund succeeded, failed or is abnormal (once; an abnormal
    one may still succeed or close). None: not one of ours, or still processing."""
    if refund.status is RefundStatus.PROCESSING:
        return None
    if refund.status is RefundStatus.CLOSED:
        # The money stays with the library and the refund no longer counts, so staff can give it back another way (a
        # deposit's is held on the card again, for a desk to hand back).
        log.warning("WeChat Pay refund %s closed: staff must refund it otherwise", refund.out_refund_no)
    elif refund.status is RefundStatus.ABNORMAL:
        # The payer's account cannot take it back: it still counts, as WeChat Pay's merchant platform may send it on.
        log.warning("WeChat Pay refund %s is abnormal: staff must see to it at WeChat Pay", refund.out_refund_no)
    try:
        return await refunds.finish_refund(
            refund.out_refund_no, _REFUND_ENDS[refund.status], refund.success_time or now
        )
    except RefundNotFound:
        log.warning("WeChat Pay reported refund %s, which is not ours", refund.out_refund_no)
        return None


# --- the worker's jobs -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FollowedPayments:
    settled: int
    closed: int


async def follow_payments(gateway: WeChatPay, now: datetime, *, bus: EventBus) -> FollowedPayments:
    """Open orders whose notice is late are asked about, the expired first: paid ones are settled; unpaid ones past
    their expiry are closed at WeChat Pay and then here, their lines payable again (one paid meanwhile is settled
    instead). One paid otherwise than it fits (an anomaly, kept for staff) is closed here once it expires. Stops at
    the first `WeChatPayUnavailable`, which the next run tries again."""
    due = (
        await Payment.filter(state=PaymentState.OPEN, created_at__lt=now - UNNOTICED_AFTER)
        .order_by("expires_at", "id")
        .limit(BATCH)
    )
    settled = closed = 0
    for payment in due:
        try:
            transaction: Transaction | None = await gateway.query_order(payment.out_trade_no)
        except OrderNotFound:  # never made at WeChat Pay (the process stopped in between): nobody can pay it
            transaction = None
        outcome = None if transaction is None else await settle_if_paid(transaction, now, bus=bus)
        if outcome is Settled.SETTLED:
            settled += 1
        elif payment.expires_at > now:
            continue
        elif outcome is None:
            closed += await _close(gateway, payment, now, bus)
        else:  # paid at WeChat Pay, but not as the order says: closing it there would only answer ORDERPAID
            closed += await payments.close_payment(payment.out_trade_no, now)
    return FollowedPayments(settled, closed)


async def _close(gateway: WeChatPay, payment: Payment, now: datetime, bus: EventBus) -> bool:
    """Close the order at WeChat Pay, then here; False if it was paid meanwhile (then settled) or not open here."""
    try:
        await gateway.close_order(payment.out_trade_no)
    except OrderAlreadyPaid:
        await settle_if_paid(await gateway.query_order(payment.out_trade_no), now, bus=bus)
        return False
    except (OrderNotFound, OrderClosed):  # never made there, or closed there already (its time_expire passed)
        pass
    return await payments.close_payment(payment.out_trade_no, now)


async def forged_notice(sender: str, now: datetime) -> None:
    """A notice whose signature is not WeChat Pay's, for staff: one anomaly per sender a minute, however many come."""
    minute = now.replace(second=0, microsecond=0).isoformat()
    await PaymentAnomaly.bulk_create(
        [
            PaymentAnomaly(
                kind=AnomalyKind.FORGED_NOTICE,
                out_trade_no="",
                transaction_id=sender[:64],
                amount_fen=0,
                occasion=f"{AnomalyKind.FORGED_NOTICE.value}:{sender[:64]}:{minute}",
                created_at=now,
            )
        ],
        ignore_conflicts=True,
    )


@dataclass(frozen=True, slots=True)
class SentRefunds:
    succeeded: int
    failed: int
    pending: int


async def send_refunds(wechatpay: WeChatPaySetup, now: datetime) -> SentRefunds:
    """Pending WeChat Pay refunds (a staff refund of a WeChat Pay settlement, a line settled otherwise while its order
    was being paid, a deposit given back) are asked of WeChat Pay under our out_refund_no, again each run until they
    end (WeChat Pay refunds one number once). Stops at the first `WeChatPayUnavailable`, which the next run tries
    again."""
    pending = (
        await Refund.filter(state=RefundState.PENDING, channel=Channel.WECHAT_PAY)
        .select_related("payment")
        .order_by("created_at", "id")
        .limit(BATCH)
    )
    outcome = {RefundState.SUCCEEDED: 0, RefundState.FAILED: 0, RefundState.PENDING: 0, RefundState.ABNORMAL: 0}
    for refund in pending:
        try:
            finished = await finish_refund(await _refund_at_wechatpay(wechatpay, refund), now)
        except (RefundRefused, OrderNotFound) as exc:
            log.error(
                "WeChat Pay refused refund %s (%s %s): staff must refund it otherwise",
                refund.out_refund_no,
                exc.wechatpay_code,
                exc.wechatpay_message,
            )
            finished = await refunds.finish_refund(refund.out_refund_no, RefundState.FAILED, now)
        except MerchantBalanceTooLow:
            log.warning("refund %s waits: the merchant account cannot cover it now", refund.out_refund_no)
            finished = None
        except WeChatPayUnavailable:
            raise
        except WeChatPayError as exc:  # our request or merchant settings are wrong: kept until they are mended
            log.error(
                "WeChat Pay rejected refund %s: %s %s", refund.out_refund_no, exc.wechatpay_code, exc.wechatpay_message
            )
            finished = None
        outcome[finished.state if finished is not None else RefundState.PENDING] += 1
    failed = outcome[RefundState.FAILED] + outcome[RefundState.ABNORMAL]  # either way, for staff to see to
    return SentRefunds(outcome[RefundState.SUCCEEDED], failed, outcome[RefundState.PENDING])


async def _refund_at_wechatpay(wechatpay: WeChatPaySetup, refund: Refund) -> WeChatPayRefund:
    # Asked again under the same out_refund_no, WeChat Pay refunds once and answers where that refund stands.
    payment = refund.payment
    assert payment is not None  # a WeChat Pay refund is of a payment (a constraint)
    return await wechatpay.gateway.create_refund(
        out_refund_no=refund.out_refund_no,
        out_trade_no=payment.out_trade_no,
        refund_fen=refund.amount_fen,
        total_fen=payment.amount_fen,
        notify_url=wechatpay.refund_notify_url,
        reason=refund.reason[:REASON_MAX],
    )
