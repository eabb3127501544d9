"""What can still be refunded, and a WeChat Pay refund's outcome. Refunds that have not failed count against what
they refund; the caller holds the row locks of the settlement and of its payment."""

from __future__ import annotations

import secrets
from datetime import datetime

from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from backend.money.errors import RefundNotFound
from backend.money.models import Payment, Refund, RefundState, Settlement


def new_refund_no() -> str:
    """Our `out_refund_no`: unguessable, 31 characters (WeChat Pay takes up to 64)."""
    return "R" + secrets.token_hex(15)


async def refunded_fen(**of: int) -> int:
    """What refunds that have not failed come to, of a settlement (`settlement_id=`) or a payment (`payment_id=`)."""
    rows = await Refund.filter(**of).exclude(state=RefundState.FAILED).annotate(total=Sum("amount_fen")).values("total")
    return int(rows[0]["total"] or 0)


async def refundable_fen(settlement: Settlement) -> int:
    """What may still be refunded of a settlement: what it took less its refunds, and, taken by WeChat Pay, no more
    than its payment has left (every refund of the payment counts)."""
    left = settlement.amount_fen - await refunded_fen(settlement_id=settlement.id)
    if settlement.payment_id is not None:
        payment = await Payment.get(id=settlement.payment_id)
        left = min(left, payment.amount_fen - await refunded_fen(payment_id=payment.id))
    return max(left, 0)


async def finish_refund(out_refund_no: str, state: RefundState, at: datetime) -> Refund:
    """WeChat Pay's word on a pending refund (its notice, or a query): returned, failed (then it no longer counts
    against what was paid, and staff may refund again) or abnormal (still counted: an abnormal one may yet end either
    way). Once: a repeated word changes nothing."""
    unfinished = [RefundState.PENDING] if state is RefundState.ABNORMAL else [RefundState.PENDING, RefundState.ABNORMAL]
    async with in_transaction():
        await Refund.filter(out_refund_no=out_refund_no, state__in=unfinished).update(state=state, finished_at=at)
        refund = await Refund.get_or_none(out_refund_no=out_refund_no)
    if refund is None:
        raise RefundNotFound()
    return refund
