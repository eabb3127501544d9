"""Payment orders for chosen lines of a payer's account, and settling them from the payment provider's facts.

Provider-agnostic: the WeChat Pay adapter verifies a notice or queries an order, then calls `settle_payment` with
the facts; nothing here talks to WeChat Pay. An order reserves its charges while open (one open order per charge,
a partial unique index), so no line is paid twice across two orders; it settles exactly once however often it is
reported (a conditional update of its state); a line whose charge was settled meanwhile (a desk, a waiver) is
refunded, never settled twice; a fact that does not fit the order changes nothing and is kept for staff."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.services import lock_card
from backend.accounts.staff import require_role
from backend.eventbus import EventBus, record
from backend.money import ledger
from backend.money.domain_events import ChargePaid
from backend.money.errors import (
    ChargeInPayment,
    ChargeNotFound,
    ChargeSettled,
    DepositHeld,
    DepositInPayment,
    NothingToPay,
    NotPayer,
    PaymentNotFound,
    TooManyLines,
)
from backend.money.models import (
    AnomalyKind,
    Channel,
    Charge,
    DepositKind,
    DepositLine,
    Payment,
    PaymentAnomaly,
    PaymentLine,
    PaymentState,
    Refund,
    Settlement,
    SettlementKind,
)
from backend.money.policy import MoneyPolicy
from backend.money.refunds import new_refund_no

MAX_LINES = 50
TRANSACTION_ID_MAX = 32  # WeChat Pay's transaction ids, and our column


def new_out_trade_no() -> str:
    """Our `out_trade_no`: unguessable, 31 characters (WeChat Pay takes 6 to 32)."""
    return "P" + secrets.token_hex(15)


async def open_payment(
    payer: Reader,
    charge_ids: Sequence[int],
    *,
    now: datetime,
    expires_at: datetime,
    policy: MoneyPolicy,
    deposit: bool = False,
) -> Payment:
    """An open order for what the chosen charges (the payer's own or their children's) still come to, and with
    `deposit` what is missing of the payer's deposit: the server computes every amount. The charges are reserved
    until the order is paid or closed: one already in an open order is `ChargeInPayment`, one settled
    `ChargeSettled`."""
    ids = sorted(set(charge_ids))
    if len(ids) > MAX_LINES:
        raise TooManyLines(limit=MAX_LINES)
    if not ids and not deposit:
        raise NothingToPay()
    async with in_transaction():
        # In id order, as every writer that locks several charges does: two orders of overlapping lines queue.
        charges = await Charge.select_for_update().filter(id__in=ids).order_by("id")
        if len(charges) != len(ids):
            raise ChargeNotFound()
        payable = set(await ledger.cards_paid_by(payer))
        if any(charge.reader_id not in payable for charge in charges):
            raise NotPayer()
        in_payment = await ledger.reserved(ids)
        outstanding = await ledger.outstanding_of(ids)
        lines = []
        for charge in charges:
            if charge.id in in_payment:
                raise ChargeInPayment()
            if outstanding[charge.id] <= 0:
                raise ChargeSettled()
            lines.append(PaymentLine(charge_id=charge.id, amount_fen=outstanding[charge.id]))
        if deposit:
            # The card's lock, as a desk taking the deposit holds it: two deposit orders, or an order and a desk,
            # take turns, and the second sees the first.
            await lock_card(payer.id)
            if await ledger.deposit_in_payment(payer.id):
                raise DepositInPayment()
            held = await ledger.deposit_fen(payer.id)
            if held >= policy.deposit_fen:
                raise DepositHeld(held_fen=held)
            lines.append(
                PaymentLine(charge_id=None, amount_fen=policy.deposit_fen - held, deposit_to_fen=policy.deposit_fen)
            )
        payment = await Payment.create(
            out_trade_no=new_out_trade_no(),
            payer=payer,
            amount_fen=sum(line.amount_fen for line in lines),
            expires_at=expires_at,
            created_at=now,
        )
        for line in lines:
            line.payment_id = payment.id
        try:
            await PaymentLine.bulk_create(lines)
        except IntegrityError:  # the partial unique index: another order took a line meanwhile
            raise ChargeInPayment() from None
    return payment


class Settled(StrEnum):
    """What `settle_payment` made of a payment fact."""

    SETTLED = "settled"  # the order is paid now: its lines settled (or refunded, if settled meanwhile)
    ALREADY_SETTLED = "already_settled"  # reported before: nothing changed
    ANOMALY = "anomaly"  # does not fit the order: nothing changed, kept for staff (`anomalies`)


async def settle_payment(
    out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, *, bus: EventBus
) -> Settled:
    """Record that the provider took `amount_fen` for our order `out_trade_no` under its `transaction_id`. Exactly
    once, however often and however concurrently it is called: the order's state changes from open (or closed,
    should the provider have taken the money anyway) to paid by one conditional update, and only that caller
    settles its lines. Each line settles what its charge still comes to; what a waiver or a desk took meanwhile is
    refunded (a pending refund of the payment). A deposit line adds to the payer's deposit. An unknown order, an
    amount other than the order's, a second transaction or a transaction id that cannot be the order's (too long, or
    another order's) changes nothing: an anomaly row records it once. A charge the payment settles in full is
    `ChargePaid`, handled in the same transaction."""
    if len(transaction_id) <= TRANSACTION_ID_MAX:
        try:
            return await _settle(out_trade_no, transaction_id, amount_fen, paid_at, bus)
        except _TransactionTaken:
            pass
    payment = await Payment.get_or_none(out_trade_no=out_trade_no)
    await _anomaly(payment, out_trade_no, transaction_id, amount_fen, paid_at, AnomalyKind.BAD_TRANSACTION)
    return Settled.ANOMALY


class _TransactionTaken(Exception):
    """The transaction id is another order's already (its unique index): the whole transaction is given up."""


async def _settle(out_trade_no: str, transaction_id: str, amount_fen: int, paid_at: datetime, bus: EventBus) -> Settled:
    async with bus.transaction():
        try:
            paid = await Payment.filter(
                out_trade_no=out_trade_no,
                state__in=(PaymentState.OPEN, PaymentState.CLOSED),
                amount_fen=amount_fen,
            ).update(state=PaymentState.PAID, transaction_id=transaction_id, paid_at=paid_at)
        except IntegrityError:
            raise _TransactionTaken() from None
        payment = await Payment.get_or_none(out_trade_no=out_trade_no)
        if not paid:
            if payment is not None and payment.state is PaymentState.PAID and payment.transaction_id == transaction_id:
                return Settled.ALREADY_SETTLED
            await _anomaly(payment, out_trade_no, transaction_id, amount_fen, paid_at)
            return Settled.ANOMALY
        assert payment is not None
        await _settle_lines(payment, paid_at)
    return Settled.SETTLED


async def _settle_lines(payment: Payment, paid_at: datetime) -> None:
    await PaymentLine.filter(payment_id=payment.id).update(open=False)
    lines = await PaymentLine.filter(payment_id=payment.id).order_by("charge_id")
    charge_ids = [line.charge_id for line in lines if line.charge_id is not None]
    # In id order, as every writer that locks several charges does.
    charges = {c.id: c for c in await Charge.select_for_update().filter(id__in=charge_ids).order_by("id")}
    outstanding = await ledger.outstanding_of(charge_ids)
    for line in lines:
        if line.charge_id is None:
            settled = await _add_deposit(payment, line, paid_at)
            reason = "押金已另行交付 / deposit paid otherwise meanwhile"
        else:
            charge = charges[line.charge_id]
            settled = min(line.amount_fen, max(outstanding[charge.id], 0))
            if settled:
                await Settlement.create(
                    charge=charge,
                    kind=SettlementKind.WECHAT_PAY,
                    amount_fen=settled,
                    payment=payment,
                    occasion=f"{SettlementKind.WECHAT_PAY.value}:payment:{payment.out_trade_no}:charge:{charge.id}",
                    created_at=paid_at,
                )
                if settled == outstanding[charge.id]:
                    record(ChargePaid(charge.id, charge.reader_id, charge.kind, charge.source, paid_at))
            reason = "该费用已另行结清 / settled otherwise meanwhile"
        if line.amount_fen > settled:
            await Refund.create(
                out_refund_no=new_refund_no(),
                payment=payment,
                charge_id=line.charge_id,
                channel=Channel.WECHAT_PAY,
                amount_fen=line.amount_fen - settled,
                reason=reason,
                created_at=paid_at,
            )


async def _add_deposit(payment: Payment, line: PaymentLine, paid_at: datetime) -> int:
    """Add what is still missing of the deposit the order aimed at (a desk may have taken it meanwhile), under the
    card's lock as every deposit move; returns what was added."""
    await lock_card(payment.payer_id)
    assert line.deposit_to_fen is not None
    added = min(line.amount_fen, max(line.deposit_to_fen - await ledger.deposit_fen(payment.payer_id), 0))
    if added:
        await DepositLine.create(
            reader_id=payment.payer_id,
            kind=DepositKind.PAID,
            amount_fen=added,
            channel=Channel.WECHAT_PAY,
            payment=payment,
            occasion=f"{DepositKind.PAID.value}:payment:{payment.out_trade_no}",
            created_at=paid_at,
        )
    return added


async def _anomaly(
    payment: Payment | None,
    out_trade_no: str,
    transaction_id: str,
    amount_fen: int,
    at: datetime,
    kind: AnomalyKind | None = None,
) -> None:
    if kind is None:
        if payment is None:
            kind = AnomalyKind.UNKNOWN_ORDER
        elif payment.amount_fen != amount_fen:
            kind = AnomalyKind.AMOUNT_MISMATCH
        else:
            kind = AnomalyKind.PAID_TWICE
    await PaymentAnomaly.bulk_create(
        [
            PaymentAnomaly(
                kind=kind,
                out_trade_no=out_trade_no[:64],
                transaction_id=transaction_id[:64],
                amount_fen=amount_fen,
                expected_fen=None if payment is None else payment.amount_fen,
                occasion=f"{kind.value}:{out_trade_no[:64]}:{transaction_id[:64]}:{amount_fen}",
                created_at=at,
            )
        ],
        ignore_conflicts=True,
    )


async def close_payment(out_trade_no: str, now: datetime) -> bool:
    """Close an open order (expired, or given up): its charges are payable again. False when it was not open (paid,
    or closed already). Close it at the provider first, or a payment may still arrive (`settle_payment` then
    accounts for it all the same)."""
    async with in_transaction():
        closed = await Payment.filter(out_trade_no=out_trade_no, state=PaymentState.OPEN).update(
            state=PaymentState.CLOSED, closed_at=now
        )
        if closed:
            await PaymentLine.filter(payment__out_trade_no=out_trade_no).update(open=False)
    if not closed and not await Payment.exists(out_trade_no=out_trade_no):
        raise PaymentNotFound()
    return bool(closed)


async def payment(out_trade_no: str) -> Payment:
    found = await Payment.get_or_none(out_trade_no=out_trade_no)
    if found is None:
        raise PaymentNotFound()
    return found


async def expired_payments(now: datetime, *, limit: int) -> list[Payment]:
    """Open orders past their expiry, oldest first: for the job that asks the provider, then settles or closes."""
    return await Payment.filter(state=PaymentState.OPEN, expires_at__lt=now).order_by("expires_at", "id").limit(limit)


@dataclass(frozen=True, slots=True)
class Receipt:
    payment: Payment
    lines: list[PaymentLine]  # with their charges


async def receipts(payer: Reader, *, limit: int, offset: int) -> tuple[list[Receipt], int]:
    """The payer's paid orders, newest first, with what each paid for."""
    query = Payment.filter(payer_id=payer.id, state=PaymentState.PAID).order_by("-paid_at", "-id")
    payments, total = await paging.page(query, limit, offset)
    lines = await PaymentLine.filter(payment_id__in=[p.id for p in payments]).select_related("charge").order_by("id")
    return [Receipt(p, [line for line in lines if line.payment_id == p.id]) for p in payments], total


async def receipt(payer: Reader, out_trade_no: str) -> Receipt:
    """One of the payer's paid orders with what it paid for; anyone else's, or one not paid, is not found."""
    paid = await payment(out_trade_no)
    if paid.payer_id != payer.id or paid.state is not PaymentState.PAID:
        raise PaymentNotFound()
    lines = await PaymentLine.filter(payment_id=paid.id).select_related("charge").order_by("id")
    return Receipt(paid, lines)


async def anomalies(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[PaymentAnomaly], int]:
    """Payment facts that fit no order, newest first: for network administrators to look into (payments are the
    network's, not one library's)."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    return await paging.page(PaymentAnomaly.all().order_by("-created_at", "-id"), limit, offset)
