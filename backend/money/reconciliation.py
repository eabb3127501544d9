"""The daily reconciliation with WeChat Pay: its trade bill of a day against our payments and refunds, each difference
kept for staff (an order paid at WeChat Pay that we do not have, one of ours missing from the bill, amounts that
differ, and the same for refunds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.money.models import Channel, Payment, PaymentState, Refund, RefundState
from backend.wechatpay.bill import WECHATPAY_ZONE, TradeBillRow
from backend.wechatpay.gateway import WeChatPay

_PAYMENT_ROW = "SUCCESS"  # a bill line's trade_state: a payment
_REFUND_ROW = "REFUND"  # a refund of one
_SUCCEEDED = "SUCCESS"  # a refund line's refund_status


class DifferenceKind(StrEnum):
    UNKNOWN_ORDER = "unknown_order"  # paid at WeChat Pay, no such order of ours
    NOT_SETTLED = "not_settled"  # paid at WeChat Pay, our order open or closed
    MISSING_FROM_BILL = "missing_from_bill"  # settled by us that day, not in the bill
    AMOUNT_DIFFERS = "amount_differs"  # the bill's total (or transaction) is not our order's
    UNKNOWN_REFUND = "unknown_refund"  # refunded at WeChat Pay, no such refund of ours
    REFUND_NOT_FINISHED = "refund_not_finished"  # refunded at WeChat Pay, ours pending or failed
    REFUND_MISSING_FROM_BILL = "refund_missing_from_bill"  # succeeded for us that day, not in the bill
    REFUND_AMOUNT_DIFFERS = "refund_amount_differs"


class Reconciliation(Model):
    """One day's bill reconciled: how many trades it listed and how many differences were found."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField(unique=True)  # WeChat Pay's (China time)
    trades = fields.IntField()
    differences = fields.IntField()
    reconciled_at = fields.DatetimeField()

    class Meta:
        table = "money_reconciliation"


class ReconciliationDifference(Model):
    """A difference between WeChat Pay's bill of a day and our records, for staff to look into. Written once per fact
    however often the day is reconciled (`occasion`)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    kind = fields.CharEnumField(DifferenceKind, max_length=30)
    out_trade_no = fields.CharField(max_length=64)
    out_refund_no = fields.CharField(max_length=64, null=True)
    transaction_id = fields.CharField(max_length=64, default="")  # WeChat Pay's, when it has one
    ours_fen = fields.IntField(null=True)  # what our records say, when they have it
    wechatpay_fen = fields.IntField(null=True)  # what the bill says, when it lists it
    occasion = fields.CharField(max_length=200, unique=True)
    found_at = fields.DatetimeField()

    class Meta:
        table = "money_reconciliation_difference"
        indexes = (("day", "id"),)


def bill_day(moment: datetime) -> date:
    return moment.astimezone(WECHATPAY_ZONE).date()


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), WECHATPAY_ZONE)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def reconcile(gateway: WeChatPay, day: date, now: datetime) -> Reconciliation:
    """Download WeChat Pay's trade bill of `day` (China time) and record every difference from our payments and
    refunds: what the bill lists against our records, and what we settled or refunded that day against the bill.
    Again for the same day: what was found before is not repeated. `BillNotReady` before WeChat Pay has made it."""
    bill = await gateway.trade_bill(day)
    start, end = _bounds(day)
    found = await _order_differences(bill.rows, start, end) + await _refund_differences(bill.rows, start, end)
    async with in_transaction():
        await ReconciliationDifference.bulk_create(
            [
                ReconciliationDifference(
                    day=day,
                    kind=f.kind,
                    out_trade_no=f.out_trade_no[:64],
                    out_refund_no=f.out_refund_no[:64] if f.out_refund_no else None,
                    transaction_id=f.transaction_id[:64],
                    ours_fen=f.ours_fen,
                    wechatpay_fen=f.wechatpay_fen,
                    occasion=f"{day}:{f.kind.value}:{f.out_trade_no[:64]}:{(f.out_refund_no or '')[:64]}",
                    found_at=now,
                )
                for f in found
            ],
            ignore_conflicts=True,
        )
        differences = await ReconciliationDifference.filter(day=day).count()
        run, _ = await Reconciliation.update_or_create(
            defaults={"trades": len(bill.rows), "differences": differences, "reconciled_at": now}, day=day
        )
    return run


@dataclass(frozen=True, slots=True)
class _Found:
    kind: DifferenceKind
    out_trade_no: str
    out_refund_no: str | None = None
    transaction_id: str = ""
    ours_fen: int | None = None
    wechatpay_fen: int | None = None


async def _order_differences(rows: Sequence[TradeBillRow], start: datetime, end: datetime) -> list[_Found]:
    billed = {row.out_trade_no: row for row in rows if row.trade_state == _PAYMENT_ROW}
    ours = {
        p.out_trade_no: p
        for p in await Payment.filter(
            Q(out_trade_no__in=list(billed)) | Q(state=PaymentState.PAID, paid_at__gte=start, paid_at__lt=end)
        )
    }
    found = []
    for number, row in billed.items():
        mine = ours.get(number)
        if (kind := _order_difference(mine, row)) is not None:
            found.append(
                _Found(kind, number, None, row.transaction_id, mine.amount_fen if mine else None, row.total_fen)
            )
    found += [
        _Found(DifferenceKind.MISSING_FROM_BILL, number, None, mine.transaction_id or "", mine.amount_fen)
        for number, mine in ours.items()
        if number not in billed and mine.paid_at is not None and start <= mine.paid_at < end
    ]
    return found


async def _refund_differences(rows: Sequence[TradeBillRow], start: datetime, end: datetime) -> list[_Found]:
    billed = {row.out_refund_no: row for row in rows if row.trade_state == _REFUND_ROW and row.out_refund_no}
    ours = {
        r.out_refund_no: r
        for r in await Refund.filter(
            Q(out_refund_no__in=list(billed))
            | Q(channel=Channel.WECHAT_PAY, state=RefundState.SUCCEEDED, finished_at__gte=start, finished_at__lt=end)
        ).select_related("payment")
    }
    found = []
    for number, row in billed.items():
        mine = ours.get(number)
        if (kind := _refund_difference(mine, row)) is not None:
            found.append(
                _Found(
                    kind,
                    row.out_trade_no,
                    number,
                    row.transaction_id,
                    mine.amount_fen if mine else None,
                    row.refund_fen,
                )
            )
    found += [
        _Found(
            DifferenceKind.REFUND_MISSING_FROM_BILL,
            mine.payment.out_trade_no if mine.payment else "",
            number,
            (mine.payment.transaction_id or "") if mine.payment else "",
            mine.amount_fen,
        )
        for number, mine in ours.items()
        if number not in billed
        and mine.state is RefundState.SUCCEEDED
        and mine.finished_at is not None
        and start <= mine.finished_at < end
    ]
    return found


def _order_difference(mine: Payment | None, row: TradeBillRow) -> DifferenceKind | None:
    if mine is None:
        return DifferenceKind.UNKNOWN_ORDER
    if mine.state is not PaymentState.PAID:
        return DifferenceKind.NOT_SETTLED
    if (mine.amount_fen, mine.transaction_id) != (row.total_fen, row.transaction_id):
        return DifferenceKind.AMOUNT_DIFFERS
    return None


def _refund_difference(mine: Refund | None, row: TradeBillRow) -> DifferenceKind | None:
    if mine is None:
        return DifferenceKind.UNKNOWN_REFUND
    if mine.state is not RefundState.SUCCEEDED and row.refund_status in (None, _SUCCEEDED):
        return DifferenceKind.REFUND_NOT_FINISHED
    if mine.amount_fen != row.refund_fen:
        return DifferenceKind.REFUND_AMOUNT_DIFFERS
    return None


@dataclass(frozen=True, slots=True)
class Reconciled:
    """A day as staff see it: its reconciliation (none: not reconciled yet) and a page of its differences."""

    day: date
    run: Reconciliation | None
    differences: list[ReconciliationDifference]
    total: int


async def reconciled_day(staff: StaffUser, day: date, *, limit: int, offset: int) -> Reconciled:
    """The differences found for a day's bill, in the order found (network administrators: payments are the
    network's)."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    query = ReconciliationDifference.filter(day=day).order_by("id")
    differences, total = await paging.page(query, limit, offset)
    return Reconciled(day, await Reconciliation.get_or_none(day=day), differences, total)


async def reconciliations(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[Reconciliation], int]:
    """The days reconciled, the latest first, with their counts (network administrators)."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    return await paging.page(Reconciliation.all().order_by("-day"), limit, offset)
