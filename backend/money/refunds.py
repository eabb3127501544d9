"""What can still be refunded, and a WeChat Pay refund's outcome. Refunds that have not failed count against what
they refund; the caller holds the row locks of the settlement and of its payment."""

from __future__ import annotations

import secrets
from datetime import datetime

from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from backend.accounts.services import lock_card
from backend.money.errors import RefundNotFound
from backend.money.models import Channel, DepositKind, DepositLine, Payment, Refund, RefundState, Settlement


def new_refund_no() -> str:
    """Our `out_refund_no`: unguessable, 31 characters (WeChat Pay takes up to 64)."""
    return "R" + secrets.token_hex(15)


def deposit_refund_occasion(out_refund_no: str) -> str:
    """The occasion of the deposit line a WeChat Pay refund gives back: how its failure finds it."""
    return f"{DepositKind.REFUNDED.value}:refund:{out_refund_no}"


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
    way). A deposit's refund that failed holds the deposit again, to be handed back at a desk. Once: a repeated
    word changes nothing."""
    unfinished = [RefundState.PENDING] if state is RefundState.ABNORMAL else [RefundState.PENDING, RefundState.ABNORMAL]
    async with in_transaction():
        ended = await Refund.filter(out_refund_no=out_refund_no, state__in=unfinished).update(
            state=state, finished_at=at
        )
        refund = await Refund.get_or_none(out_refund_no=out_refund_no)
        if ended and state is RefundState.FAILED:
            await _deposit_held_again(out_refund_no, at)
    if refund is None:
        raise RefundNotFound()
    return refund


async def _deposit_held_again(out_refund_no: str, at: datetime) -> None:
    given_back = await DepositLine.get_or_none(occasion=deposit_refund_occasion(out_refund_no))
    if given_back is None or given_back.reader_id is None:  # not a deposit's refund, or a child's card removed since
        return
    await lock_card(given_back.reader_id)
    # No payment named: WeChat Pay would not return it, so the card's deposit parts count it as the desk's to hand
    # back (`ledger.deposit_parts`), and the reader's account shows it held and refundable at a desk.
    await DepositLine.create(
        reader_id=given_back.reader_id,
        kind=DepositKind.PAID,
        amount_fen=given_back.amount_fen,
        channel=Channel.WECHAT_PAY,
        occasion=f"{DepositKind.PAID.value}:refund:{out_refund_no}",
        created_at=at,
    )
