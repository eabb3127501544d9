"""What staff do with a reader's money at a desk: assess a damaged copy (a lost one is charged when circulation
declares it lost), take a payment, waive a charge within their role's limit, refund, take and give back a deposit;
and a reader's own request for their deposit back, which goes back by WeChat Pay as it came.

Every rule that must hold under concurrency is the database's: a charge is settled under its row lock (so two
desks, or a desk and a WeChat Pay notice, never settle more than it), a charge in an open payment order is neither
taken at a desk nor waived, a refund is written under the row locks of what it refunds, and a deposit moves under
the card's lock (the one a checkout takes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.services import lock_card
from backend.accounts.staff import authority_scope, require_role
from backend.catalog.barcodes import normalise_barcode
from backend.catalog.errors import CopyNotFound
from backend.catalog.models import Copy
from backend.circulation.models import Loan
from backend.eventbus import EventBus, record
from backend.money import ledger
from backend.money.domain_events import ChargePaid
from backend.money.errors import (
    ChargeExists,
    ChargeInPayment,
    ChargeNotFound,
    ChargeSettled,
    DepositAtDesk,
    DepositHeld,
    DepositInPayment,
    NotAssessable,
    NotRefundable,
    OutsideMoneyScope,
    OverWaiverLimit,
    ReasonRequired,
    SettlementNotFound,
)
from backend.money.models import (
    Channel,
    Charge,
    ChargeKind,
    DepositKind,
    DepositLine,
    Payment,
    Refund,
    RefundState,
    Settlement,
    SettlementKind,
)
from backend.money.policy import MoneyPolicy
from backend.money.refunds import deposit_refund_occasion, new_refund_no, refundable_fen, refunded_fen
from backend.network.models import Library
from backend.network.services import NETWORK_ROOT, in_scope

DESK_CHANNELS = (Channel.DESK_CASH, Channel.DESK_CARD)
# What WeChat Pay shows the payer beside a deposit's refund.
DEPOSIT_REFUND_REASON = "退还押金 / deposit refunded"


async def assess_damage(
    staff: StaffUser, reader: Reader, barcode: str, note: str, now: datetime, policy: MoneyPolicy
) -> list[Charge]:
    """Charge the reader for a copy they damaged, on their latest loan of it (still open: a loan returned forgets its
    reader unless they keep a reading history, so a damage is assessed before the check-in): its replacement price
    (the network's default when it has none) and the processing fee, for its home library, which must be in the
    staff member's authority. Once per loan (`ChargeExists`). A lost copy is declared lost instead
    (`circulation.declare_lost`)."""
    require_role(staff, StaffRole.LIBRARIAN)
    barcode = normalise_barcode(barcode)
    copy = await Copy.get_or_none(barcode=barcode).select_related("home_library")
    if copy is None:
        raise CopyNotFound(barcode=barcode)
    await _in_authority(staff, copy.home_library)
    loan = await Loan.filter(copy_id=copy.id, reader_id=reader.id).order_by("-checked_out_at", "-id").first()
    if loan is None:
        raise NotAssessable()
    return await charge_for_copy(reader.id, copy.id, loan.id, ChargeKind.DAMAGED, staff.id, note, now, policy)


async def charge_for_copy(
    reader_id: int,
    copy_id: int,
    loan_id: int,
    kind: ChargeKind,
    staff_id: int | None,
    note: str,
    now: datetime,
    policy: MoneyPolicy,
) -> list[Charge]:
    """The replacement price (the network's default when none is catalogued) and the processing fee of a copy lost
    or damaged on a loan, owed to the copy's home library; once per kind and loan (`ChargeExists`)."""
    copy = await Copy.get(id=copy_id)
    replacement = policy.replacement_fen if copy.price_fen is None else copy.price_fen
    lines = [
        (kind, replacement, f"{kind.value}:loan:{loan_id}"),
        (ChargeKind.PROCESSING, policy.processing_fee_fen, f"processing:{kind.value}:loan:{loan_id}"),
    ]
    occasions = [occasion for _, _, occasion in lines]
    try:
        async with in_transaction():
            return [
                await Charge.create(
                    reader_id=reader_id,
                    kind=charge_kind,
                    amount_fen=amount,
                    loan_id=loan_id,
                    library_id=copy.home_library_id,
                    staff_id=staff_id,
                    note=note,
                    occasion=occasion,
                    created_at=now,
                )
                for charge_kind, amount, occasion in lines
                if amount  # a copy catalogued as free, or no processing fee
            ]
    except IntegrityError:
        if await Charge.exists(occasion__in=occasions):  # the unique occasion: assessed before
            raise ChargeExists() from None
        raise


async def pay_at_desk(staff: StaffUser, charge_id: int, channel: Channel, now: datetime, bus: EventBus) -> Settlement:
    """Take what a charge still comes to, in cash or by card, at the staff member's library (any desk takes any
    card's payment: one card everywhere): `ChargePaid`, handled in the same transaction."""
    require_role(staff, StaffRole.LIBRARIAN)
    assert channel in DESK_CHANNELS, "a desk takes cash or a card"
    async with bus.transaction():
        charge = await _settleable(charge_id)
        settled = await _settle(
            charge, SettlementKind(channel.value), await ledger.outstanding_fen(charge), staff, "", now
        )
        record(ChargePaid(charge.id, charge.reader_id, charge.kind, charge.source, now))
        return settled


async def waive(staff: StaffUser, charge_id: int, reason: str, now: datetime, policy: MoneyPolicy) -> Settlement:
    """Forgo what a charge still comes to, with the reason the reader is shown: only a charge of a library in the
    staff member's authority, and no more than their role's limit."""
    require_role(staff, StaffRole.LIBRARIAN)
    if not (reason := reason.strip()):
        raise ReasonRequired()
    async with in_transaction():
        charge = await _settleable(charge_id)
        await _in_authority(staff, charge.library)
        outstanding = await ledger.outstanding_fen(charge)
        _within_limit(staff, outstanding, policy)
        return await _settle(charge, SettlementKind.WAIVER, outstanding, staff, reason, now)


async def _settleable(charge_id: int) -> Charge:
    """The charge, locked: its settlements are added one at a time. Refused while an open payment order holds it."""
    charge = await Charge.select_for_update(of=("money_charge",)).get_or_none(id=charge_id).select_related("library")
    if charge is None:
        raise ChargeNotFound()
    if await ledger.in_open_payment(charge.id):
        raise ChargeInPayment()
    return charge


async def _settle(
    charge: Charge, kind: SettlementKind, amount: int, staff: StaffUser, note: str, now: datetime
) -> Settlement:
    if amount <= 0:
        raise ChargeSettled()
    # Under the charge's lock the number of its settlements is stable: the next one's occasion is unique.
    count = await Settlement.filter(charge_id=charge.id).count()
    return await Settlement.create(
        charge=charge,
        kind=kind,
        amount_fen=amount,
        library_id=staff.library.id,
        staff=staff,
        note=note,
        occasion=f"{kind.value}:charge:{charge.id}:{count + 1}",
        created_at=now,
    )


async def _in_authority(staff: StaffUser, library: Library) -> None:
    if not in_scope(library, authority_scope(staff)):
        raise OutsideMoneyScope(library=library.name)


def _within_limit(staff: StaffUser, amount: int, policy: MoneyPolicy) -> None:
    limit = policy.staff_limit(staff.role)
    if limit is not None and amount > limit:
        raise OverWaiverLimit(amount_fen=amount, limit_fen=limit)


async def refund(
    staff: StaffUser, settlement_id: int, reason: str, now: datetime, policy: MoneyPolicy, amount_fen: int | None = None
) -> Refund:
    """Give back money taken for a charge (None: all of it not yet refunded), within the staff member's authority
    and role limit. Taken at a desk, it is handed back here and done; taken by WeChat Pay, the refund is pending
    until WeChat Pay returns it (`refunds.finish_refund`). The charge stays settled: the library gives the money
    back, it does not ask for it again."""
    require_role(staff, StaffRole.LIBRARIAN)
    if not (reason := reason.strip()):
        raise ReasonRequired()
    async with in_transaction():
        found = await Settlement.get_or_none(id=settlement_id).select_related("charge__library", "library")
        if found is None or found.kind is SettlementKind.WAIVER:
            raise SettlementNotFound()
        await _in_authority(staff, found.library or found.charge.library)
        if found.payment_id is not None:  # every refund of a payment counts against it: its row first
            await Payment.select_for_update().get(id=found.payment_id)
        settlement = await Settlement.select_for_update().get(id=settlement_id)
        refundable = await refundable_fen(settlement)
        amount = refundable if amount_fen is None else amount_fen
        if not 0 < amount <= refundable:
            raise NotRefundable(refundable_fen=refundable, amount_fen=amount)
        # With what was refunded of it before: the limit is not dodged by refunding in parts.
        _within_limit(staff, await refunded_fen(settlement_id=settlement.id) + amount, policy)
        desk = settlement.kind is not SettlementKind.WECHAT_PAY
        return await Refund.create(
            out_refund_no=new_refund_no(),
            settlement=settlement,
            payment_id=settlement.payment_id,
            charge_id=settlement.charge_id,
            channel=Channel(settlement.kind.value),
            amount_fen=amount,
            state=RefundState.SUCCEEDED if desk else RefundState.PENDING,
            reason=reason,
            staff=staff,
            library_id=staff.library.id if desk else None,
            created_at=now,
            finished_at=now if desk else None,
        )


async def pay_deposit_at_desk(
    staff: StaffUser, reader: Reader, channel: Channel, now: datetime, policy: MoneyPolicy
) -> DepositLine:
    """Take the network's deposit (what is missing of it) in cash or by card."""
    require_role(staff, StaffRole.LIBRARIAN)
    assert channel in DESK_CHANNELS, "a desk takes cash or a card"
    async with in_transaction():
        await lock_card(reader.id)
        if await ledger.deposit_in_payment(reader.id):
            raise DepositInPayment()
        held = await ledger.deposit_fen(reader.id)
        if held >= policy.deposit_fen:
            raise DepositHeld(held_fen=held)
        return await _deposit_line(reader, DepositKind.PAID, policy.deposit_fen - held, channel, staff, now)


@dataclass(frozen=True, slots=True)
class DepositRefund:
    """A deposit given back: its lines (each way it goes back its own), the WeChat Pay refunds returning what was
    paid that way (pending until WeChat Pay returns it), and what is still held, to be collected at a desk."""

    lines: list[DepositLine]
    refunds: list[Refund]
    at_desk_fen: int


async def refund_deposit(
    staff: StaffUser, reader: Reader, channel: Channel, now: datetime, policy: MoneyPolicy
) -> DepositRefund:
    """Give the card's deposit back, as when it is closed: what was paid by WeChat Pay goes back to its payment by
    WeChat Pay, the rest in cash or by card here. Only with nothing on loan and nothing owed (a checkout takes the
    card's lock too, so none slips in meanwhile), for a reader of a library in the staff member's authority (one with
    no home library: the network's), and no more than their role's limit."""
    require_role(staff, StaffRole.LIBRARIAN)
    assert channel in DESK_CHANNELS, "a desk gives back cash or to a card"
    async with in_transaction():
        card = await lock_card(reader.id)
        await card.fetch_related("home_library")
        if card.home_library is not None:
            await _in_authority(staff, card.home_library)
        elif authority_scope(staff) != NETWORK_ROOT:
            raise OutsideMoneyScope(library="-")
        if (refused := await ledger.deposit_refusal(reader.id)) is not None:
            raise refused
        _within_limit(staff, await ledger.deposit_fen(reader.id), policy)
        back = await _by_wechatpay(reader.id, staff, now)
        if not back.at_desk_fen:
            return back
        line = await _deposit_line(reader, DepositKind.REFUNDED, back.at_desk_fen, channel, staff, now)
        return replace(back, lines=[*back.lines, line], at_desk_fen=0)


async def refund_my_deposit(reader: Reader, now: datetime) -> DepositRefund:
    """The reader asks for their deposit back (they no longer borrow on it): only with nothing on loan and nothing
    owed, as at a desk. What they paid by WeChat Pay goes back by WeChat Pay at once; what they paid at a desk stays
    held until they collect it at one (`DepositAtDesk` when that is all they hold)."""
    async with in_transaction():
        await lock_card(reader.id)
        if (refused := await ledger.deposit_refusal(reader.id)) is not None:
            raise refused
        back = await _by_wechatpay(reader.id, None, now)
        if not back.refunds:
            raise DepositAtDesk(at_desk_fen=back.at_desk_fen)
        return back


async def _by_wechatpay(reader_id: int, staff: StaffUser | None, now: datetime) -> DepositRefund:
    """Under the card's lock: the deposit's WeChat Pay parts refunded to their payments, the deposit line written at
    once (the reader no longer holds it, so cannot borrow on it while WeChat Pay returns it). Each payment is locked,
    in id order, as a staff refund of it is, and gives back no more than it has left; the rest is the desk's."""
    parts = await ledger.deposit_parts(reader_id)
    at_desk, lines, refunds = parts.at_desk_fen, [], []
    for payment_id, part in sorted(parts.by_payment):
        payment = await Payment.select_for_update().get(id=payment_id)
        amount = max(min(part, payment.amount_fen - await refunded_fen(payment_id=payment_id)), 0)
        at_desk += part - amount
        if not amount:
            continue
        refund = await Refund.create(
            out_refund_no=new_refund_no(),
            payment=payment,
            channel=Channel.WECHAT_PAY,
            amount_fen=amount,
            state=RefundState.PENDING,
            reason=DEPOSIT_REFUND_REASON,
            staff=staff,
            created_at=now,
        )
        refunds.append(refund)
        line = await DepositLine.create(
            reader_id=reader_id,
            kind=DepositKind.REFUNDED,
            amount_fen=amount,
            channel=Channel.WECHAT_PAY,
            payment=payment,
            staff=staff,
            occasion=deposit_refund_occasion(refund.out_refund_no),
            created_at=now,
        )
        lines.append(line)
    return DepositRefund(lines, refunds, at_desk)


async def _deposit_line(
    reader: Reader, kind: DepositKind, amount: int, channel: Channel, staff: StaffUser, now: datetime
) -> DepositLine:
    # Under the card's lock the number of its lines is stable: the next one's occasion is unique.
    count = await DepositLine.filter(reader_id=reader.id).count()
    return await DepositLine.create(
        reader_id=reader.id,
        kind=kind,
        amount_fen=amount,
        channel=channel,
        library_id=staff.library.id,
        staff=staff,
        occasion=f"{kind.value}:reader:{reader.id}:{count + 1}",
        created_at=now,
    )
