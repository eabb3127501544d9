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

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import CopyNotFound
from backend.catalog.models import Copy, CopyStatus
from backend.catalog.search import refresh_holdings
from backend.circulation import rules
from backend.circulation.errors import (
    CopyNotAvailable,
    CopyNotHere,
    CopyNotInTransit,
    CopyNotOnLoan,
    CounterOnly,
    CreditTooLow,
    LoanLimitReached,
    LoanNotFound,
    NoSelfService,
    NotLending,
    OverdueItemsBlock,
    OverdueNotRenewable,
    ReaderSuspended,
    RenewalsUsedUp,
)
from backend.circulation.models import CreditEvent, CreditReason, CreditTier, Loan, LoanRule, RenewFrom, Suspension
from backend.errors import DomainError
from backend.network.models import Library
from backend.network.services import in_scope


@dataclass(frozen=True, slots=True)
class Standing:
    """What a reader may do now, and why: their score and tier, loans, overdue items and any suspension."""

    score: int
    tier: CreditTier
    on_loan: int
    overdue: int
    suspension: Suspension | None


async def standing(reader_id: int, now: datetime) -> Standing:
    score = await rules.credit_score(reader_id)
    open_loans = Loan.filter(reader_id=reader_id, returned_at__isnull=True)
    suspension = (
        await Suspension.filter(reader_id=reader_id, lifted_at__isnull=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("-starts_at")
        .first()
    )
    return Standing(
        score=score,
        tier=await rules.tier_for(score),
        on_loan=await open_loans.count(),
        overdue=await open_loans.filter(due_at__lt=now).count(),
        suspension=suspension,
    )


def _refusal(standing: Standing, rule: LoanRule, *, self_service: bool) -> DomainError | None:
    if (s := standing.suspension) is not None:
        until = f" {s.ends_at.date().isoformat()}" if s.ends_at else ""
        return ReaderSuspended(until=until, reason=s.reason)
    if not standing.tier.deposit_free:
        return CreditTooLow(score=standing.score)
    if self_service and not standing.tier.self_service:
        return CounterOnly()
    if standing.overdue >= rule.block_after_overdue_items:
        return OverdueItemsBlock(count=standing.overdue)
    if standing.on_loan >= standing.tier.max_loans:
        return LoanLimitReached(on_loan=standing.on_loan, limit=standing.tier.max_loans)
    return None


async def checkout(
    reader: Reader, barcode: str, *, now: datetime, staff: StaffUser | None = None, library: Library | None = None
) -> Loan:
    """Lend a copy: at a desk by `staff` (the copy must be at one of their libraries), or by the reader alone at
    the self-service `library` where the copy is."""
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
        if copy.status is not CopyStatus.AVAILABLE:
            raise CopyNotAvailable(status=copy.status.value)
        category = rules.category_of(reader, now.astimezone(ZoneInfo(here.timezone)).date())
        rule = await rules.rule_for(category, copy.item_type, here)
        current = await standing(reader.id, now)
        if (refusal := _refusal(current, rule, self_service=staff is None)) is not None:
            raise refusal
        if not await Copy.filter(id=copy.id, status=CopyStatus.AVAILABLE).update(status=CopyStatus.ON_LOAN):
            raise CopyNotAvailable(status=CopyStatus.ON_LOAN.value)
        return await Loan.create(
            copy=copy,
            reader_id=reader.id,
            reader_category=category,
            library=here,
            rule=rule,
            staff=staff,
            checked_out_at=now,
            due_at=rules.due_after(now, min(rule.loan_days, current.tier.max_loan_days), here.timezone),
        )


@dataclass(frozen=True, slots=True)
class CheckIn:
    loan: Loan
    copy: Copy
    overdue_days: int
    send_to: Library | None
    """Where the copy travels, when it does not stay at the library that took it back."""


async def check_in(barcode: str, *, staff: StaffUser, now: datetime) -> CheckIn:
    """Take a copy back at the staff member's library, whichever library lent it: it stays there if it floats or
    is home, else it travels home. The reader's credit is settled at once."""
    library = staff.library
    if not library.returns:
        raise NotLending(library=library.name)
    async with in_transaction():
        copy = await _locked_copy(barcode)
        loan = await Loan.select_for_update().get_or_none(copy_id=copy.id, returned_at__isnull=True)
        if loan is None:
            raise CopyNotOnLoan()
        await copy.fetch_related("record", "home_library")
        await loan.fetch_related("rule", "library", "reader")
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
        await loan.save()
        stays = copy.floating or copy.home_library_id == library.id
        copy.status = CopyStatus.AVAILABLE if stays else CopyStatus.IN_TRANSIT
        moved = copy.current_library_id != library.id
        copy.current_library = library
        await copy.save(update_fields=["status", "current_library_id", "updated_at"])
        if moved:
            await refresh_holdings([copy.record_id])
    return CheckIn(loan, copy, late, None if stays else copy.home_library)


async def receive(barcode: str, *, staff: StaffUser) -> Copy:
    """A copy in transit arrives at the staff member's library and goes on its shelf."""
    library = staff.library
    async with in_transaction():
        updated = await Copy.filter(barcode=barcode, status=CopyStatus.IN_TRANSIT).update(
            status=CopyStatus.AVAILABLE, current_library_id=library.id
        )
        copy = await Copy.get_or_none(barcode=barcode)
        if copy is None:
            raise CopyNotFound(barcode=barcode)
        if not updated:
            raise CopyNotInTransit()
        await refresh_holdings([copy.record_id])
    return copy


async def _locked_copy(barcode: str) -> Copy:
    # Only the copy's row: FOR UPDATE over a join would lock its library's row too, and every desk would queue.
    copy = await Copy.select_for_update().get_or_none(barcode=barcode)
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


def renewal_refusal(loan: Loan, tier: CreditTier, now: datetime) -> DomainError | None:
    """Why this loan cannot be renewed now, or None when it can."""
    if now > loan.due_at:
        return OverdueNotRenewable()
    if loan.renewals >= min(loan.rule.renewals, tier.max_renewals):
        return RenewalsUsedUp(renewals=loan.renewals)
    return None


async def renew(reader: Reader, loan_id: int, now: datetime) -> Loan:
    async with in_transaction():
        loan = await Loan.select_for_update().get_or_none(id=loan_id, reader_id=reader.id, returned_at__isnull=True)
        if loan is None:
            raise LoanNotFound()
        await loan.fetch_related("rule", "library")
        tier = await rules.tier_for(await rules.credit_score(reader.id))
        if (refusal := renewal_refusal(loan, tier, now)) is not None:
            raise refusal
        start = loan.due_at if loan.rule.renew_from is RenewFrom.DUE_DATE else now
        loan.due_at = rules.due_after(start, loan.rule.renewal_days, loan.library.timezone)
        loan.renewals += 1
        await loan.save(update_fields=["due_at", "renewals"])
    return loan


async def open_loans(reader_id: int) -> list[Loan]:
    return (
        await Loan.filter(reader_id=reader_id, returned_at__isnull=True)
        .select_related("copy__record", "library", "rule")
        .order_by("due_at", "id")
    )


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
