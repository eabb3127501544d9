"""Withdrawing a fee whose service did not happen (a delivery cancelled, a courier pickup called off), or the part of
it that no longer applies, by the service itself: what is still owed is waived, what was paid by WeChat Pay is
refunded.

Exactly once however often or concurrently it is asked: each call works under the charge's row lock (the lock every
settlement of it is written under, so a payment being settled at the same moment goes first or sees the waiver and
refunds itself), the waiver's occasion is unique, and a refund counts against what is left of its settlement and of
its payment (`refunds.refundable_fen`). Money taken at a desk is not given back here: the reader collects it at a
desk, where staff refund it (`desk.refund`), as the service cannot hand out cash.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.transactions import in_transaction

from backend.money import ledger
from backend.money.models import Channel, Charge, Payment, Refund, RefundState, Settlement, SettlementKind
from backend.money.refunds import new_refund_no, refundable_fen


async def withdraw_charge(charge_id: int, reason: str, now: datetime) -> list[Refund]:
    """The whole charge is withdrawn: its outstanding part waived (no staff, `reason` as the note), each WeChat Pay
    settlement's part not yet refunded refunded (pending: the `send_refunds` job asks WeChat Pay). Returns the refunds
    made by this call (none the second time)."""
    async with in_transaction():
        charge = await _locked(charge_id)
        await _waive(charge, await ledger.outstanding_fen(charge), reason, now, f"withdrawn:charge:{charge.id}")
        return await _refund(charge, None, reason, now)


async def refund_part(charge_id: int, amount_fen: int, reason: str, now: datetime) -> list[Refund]:
    """The fee came to `amount_fen` less (a book dropped from a delivery): that much of what is still owed is waived,
    and what is left of it refunded from what WeChat Pay took. The caller makes each reduction once (it changes its
    own row in the same transaction)."""
    async with in_transaction():
        charge = await _locked(charge_id)
        outstanding = await ledger.outstanding_fen(charge)
        waived = min(outstanding, amount_fen)
        count = await Settlement.filter(charge_id=charge.id).count()
        await _waive(charge, waived, reason, now, f"reduced:charge:{charge.id}:{count + 1}")
        return await _refund(charge, amount_fen - waived, reason, now)


async def _locked(charge_id: int) -> Charge:
    return await Charge.select_for_update().get(id=charge_id)


async def _waive(charge: Charge, amount: int, reason: str, now: datetime, occasion: str) -> None:
    if amount <= 0:
        return
    await Settlement.bulk_create(
        [
            Settlement(
                charge_id=charge.id,
                kind=SettlementKind.WAIVER,
                amount_fen=amount,
                library_id=charge.library_id,  # the service waives it for the library whose revenue it was
                note=reason[:200],
                occasion=f"{SettlementKind.WAIVER.value}:{occasion}",
                created_at=now,
            )
        ],
        ignore_conflicts=True,
    )


async def _refund(charge: Charge, up_to: int | None, reason: str, now: datetime) -> list[Refund]:
    """Refund what WeChat Pay took for the charge (None: all of it not yet refunded), the latest payment first."""
    made = []
    paid = await Settlement.filter(charge_id=charge.id, kind=SettlementKind.WECHAT_PAY).order_by("-id")
    for settlement in paid:
        if up_to is not None and up_to <= 0:
            break
        assert settlement.payment_id is not None
        # The payment's row first, as a staff refund of it takes it: every refund of the payment counts against it.
        await Payment.select_for_update().get(id=settlement.payment_id)
        amount = await refundable_fen(settlement)
        if up_to is not None:
            amount = min(amount, up_to)
            up_to -= amount
        if amount <= 0:
            continue
        made.append(
            await Refund.create(
                out_refund_no=new_refund_no(),
                settlement=settlement,
                payment_id=settlement.payment_id,
                charge_id=charge.id,
                channel=Channel.WECHAT_PAY,
                amount_fen=amount,
                state=RefundState.PENDING,
                reason=reason[:200],
                created_at=now,
            )
        )
    return made
