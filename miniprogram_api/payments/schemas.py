"""Paying by WeChat Pay as the mini-program sees it (what it hands `wx.requestPayment`), and the reconciliation with
WeChat Pay's bill as staff see it. Every amount is integer fen, computed by the server: a client never sends one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

from backend.money.models import Payment, PaymentState
from backend.money.payments import MAX_LINES
from backend.money.reconciliation import DifferenceKind, Reconciled, Reconciliation, ReconciliationDifference
from backend.money.wechat_pay import StartedPayment
from miniprogram_api.schemas import INT64_MAX, Page, named

ChargeId = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    """What to pay: chosen lines, or all of them; and the deposit. The server works out the amount."""

    charge_ids: Annotated[list[ChargeId], msgspec.Meta(max_length=MAX_LINES)] = []
    """Lines of my account (my card's or my children's) to pay in full."""
    all: bool = False
    """Every line still owed on my cards and my children's, instead of `charge_ids`."""
    deposit: bool = False
    """The deposit too (what is missing of it), or alone."""


class RequestPaymentOut(msgspec.Struct, rename="camel"):
    """The parameters of `wx.requestPayment`, as WeChat names them: pass the object as it is."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str


class PaymentStartedOut(msgspec.Struct):
    """An order to pay now with `wx.requestPayment`; its result is told by `GET /readers/me/payments/{out_trade_no}`."""

    out_trade_no: str
    """Our order number, as WeChat Pay shows it in the payment's details."""
    amount_fen: int
    expires_at: datetime
    """Unpaid by then, the order is closed and its lines can be paid again."""
    request_payment: RequestPaymentOut

    @classmethod
    def of(cls, started: StartedPayment) -> PaymentStartedOut:
        params = started.params
        return cls(
            started.payment.out_trade_no,
            started.payment.amount_fen,
            started.payment.expires_at,
            RequestPaymentOut(
                params.app_id, params.time_stamp, params.nonce_str, params.package, params.sign_type, params.pay_sign
            ),
        )


class PaymentOut(msgspec.Struct):
    """One of my orders and where it stands."""

    out_trade_no: str
    state: PaymentState
    """`open`: waiting to be paid (its lines are held); `paid`: its lines are settled; `closed`: never paid, its lines
    payable again."""
    amount_fen: int
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    transaction_id: str | None
    """WeChat Pay's number for the payment, once paid."""

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            payment.out_trade_no,
            payment.state,
            payment.amount_fen,
            payment.created_at,
            payment.expires_at,
            payment.paid_at,
            payment.transaction_id,
        )


class ReconciliationOut(msgspec.Struct):
    """A day of WeChat Pay's trade bill reconciled with our records."""

    day: date
    """WeChat Pay's day (China time)."""
    trades: int
    """Payments and refunds the bill listed."""
    differences: int
    reconciled_at: datetime

    @classmethod
    def of(cls, run: Reconciliation) -> ReconciliationOut:
        return cls(run.day, run.trades, run.differences, run.reconciled_at)


ReconciliationPage = Annotated[Page[ReconciliationOut], named("ReconciliationPage")]


class DifferenceOut(msgspec.Struct):
    """Where WeChat Pay's bill and our records differ: to look into with WeChat Pay's merchant platform."""

    id: int
    kind: DifferenceKind
    """`unknown_order`: WeChat Pay took a payment for an order we do not have; `not_settled`: for an order of ours we
    never settled; `missing_from_bill`: we settled an order that day the bill does not list; `amount_differs`: the
    bill's amount or transaction is not ours; `unknown_refund`, `refund_not_finished`, `refund_missing_from_bill`,
    `refund_amount_differs`: the same for refunds."""
    out_trade_no: str
    out_refund_no: str | None
    transaction_id: str
    ours_fen: int | None
    """What our records say; null: we have no such record."""
    wechatpay_fen: int | None
    """What the bill says; null: the bill does not list it."""
    found_at: datetime

    @classmethod
    def of(cls, found: ReconciliationDifference) -> DifferenceOut:
        return cls(
            found.id,
            found.kind,
            found.out_trade_no,
            found.out_refund_no,
            found.transaction_id,
            found.ours_fen,
            found.wechatpay_fen,
            found.found_at,
        )


class ReconciledDayPage(Page[DifferenceOut], kw_only=True):
    """A page of a day's differences, and the day's reconciliation (null: not reconciled yet)."""

    day: date
    reconciliation: ReconciliationOut | None

    @classmethod
    def seen(cls, found: Reconciled, limit: int, offset: int) -> ReconciledDayPage:
        run = ReconciliationOut.of(found.run) if found.run is not None else None
        items = [DifferenceOut.of(difference) for difference in found.differences]
        return cls.of(items, found.total, limit, offset, day=found.day, reconciliation=run)
