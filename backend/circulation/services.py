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

from backend import paging
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.services import lock_card
from backend.accounts.staff import authority_scope, require_role
from backend.catalog.barcodes import normalise_barcode
from backend.catalog.errors import CopyNotFound
from backend.catalog.models import Copy, CopyStatus
from backend.circulation import holds, rules
from backend.circulation.credit import LOCAL, CreditCheck
from backend.circulation.domain_events import CopyMoved, LoanClosed, LoanLost, LoanOpened
from backend.circulation.errors import (
    CheckoutRefused,
    CopyNotAvailable,
    CopyNotHere,
    CopyNotInTransit,
    CopyNotOnLoan,
    HoldsWaiting,
    LoanNotFound,
    NoSelfService,
    NotLending,
    OverdueNotRenewable,
    RenewalsUsedUp,
)
from backend.circulation.holds import HoldPolicy
from backend.circulation.models import CreditEvent, CreditReason, CreditTier, Hold, Loan, RenewFrom
from backend.circulation.standing import standing
from backend.circulation.terms import LoanTerms, RuleTable
from backend.circulation.validators import CheckoutAttempt, checkout_refusals
from backend.clock import NetworkTime
from backend.errors import DomainError
from backend.eventbus import EventBus, record
from backend.network.errors import OutsideScope
from backend.network.models import Library
from backend.network.services import in_scope


@dataclass(frozen=True, slots=True)
class Lent:
    loan: Loan  # with its copy, the copy's record and the library
    tier: CreditTier  # the reader's, at the moment of the loan
    terms: LoanTerms


async def checkout(
    reader: Reader,
    barcode: str,
    *,
    now: datetime,
    bus: EventBus,
    network_time: NetworkTime,
    staff: StaffUser | None = None,
    library: Library | None = None,
    credit_check: CreditCheck = LOCAL,
    period_days: int | None = None,
) -> Lent:
    """Lend a copy: at a desk by `staff` (the copy must be at one of their libraries), or by the reader alone at
    the self-service `library` where the copy is. A copy on the hold shelf goes only to the reader it waits for.
    `period_days` replaces the loan rules' period (a reader-chosen purchase's), still within the reader's tier."""
    async with bus.transaction():
        # The reader's row is the lock that makes counting their loans and adding one a single step (and that a
        # child's card is removed under, so it is not removed with a loan being added).
        await lock_card(reader.id)
        copy = await _locked_copy(barcode)
        here = await Library.get(id=copy.current_library_id)
        _lends_here(here, staff, library)
        hold = await holds.held_for(copy)
        category = rules.category_of(reader, network_time.day(now))
        terms = await rules.terms_for(category, copy.item_type, here)
        current = await standing(reader.id, now)
        attempt = CheckoutAttempt(
            reader_id=reader.id,
            copy_status=copy.status,
            held_for=None if hold is None else hold.reader_id,
            standing=current,
            terms=terms,
            deposit_free=await credit_check.deposit_free(reader, current),
            self_service=staff is None,
            barred=await credit_check.refusal(reader),
        )
        if refusals := checkout_refusals(attempt):
            raise CheckoutRefused(refusals)
        if not await Copy.filter(id=copy.id, status=copy.status).update(status=CopyStatus.ON_LOAN):
            raise CheckoutRefused([CopyNotAvailable(status=CopyStatus.ON_LOAN.value)])
        if hold is not None:
            await holds.fulfil(hold, now)
        loan = await Loan.create(
            copy=copy,
            reader_id=reader.id,
            reader_category=category,
            library=here,
            staff=staff,
            checked_out_at=now,
            due_at=rules.due_after(now, _period(period_days, hold, terms, current.tier), here.timezone),
        )
        record(LoanOpened(loan.id, reader.id, copy.record_id, here.id, now))
    return Lent(loan, current.tier, terms)


async def lend_delivered(reader_id: int, copy: Copy, *, library: Library, period_days: int, now: datetime) -> Loan:
    """Lend a copy that has reached its reader's hands (a delivery order's, a shop's parcel): no desk and no
    refusals, the limits were checked when it was ordered. The caller holds the copy's row lock inside its bus
    transaction; the copy must still be `in_delivery`. The loan is `library`'s, `period_days` from `now` within the
    reader's tier."""
    reader = await Reader.get(id=reader_id)
    # No desk and no network calendar at a doorstep: the lending library's day decides a child's category.
    category = rules.category_of(reader, now.astimezone(ZoneInfo(library.timezone)).date())
    terms = await rules.terms_for(category, copy.item_type, library)
    tier = (await standing(reader_id, now)).tier
    if not await Copy.filter(id=copy.id, status=CopyStatus.IN_DELIVERY).update(status=CopyStatus.ON_LOAN):
        raise CheckoutRefused([CopyNotAvailable(status=copy.status.value)])
    copy.status = CopyStatus.ON_LOAN
    loan = await Loan.create(
        copy=copy,
        reader_id=reader_id,
        reader_category=category,
        library=library,
        checked_out_at=now,
        due_at=rules.due_after(now, _period(period_days, None, terms, tier), library.timezone),
    )
    record(LoanOpened(loan.id, reader_id, copy.record_id, library.id, now))
    return loan


def _period(asked: int | None, hold: Hold | None, terms: LoanTerms, tier: CreditTier) -> int:
    """The loan's days: the caller's, else the hold's own (a delivered or bought book's), else the rules', never
    more than the reader's credit tier allows."""
    days: int = asked or (hold.period_days if hold is not None else None) or terms.loan_days
    limit: int = tier.max_loan_days
    return min(days, limit)


def _lends_here(here: Library, staff: StaffUser | None, self_service: Library | None) -> None:
    """Where the copy is must be where it is lent, and lend: refused at once, before anything about the reader."""
    if staff is not None:
        if not in_scope(here, staff.library.path):
            raise CopyNotHere(library=staff.library.name)
    else:
        assert self_service is not None, "a self-service checkout names its library"
        if not self_service.self_service:
            raise NoSelfService(library=self_service.name)
        if here.id != self_service.id:
            raise CopyNotHere(library=self_service.name)
    if not here.lending:
        raise NotLending(library=here.name)


@dataclass(frozen=True, slots=True)
class CheckIn:
    copy: Copy
    overdue_days: int
    hold: Hold | None
    """The hold the copy now serves: on this library's hold shelf, or in transit to its pickup library."""


async def check_in(barcode: str, *, staff: StaffUser, now: datetime, policy: HoldPolicy, bus: EventBus) -> CheckIn:
    """Scan a copy in at the staff member's library: a returned loan (whichever library lent it), a copy pulled
    from the shelf for a hold, or a copy left on the hold shelf by an expired or cancelled hold. The reader's
    credit is settled at once, and the copy fills the next hold, goes on the shelf here, or travels home."""
    library = staff.library
    if not library.returns:
        raise NotLending(library=library.name)
    async with bus.transaction():
        copy = await _locked_copy(barcode)
        loan = (
            await Loan.select_for_update(of=("loan",))
            .get_or_none(copy_id=copy.id, returned_at__isnull=True)
            .select_related("library", "reader", "copy")
        )
        late = 0
        if loan is not None:
            late = await _close(loan, copy, library, now)
        elif not await _free_for_holds(copy, library):
            raise CopyNotOnLoan()
        before = copy.current_library_id
        hold = await holds.settle(copy, library, now, policy)
        if before != library.id:
            record(CopyMoved(copy.id, copy.record_id, library.id))
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


async def _close(loan: Loan, copy: Copy, library: Library, now: datetime) -> int:
    """Close a loan returned at `library`: charge its overdue days, reward it if on time; returns days late."""
    late = overdue_days(loan, now)
    record(LoanClosed(loan.id, loan.reader_id, copy.record_id, library.id, late, now))
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


async def declare_lost(staff: StaffUser, barcode: str, now: datetime, bus: EventBus) -> Loan:
    """A copy on loan that will not come back: its loan ends without a return (no return library) and the copy is
    marked lost, for a loan made in the staff member's authority. Money charges its replacement (`LoanLost`)."""
    require_role(staff, StaffRole.LIBRARIAN)
    async with bus.transaction():
        copy = await _locked_copy(barcode)
        loan = (
            await Loan.select_for_update(of=("loan",))
            .get_or_none(copy_id=copy.id, returned_at__isnull=True)
            .select_related("library", "reader")
        )
        if loan is None:
            raise CopyNotOnLoan()
        if not in_scope(loan.library, authority_scope(staff)):
            raise OutsideScope()
        record(LoanLost(loan.id, loan.reader_id, copy.id, now, staff.id))
        loan.returned_at = now
        if loan.reader is not None and not loan.reader.keeps_reading_history:
            loan.reader = None  # PIPL, as at a return
        await loan.save(update_fields=["returned_at", "reader_id"])
        await Copy.filter(id=copy.id).update(status=CopyStatus.LOST)
    return loan


async def receive(
    barcode: str, *, library: Library, staff: StaffUser, now: datetime, policy: HoldPolicy, bus: EventBus
) -> CheckIn:
    """A copy in transit arrives at `library`, the staff member's own or one in their scope (a district desk lands
    copies for an unstaffed 24-hour library): onto the hold shelf for the reader it travelled for, on to their new
    pickup library if they changed it, or onto the shelf (or the next hold) there."""
    if not in_scope(library, staff.library.path):
        raise OutsideScope()
    async with bus.transaction():
        copy = await _locked_copy(barcode)
        if copy.status is not CopyStatus.IN_TRANSIT:
            raise CopyNotInTransit()
        hold = await holds.arrived(copy, library, now, policy)
        record(CopyMoved(copy.id, copy.record_id, library.id))
    return await _checked_in(copy, 0, hold)


async def _locked_copy(barcode: str) -> Copy:
    # FOR UPDATE OF the copy only: over the join it would lock the record's row too, and every desk lending a copy
    # of the same title would queue.
    barcode = normalise_barcode(barcode)
    copy = await Copy.select_for_update(of=("copy",)).get_or_none(barcode=barcode).select_related("record")
    if copy is None:
        raise CopyNotFound(barcode=barcode)
    return copy


def overdue_days(loan: Loan, now: datetime) -> int:
    """Whole days past the due date, counted in the lending library's calendar."""
    zone = ZoneInfo(loan.library.timezone)
    return max((now.astimezone(zone).date() - loan.due_at.astimezone(zone).date()).days, 0)


def terms_of(table: RuleTable, loan: Loan) -> LoanTerms:
    """The terms a loan has now (its copy and library loaded): resolved from the rules as they are, not kept from
    its checkout, as Koha does at renewal. A changed rule changes the terms of loans already made, and the loans of a
    deleted rule follow the rules that apply to them now."""
    return table.terms(loan.reader_category, loan.copy.item_type, rules.ancestry(loan.library))


async def _charge_overdue(loan: Loan, now: datetime, table: RuleTable | None = None) -> None:
    """One ledger line per overdue day not yet charged. The unique occasion of each line is what keeps two runs at
    once (or a run and a return) from charging a day twice; the loan's count only spares re-inserting old days."""
    days = overdue_days(loan, now)
    if loan.reader_id is None or days <= loan.overdue_days_charged:
        return
    terms = terms_of(table or await rules.rule_table(), loan)
    if terms.credit_per_overdue_day:
        await CreditEvent.bulk_create(
            [
                CreditEvent(
                    reader_id=loan.reader_id,
                    reason=CreditReason.OVERDUE,
                    points=-terms.credit_per_overdue_day,
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
    loans = await Loan.filter(returned_at__isnull=True, due_at__lt=now).select_related("copy", "library")
    table = await rules.rule_table()
    for loan in loans:
        await _charge_overdue(loan, now, table)
    return len(loans)


async def renewal_refusal(loan: Loan, terms: LoanTerms, tier: CreditTier, now: datetime) -> DomainError | None:
    """Why this loan cannot be renewed now, or None when it can."""
    if now > loan.due_at:
        return OverdueNotRenewable()
    if loan.renewals >= min(terms.renewals, tier.max_renewals):
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
        await loan.fetch_related("library", "copy")
        terms = terms_of(await rules.rule_table(), loan)
        tier = await rules.tier_for(await rules.credit_score(reader.id))
        if (refusal := await renewal_refusal(loan, terms, tier, now)) is not None:
            raise refusal
        start = loan.due_at if terms.renew_from is RenewFrom.DUE_DATE else now
        loan.due_at = rules.due_after(start, terms.renewal_days, loan.library.timezone)
        loan.renewals += 1
        await loan.save(update_fields=["due_at", "renewals"])
    return loan


@dataclass(frozen=True, slots=True)
class LoanState:
    """What an open loan comes to now, as its reader is shown it."""

    overdue_days: int
    overdue_fee_cents: int
    """What the overdue fee of the loan's terms comes to so far; 0 where the library charges none."""
    not_renewable_because: DomainError | None


async def loan_state(loan: Loan, terms: LoanTerms, tier: CreditTier, now: datetime) -> LoanState:
    days = overdue_days(loan, now)
    return LoanState(days, terms.overdue_fee_cents(days), await renewal_refusal(loan, terms, tier, now))


async def open_loans(
    reader_id: int, now: datetime, *, limit: int, offset: int
) -> tuple[list[tuple[Loan, LoanState]], int]:
    """The reader's loans, soonest due first, each with its fee so far and why it cannot be renewed."""
    query = Loan.filter(reader_id=reader_id, returned_at__isnull=True).order_by("due_at", "id")
    loans, total = await paging.page(query.select_related("copy__record", "library"), limit, offset)
    return await _with_state(reader_id, loans, now), total


async def open_loan(reader_id: int, loan_id: int, now: datetime) -> tuple[Loan, LoanState]:
    """One of the reader's loans, with its state as `open_loans` gives it."""
    query = Loan.filter(id=loan_id, reader_id=reader_id, returned_at__isnull=True)
    loan = await query.select_related("copy__record", "library").first()
    if loan is None:
        raise LoanNotFound()
    ((_, state),) = await _with_state(reader_id, [loan], now)
    return loan, state


async def _with_state(reader_id: int, loans: list[Loan], now: datetime) -> list[tuple[Loan, LoanState]]:
    table = await rules.rule_table()
    tier = (await standing(reader_id, now)).tier
    return [(loan, await loan_state(loan, terms_of(table, loan), tier, now)) for loan in loans]


async def reading_history(reader: Reader, *, limit: int, offset: int) -> tuple[list[Loan], int]:
    """Returned loans the reader chose to keep (nothing unless they opted in), the last returned first."""
    kept = Loan.filter(reader_id=reader.id, returned_at__isnull=False).order_by("-returned_at", "-id")
    return await paging.page(kept.select_related("copy__record", "library"), limit, offset)


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
