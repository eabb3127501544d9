"""Checkout, return anywhere (通借通还), renewal, the overdue charge and a reader's view of their loans.

Each rule that must hold under concurrency is the database's: the copy's status changes by a conditional UPDATE
and an open loan per copy is unique (a partial index), so a copy is lent once; a reader's row is locked for the
length of a checkout, so two checkouts at two libraries cannot both pass the limit; the credit ledger's
occasions are unique, so an overdue day is charged once however often the job runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import CopyNotFound
from backend.catalog.models import Copy, CopyStatus
from backend.catalog.search import refresh_holdings
from backend.circulation import holds, rules
from backend.circulation.credit import LOCAL, CreditCheck
from backend.circulation.errors import (
    CopyHeldForAnother,
    CopyNotAvailable,
    CopyNotHere,
    CopyNotInTransit,
    CopyNotOnLoan,
    CounterOnly,
    CreditTooLow,
    HoldsWaiting,
    LoanLimitReached,
    LoanNotFound,
    NoSelfService,
    NotLending,
    OverdueItemsBlock,
    OverdueNotRenewable,
    RenewalsUsedUp,
)
from backend.circulation.holds import HoldPolicy
from backend.circulation.models import (
    CreditEvent,
    CreditReason,
    CreditTier,
    Hold,
    HoldStatus,
    Loan,
    LoanRule,
    RenewFrom,
)
from backend.circulation.standing import Standing, standing, suspension_refusal
from backend.errors import DomainError
from backend.network.models import Library
from backend.network.services import in_scope


def _refusal(standing: Standing, rule: LoanRule, *, self_service: bool, deposit_free: bool) -> DomainError | None:
    if (suspended := suspension_refusal(standing)) is not None:
        return suspended
    if not deposit_free:
        return CreditTooLow(score=standing.score)
    if self_service and not standing.tier.self_service:
        return CounterOnly()
    if standing.overdue >= rule.block_after_overdue_items:
        return OverdueItemsBlock(count=standing.overdue)
    if standing.on_loan >= standing.tier.max_loans:
        return LoanLimitReached(on_loan=standing.on_loan, limit=standing.tier.max_loans)
    return None


@dataclass(frozen=True, slots=True)
class Lent:
    loan: Loan  # with its copy, the copy's record, the library and the rule
    tier: CreditTier  # the reader's, at the moment of the loan


async def checkout(
    reader: Reader,
    barcode: str,
    *,
    now: datetime,
    staff: StaffUser | None = None,
    library: Library | None = None,
    credit_check: CreditCheck = LOCAL,
) -> Lent:
    """Lend a copy: at a desk by `staff` (the copy must be at one of their libraries), or by the reader alone at
    the self-service `library` where the copy is. A copy on the hold shelf goes only to the reader it waits for."""
    async with in_transaction():
        # The reader's row is the lock that makes counting their loans and adding one a single step.
        await Reader.select_for_update().get(id=reader.id)
        copy = await _locked_copy(barcode)
        here = await Library.get(id=copy.current_library_id)
        if staff is not None:
            if not in_scope(here, staff.library.path):
                raise CopyNotHere(library=staff.library.name)
        else:
            assert library is not None, "a self-service checkout names its library"
            if not library.self_service:
                raise NoSelfService(library=library.name)
            if here.id != library.id:
                raise CopyNotHere(library=library.name)
        if not here.lending:
            raise NotLending(library=here.name)
        hold = await holds.held_for(copy)
        if hold is not None and (hold.reader_id != reader.id or hold.status is not HoldStatus.READY):
            raise CopyHeldForAnother()
        if copy.status not in (CopyStatus.AVAILABLE, CopyStatus.ON_HOLD_SHELF) or (
            copy.status is CopyStatus.ON_HOLD_SHELF and hold is None  # an expired hold's copy, to be cleared first
        ):
            raise CopyNotAvailable(status=copy.status.value)
        category = rules.category_of(reader, now.astimezone(ZoneInfo(here.timezone)).date())
        rule = await rules.rule_for(category, copy.item_type, here)
        current = await standing(reader.id, now)
        deposit_free = await credit_check.deposit_free(reader, current)
        if (refusal := _refusal(current, rule, self_service=staff is None, deposit_free=deposit_free)) is not None:
            raise refusal
        if not await Copy.filter(id=copy.id, status=copy.status).update(status=CopyStatus.ON_LOAN):
            raise CopyNotAvailable(status=CopyStatus.ON_LOAN.value)
        if hold is not None:
            await holds.fulfil(hold, now)
        loan = await Loan.create(
            copy=copy,
            reader_id=reader.id,
            reader_category=category,
            library=here,
            rule=rule,
            staff=staff,
            checked_out_at=now,
            due_at=rules.due_after(now, min(rule.loan_days, current.tier.max_loan_days), here.timezone),
        )
    return Lent(loan, current.tier)


@dataclass(frozen=True, slots=True)
class CheckIn:
    copy: Copy
    overdue_days: int
    hold: Hold | None
    """The hold the copy now serves: on this library's hold shelf, or in transit to its pickup library."""


async def check_in(barcode: str, *, staff: StaffUser, now: datetime, policy: HoldPolicy) -> CheckIn:
    """Scan a copy in at the staff member's library: a returned loan (whichever library lent it), a copy pulled
    from the shelf for a hold, or a copy left on the hold shelf by an expired or cancelled hold. The reader's
    credit is settled at once, and the copy fills the next hold, goes on the shelf here, or travels home."""
    library = staff.library
    if not library.returns:
        raise NotLending(library=library.name)
    async with in_transaction():
        copy = await _locked_copy(barcode)
        loan = (
            await Loan.select_for_update(of=("loan",))
            .get_or_none(copy_id=copy.id, returned_at__isnull=True)
            .select_related("rule", "library", "reader")
        )
        late = 0
        if loan is not None:
            late = await _close(loan, library, now)
        elif not await _free_for_holds(copy, library):
            raise CopyNotOnLoan()
        before = copy.current_library_id
        hold = await holds.settle(copy, library, now, policy)
        if before != library.id:
            await refresh_holdings([copy.record_id])
    return await _checked_in(copy, late, hold)


async def _checked_in(copy: Copy, late: int, hold: Hold | None) -> CheckIn:
    """What the desk is told: the title, where the copy goes, and for which reader's hold."""
    await copy.fetch_related("in_transit_to")
    if hold is not None:
        await hold.fetch_related("reader", "pickup_library")
    return CheckIn(copy, late, hold)


async def _free_for_holds(copy: Copy, library: Library) -> bool:
    """A copy not on loan may be scanned in here to fill holds: off this library's shelf (the pull list), or off
    its hold shelf when the hold it waited for is gone."""
    if copy.current_library_id != library.id:
        return False
    if copy.status is CopyStatus.AVAILABLE:
        return True
    return copy.status is CopyStatus.ON_HOLD_SHELF and await holds.held_for(copy) is None


async def _close(loan: Loan, library: Library, now: datetime) -> int:
    """Close a loan returned at `library`: charge its overdue days, reward it if on time; returns days late."""
    late = overdue_days(loan, now)
    if loan.reader_id is not None:
        await _charge_overdue(loan, now)
        if late == 0 and await rules.credit_score(loan.reader_id) < rules.MAX_SCORE:
            await CreditEvent.create(
                reader_id=loan.reader_id,
                reason=CreditReason.ON_TIME_RETURN,
                points=1,
                occasion=f"return:{loan.id}",
                created_at=now,
            )
    loan.returned_at = now
    loan.return_library = library
    if loan.reader is not None and not loan.reader.keeps_reading_history:
        loan.reader = None  # PIPL: no reading history unless the reader asked for one
    await loan.save(update_fields=["returned_at", "return_library_id", "reader_id"])
    return late


async def receive(barcode: str, *, staff: StaffUser, now: datetime, policy: HoldPolicy) -> CheckIn:
    """A copy in transit arrives at the staff member's library: onto the hold shelf for the reader it travelled
    for, on to their new pickup library if they changed it, or onto the shelf (or the next hold) here."""
    library = staff.library
    async with in_transaction():
        copy = await _locked_copy(barcode)
        if copy.status is not CopyStatus.IN_TRANSIT:
            raise CopyNotInTransit()
        hold = await holds.arrived(copy, library, now, policy)
        await refresh_holdings([copy.record_id])
    return await _checked_in(copy, 0, hold)


async def _locked_copy(barcode: str) -> Copy:
    # FOR UPDATE OF the copy only: over the join it would lock the record's row too, and every desk lending a copy
    # of the same title would queue.
    copy = await Copy.select_for_update(of=("copy",)).get_or_none(barcode=barcode).select_related("record")
    if copy is None:
        raise CopyNotFound(barcode=barcode)
    return copy


def overdue_days(loan: Loan, now: datetime) -> int:
    """Whole days past the due date, counted in the lending library's calendar."""
    zone = ZoneInfo(loan.library.timezone)
    return max((now.astimezone(zone).date() - loan.due_at.astimezone(zone).date()).days, 0)


async def _charge_overdue(loan: Loan, now: datetime) -> None:
    """One ledger line per overdue day not yet charged. The unique occasion of each line is what keeps two runs at
    once (or a run and a return) from charging a day twice; the loan's count only spares re-inserting old days."""
    days = overdue_days(loan, now)
    if loan.reader_id is None or days <= loan.overdue_days_charged:
        return
    if loan.rule.credit_per_overdue_day:
        await CreditEvent.bulk_create(
            [
                CreditEvent(
                    reader_id=loan.reader_id,
                    reason=CreditReason.OVERDUE,
                    points=-loan.rule.credit_per_overdue_day,
                    occasion=f"overdue:{loan.id}:{day}",
                    created_at=now,
                )
                for day in range(loan.overdue_days_charged + 1, days + 1)
            ],
            ignore_conflicts=True,
        )
    await Loan.filter(id=loan.id, overdue_days_charged__lt=days).update(overdue_days_charged=days)
    loan.overdue_days_charged = days


async def charge_overdue_loans(now: datetime) -> int:
    """The daily job: charge every open overdue loan for its overdue days so far. Safe to run again."""
    loans = await Loan.filter(returned_at__isnull=True, due_at__lt=now).select_related("rule", "library")
    for loan in loans:
        await _charge_overdue(loan, now)
    return len(loans)


async def renewal_refusal(loan: Loan, tier: CreditTier, now: datetime) -> DomainError | None:
    """Why this loan cannot be renewed now, or None when it can."""
    if now > loan.due_at:
        return OverdueNotRenewable()
    if loan.renewals >= min(loan.rule.renewals, tier.max_renewals):
        return RenewalsUsedUp(renewals=loan.renewals)
    today = now.astimezone(ZoneInfo(loan.library.timezone)).date()
    if await holds.someone_waiting(loan.copy.record_id, today):
        return HoldsWaiting()
    return None


async def renew(reader: Reader, loan_id: int, now: datetime) -> Loan:
    async with in_transaction():
        loan = await Loan.select_for_update().get_or_none(id=loan_id, reader_id=reader.id, returned_at__isnull=True)
        if loan is None:
            raise LoanNotFound()
        await loan.fetch_related("rule", "library", "copy")
        tier = await rules.tier_for(await rules.credit_score(reader.id))
        if (refusal := await renewal_refusal(loan, tier, now)) is not None:
            raise refusal
        start = loan.due_at if loan.rule.renew_from is RenewFrom.DUE_DATE else now
        loan.due_at = rules.due_after(start, loan.rule.renewal_days, loan.library.timezone)
        loan.renewals += 1
        await loan.save(update_fields=["due_at", "renewals"])
    return loan


async def open_loans(
    reader_id: int, now: datetime, *, loan_id: int | None = None
) -> list[tuple[Loan, DomainError | None]]:
    """The reader's loans (or the one), soonest due first, each with why it cannot be renewed (None: it can)."""
    query = Loan.filter(reader_id=reader_id, returned_at__isnull=True)
    if loan_id is not None:
        query = query.filter(id=loan_id)
    loans = await query.select_related("copy__record", "library", "rule").order_by("due_at", "id")
    tier = (await standing(reader_id, now)).tier
    return [(loan, await renewal_refusal(loan, tier, now)) for loan in loans]


async def reading_history(reader: Reader, *, limit: int, offset: int) -> list[Loan]:
    """Returned loans the reader chose to keep (nothing unless they opted in)."""
    return (
        await Loan.filter(reader_id=reader.id, returned_at__isnull=False)
        .select_related("copy__record", "library")
        .order_by("-returned_at", "-id")
        .limit(limit)
        .offset(offset)
    )


async def set_reading_history(reader: Reader, keep: bool) -> None:
    """Opt in or out; opting out also forgets the history kept so far."""
    reader.keeps_reading_history = keep
    await reader.save(update_fields=["keeps_reading_history", "updated_at"])
    if not keep:
        await forget_reading_history(reader)


async def forget_reading_history(reader: Reader) -> int:
    return await Loan.filter(reader_id=reader.id, returned_at__isnull=False).update(reader_id=None)


async def unlink_old_loans(now: datetime, retention_days: int) -> int:
    """The retention job: returned loans older than the period lose their reader; the statistics stay."""
    cutoff = now - timedelta(days=retention_days)
    return await Loan.filter(returned_at__lt=cutoff, reader_id__isnull=False).update(reader_id=None)


async def credit_ledger(reader_id: int, *, limit: int = 100) -> list[CreditEvent]:
    return await CreditEvent.filter(reader_id=reader_id).order_by("-created_at", "-id").limit(limit)
