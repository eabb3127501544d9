"""Borrowing on credit: the reader's loans, renewals, credit and reading history; checkout and return at desks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter

from backend.accounts import services as accounts
from backend.accounts.errors import (
    CardNumberInvalid,
    CardPayloadExpired,
    CardPayloadInvalid,
    CardPayloadReplayed,
    CardReportedLost,
    ChildNotFound,
    ReaderCardNotFound,
    ReaderCardRequired,
    RoleTooLow,
)
from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import CopyNotFound, RecordNotFound
from backend.catalog.models import Copy, CopyStatus, ItemType
from backend.circulation import credit, holds, policy, services
from backend.circulation.errors import (
    CopyHeldForAnother,
    CopyNotAvailable,
    CopyNotHere,
    CopyNotInTransit,
    CopyNotOnLoan,
    CounterOnly,
    CreditTooLow,
    FallbackRuleRequired,
    FallbackTermsRequired,
    HoldAlreadyPlaced,
    HoldLimitReached,
    HoldNotChangeable,
    HoldNotFound,
    HoldsWaiting,
    InvalidTerm,
    LastTierRequired,
    LoanLimitReached,
    LoanNotFound,
    LoanRuleEmpty,
    LoanRuleExists,
    LoanRuleNotFound,
    NoSelfService,
    NotLending,
    OverdueItemsBlock,
    OverdueNotRenewable,
    PickupNotOffered,
    ReaderSuspended,
    RecordNotHoldable,
    RenewalsUsedUp,
    SuspensionNotFound,
    SuspensionSetAbove,
    TierConflict,
    TierNotFound,
    TitleAlreadyOnLoan,
)
from backend.circulation.models import ReaderCategory
from backend.circulation.standing import standing
from backend.counter import services as counter
from backend.money.errors import FeesOwed
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.network.models import Library
from backend.network.services import get_library, library_in_scope
from backend.ratelimits import RateLimited
from entrypoints.bootstrap import Dependencies
from miniprogram_api.circulation.schemas import (
    AdjustmentIn,
    BarcodeIn,
    CheckInOut,
    CreditOut,
    DeskCheckoutIn,
    DeskLoanOut,
    EffectiveTermsOut,
    HistoryItemOut,
    HistoryPage,
    HoldIn,
    HoldOut,
    HoldPage,
    HoldPatch,
    HoldShelfOut,
    HoldShelfPage,
    LedgerLineOut,
    LoanOut,
    LoanPage,
    LoanRuleOut,
    LoanRulePage,
    ReadingHistoryIn,
    ReceiveIn,
    RuleIn,
    RuleTermsIn,
    SelfCheckoutIn,
    ShelfCopyOut,
    ShelfCopyPage,
    SuspensionIn,
    SuspensionOut,
    TierIn,
    TierOut,
    TierPage,
)
from miniprogram_api.deps import BEARER, HOLDER_PROBLEMS, READER_PROBLEMS, STAFF_PROBLEMS, provide_child, provide_self
from miniprogram_api.errors import language_of, problems
from miniprogram_api.network.schemas import LibraryCodeParam
from miniprogram_api.schemas import BigRowId, CardNumber, Offset, Page, ReaderLimit, RowId, StaffLimit

# The card holder's endpoints serve the reader and, under /readers/me/children/{child_id}, a child's card.
# A card number given by staff: mistyped (its check digit does not match), or nobody's.
_CARD = (CardNumberInvalid, ReaderCardNotFound, CardReportedLost)
# Every reason a checkout is refused, each with its own code. Several at once come as one 409 whose `code` is the
# first and whose `reasons` list them all.
_REFUSALS = (
    CopyNotFound,
    CopyNotHere,
    CopyNotAvailable,
    CopyHeldForAnother,
    NotLending,
    ReaderSuspended,
    FeesOwed,
    CreditTooLow,
    OverdueItemsBlock,
    LoanLimitReached,
)


async def _checkout(
    deps: Dependencies,
    reader: Reader,
    barcode: str,
    now: datetime,
    *,
    staff: StaffUser | None = None,
    library: Library | None = None,
) -> services.Lent:
    """A checkout at a desk (`staff`) or at a self-service `library`, on the wiring both share."""
    return await services.checkout(
        reader,
        barcode,
        now=now,
        bus=deps.bus,
        network_time=deps.network_time,
        staff=staff,
        library=library,
        credit_check=deps.credit_check,
    )


async def _loan_out(loan_id: int, holder: Reader, deps: Dependencies, request: Request[Any, Any, Any]) -> LoanOut:
    return LoanOut.of(*await services.open_loan(holder.id, loan_id, deps.clock.now()), language_of(request))


class LoanController(Controller):
    path = "/readers/me"
    tags = ["Borrowing"]
    security = BEARER
    dependencies = {"holder": Provide(provide_self)}

    @get("/loans", responses=problems(*HOLDER_PROBLEMS))
    async def loans(
        self,
        deps: Dependencies,
        holder: Reader,
        request: Request[Any, Any, Any],
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> LoanPage:
        """What I have on loan, the soonest due first: due dates, days overdue, and whether each can be renewed (and
        if not, why)."""
        found, total = await services.open_loans(holder.id, deps.clock.now(), limit=limit, offset=offset)
        language = language_of(request)
        return Page.of([LoanOut.of(loan, state, language) for loan, state in found], total, limit, offset)

    @post(
        "/loans/self-checkout",
        responses=problems(*HOLDER_PROBLEMS, LibraryNotFound, NoSelfService, CounterOnly, *_REFUSALS),
    )
    async def self_checkout(
        self, deps: Dependencies, holder: Reader, data: SelfCheckoutIn, request: Request[Any, Any, Any]
    ) -> LoanOut:
        """Borrow a book alone at a self-service library by scanning its barcode in the app."""
        library = await get_library(data.library_code)
        now = deps.clock.now()
        lent = await _checkout(deps, holder, data.barcode, now, library=library)
        state = await services.loan_state(lent.loan, lent.terms, lent.tier, now)
        return LoanOut.of(lent.loan, state, language_of(request))

    @post(
        "/loans/{loan_id:int}/renew",
        responses=problems(*HOLDER_PROBLEMS, LoanNotFound, OverdueNotRenewable, RenewalsUsedUp, HoldsWaiting),
    )
    async def renew(
        self, deps: Dependencies, holder: Reader, loan_id: BigRowId, request: Request[Any, Any, Any]
    ) -> LoanOut:
        """Keep a book longer, when the loan rule and my credit tier allow another renewal."""
        await services.renew(holder, loan_id, deps.clock.now())
        return await _loan_out(loan_id, holder, deps, request)

    @get("/credit", responses=problems(*HOLDER_PROBLEMS))
    async def credit(self, deps: Dependencies, holder: Reader) -> CreditOut:
        """My credit score, what my tier lets me do, and the ledger that explains the score."""
        current = await standing(holder.id, deps.clock.now())
        return CreditOut.of(current, await services.credit_ledger(holder.id))

    @get("/reading-history", responses=problems(*HOLDER_PROBLEMS))
    async def reading_history(
        self,
        holder: Reader,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> HistoryPage:
        """Books I returned, newest first: kept only while I have asked for a reading history."""
        found, total = await services.reading_history(holder, limit=limit, offset=offset)
        return Page.of([HistoryItemOut.of(loan) for loan in found], total, limit, offset)

    @put("/reading-history", status_code=204, responses=problems(*HOLDER_PROBLEMS))
    async def keep_reading_history(self, holder: Reader, data: ReadingHistoryIn) -> None:
        """Keep a reading history from now on, or stop keeping one (which also deletes it)."""
        await services.set_reading_history(holder, data.keep)

    @delete("/reading-history", status_code=204, responses=problems(*HOLDER_PROBLEMS))
    async def delete_reading_history(self, holder: Reader) -> None:
        """Delete the reading history kept so far (the setting stays as it is)."""
        await services.forget_reading_history(holder)


class DeskController(Controller):
    path = "/staff"
    tags = ["Staff: circulation"]
    security = BEARER

    @post(
        "/checkouts",
        responses=problems(
            *STAFF_PROBLEMS,
            CardPayloadInvalid,
            CardPayloadExpired,
            CardPayloadReplayed,
            ReaderCardRequired,
            *_CARD,
            ChildNotFound,
            CounterOnly,
            *_REFUSALS,
        ),
    )
    async def checkout(self, deps: Dependencies, staff: StaffUser, data: DeskCheckoutIn) -> DeskLoanOut:
        """Lend a copy at the desk: a copy of one of my libraries, to the reader whose phone card was scanned, or whose
        physical card's number was scanned or typed."""
        now = deps.clock.now()
        reader = await accounts.identify_at_desk(
            deps.cards, now, payload=data.card_payload, card_number=data.card_number
        )
        lent = await _checkout(deps, reader, data.barcode, now, staff=staff)
        loan = lent.loan
        return DeskLoanOut(loan.id, loan.copy.barcode, loan.copy.record.title, reader.card_number, loan.due_at)

    @post("/checkins", status_code=200, responses=problems(*STAFF_PROBLEMS, CopyNotFound, CopyNotOnLoan, NotLending))
    async def check_in(self, deps: Dependencies, staff: StaffUser, data: BarcodeIn) -> CheckInOut:
        """Scan a copy in, whichever library lent it (通借通还), or one fetched for the pull list or left on the hold
        shelf: the answer says whether to shelve it, put it on the hold shelf, or send it on."""
        done = await services.check_in(
            data.barcode, staff=staff, now=deps.clock.now(), policy=deps.hold_policy, bus=deps.bus
        )
        return CheckInOut.of(done)

    @post(
        "/transits/receive",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope, CopyNotFound, CopyNotInTransit),
    )
    async def receive(self, deps: Dependencies, staff: StaffUser, data: ReceiveIn) -> CheckInOut:
        """A copy in transit has arrived here, or at `library_code` in my scope (an unstaffed library I land copies
        for): for the hold shelf, on its way again, or for the shelves."""
        library = await library_in_scope(data.library_code or staff.library.code, staff.library.path)
        done = await services.receive(
            data.barcode, library=library, staff=staff, now=deps.clock.now(), policy=deps.hold_policy, bus=deps.bus
        )
        return CheckInOut.of(done)

    @get("/libraries/{code:str}/pull-list", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def pull_list(
        self, staff: StaffUser, code: LibraryCodeParam, limit: StaffLimit = 100, offset: Offset = 0
    ) -> ShelfCopyPage:
        """Copies on this library's shelves that readers' holds are waiting for, in shelf order: fetch them and scan
        them in."""
        library = await library_in_scope(code, staff.library.path)
        found, total = await holds.pull_list(library, limit=limit, offset=offset)
        return Page.of([_shelf_copy(copy) for copy in found], total, limit, offset)

    @get("/libraries/{code:str}/hold-shelf", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def hold_shelf(
        self, staff: StaffUser, code: LibraryCodeParam, limit: StaffLimit = 100, offset: Offset = 0
    ) -> HoldShelfPage:
        """Holds ready for collection here, the soonest to expire first."""
        library = await library_in_scope(code, staff.library.path)
        found, total = await holds.hold_shelf(library, limit=limit, offset=offset)
        return Page.of([HoldShelfOut.of(hold) for hold in found], total, limit, offset)

    @get("/libraries/{code:str}/holds-to-clear", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def holds_to_clear(
        self, staff: StaffUser, code: LibraryCodeParam, limit: StaffLimit = 100, offset: Offset = 0
    ) -> ShelfCopyPage:
        """Copies on this hold shelf whose hold expired or was cancelled: scan them in to pass them on."""
        library = await library_in_scope(code, staff.library.path)
        found, total = await holds.to_clear(library, limit=limit, offset=offset)
        return Page.of([_shelf_copy(copy) for copy in found], total, limit, offset)

    @get("/libraries/{code:str}/transits", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def transits(
        self,
        staff: StaffUser,
        code: LibraryCodeParam,
        direction: Annotated[Literal["incoming", "outgoing"], Parameter(description="To or from this library")],
        limit: StaffLimit = 100,
        offset: Offset = 0,
    ) -> ShelfCopyPage:
        """Copies in transit to this library, or sent from it, the longest on the way first."""
        library = await library_in_scope(code, staff.library.path)
        found, total = await holds.in_transit(library, incoming=direction == "incoming", limit=limit, offset=offset)
        return Page.of([_shelf_copy(copy) for copy in found], total, limit, offset)


def _shelf_copy(copy: Copy) -> ShelfCopyOut:
    travelling = copy.status is CopyStatus.IN_TRANSIT
    return ShelfCopyOut(
        barcode=copy.barcode,
        record_id=copy.record.id,
        title=copy.record.title,
        shelf_location=copy.shelf_location,
        status=copy.status,
        from_library_code=copy.current_library.code if travelling else None,
        to_library_code=copy.in_transit_to.code if travelling and copy.in_transit_to is not None else None,
    )


class HoldController(Controller):
    path = "/readers/me/holds"
    tags = ["Borrowing"]
    security = BEARER
    dependencies = {"holder": Provide(provide_self)}

    @get("/", responses=problems(*HOLDER_PROBLEMS))
    async def my_holds(self, holder: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> HoldPage:
        """My holds, the first placed first: place in the queue and estimated wait, or ready to collect until when."""
        found, total = await holds.my_holds(holder.id, limit=limit, offset=offset)
        return Page.of([HoldOut.of(hold, place) for hold, place in found], total, limit, offset)

    @post(
        "/",
        responses=problems(
            *READER_PROBLEMS,
            RecordNotFound,
            LibraryNotFound,
            PickupNotOffered,
            RecordNotHoldable,
            ReaderSuspended,
            FeesOwed,
            CreditTooLow,
            HoldLimitReached,
            HoldAlreadyPlaced,
            TitleAlreadyOnLoan,
        ),
    )
    async def place(self, deps: Dependencies, holder: Reader, data: HoldIn) -> HoldOut:
        """Hold a title for pickup at any library that offers it; the first free copy is sent there."""
        hold = await holds.place_hold(
            holder, data.record_id, data.pickup_library_code, deps.clock.now(), deps.network_time, deps.credit_check
        )
        return await _hold_out(holder, hold.id)

    @patch(
        "/{hold_id:int}",
        responses=problems(*HOLDER_PROBLEMS, HoldNotFound, HoldNotChangeable, LibraryNotFound, PickupNotOffered),
    )
    async def change(self, holder: Reader, hold_id: RowId, data: HoldPatch) -> HoldOut:
        """Change the pickup library, or suspend the hold until a date (null resumes it)."""
        if data.pickup_library_code is not None:
            await holds.change_pickup(holder, hold_id, data.pickup_library_code)
        if not isinstance(data.suspended_until, msgspec.UnsetType):
            await holds.suspend(holder, hold_id, data.suspended_until)
        return await _hold_out(holder, hold_id)

    @delete("/{hold_id:int}", status_code=204, responses=problems(*HOLDER_PROBLEMS, HoldNotFound))
    async def cancel(self, deps: Dependencies, holder: Reader, hold_id: RowId) -> None:
        """Cancel a hold; a copy already on its way or on the shelf for me passes to the next reader."""
        await holds.cancel(holder, hold_id, deps.clock.now())


class ChildLoanController(LoanController):
    """A child's loans, credit and reading record, kept by the guardian, who also borrows on the child's card."""

    path = "/readers/me/children/{child_id:int}"
    tags = ["Borrowing: children"]
    dependencies = {"holder": Provide(provide_child)}


class ChildHoldController(HoldController):
    """Holds on a child's card, placed and managed by the guardian."""

    path = "/readers/me/children/{child_id:int}/holds"
    tags = ["Borrowing: children"]
    dependencies = {"holder": Provide(provide_child)}


async def _hold_out(holder: Reader, hold_id: int) -> HoldOut:
    return HoldOut.of(*await holds.my_hold(holder.id, hold_id))


class StaffReaderController(Controller):
    path = "/staff"
    tags = ["Staff: circulation"]
    security = BEARER

    @get("/readers/{card_number:str}/credit", responses=problems(*STAFF_PROBLEMS, *_CARD, RateLimited))
    async def credit(self, deps: Dependencies, staff: StaffUser, card_number: CardNumber) -> CreditOut:
        """A reader's credit as they see it, to explain a refusal at the desk. Logged as a look-up of the reader (one
        outside my libraries spends one of my hourly look-ups of such readers)."""
        seen = await counter.reader_credit(staff, deps.keys, deps.rate_limits, card_number, deps.clock.now())
        return CreditOut.of(seen.standing, seen.ledger)

    @post("/readers/{card_number:str}/credit-adjustments", responses=problems(*STAFF_PROBLEMS, RoleTooLow, *_CARD))
    async def adjust(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, data: AdjustmentIn
    ) -> LedgerLineOut:
        """Add or deduct credit with a note the reader sees (a damaged book, a correction). Library admins only."""
        event = await credit.adjust(staff, card_number, data.points, data.note, deps.clock.now())
        return LedgerLineOut.of(event)

    @post("/readers/{card_number:str}/suspensions", responses=problems(*STAFF_PROBLEMS, RoleTooLow, *_CARD))
    async def suspend(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, data: SuspensionIn
    ) -> SuspensionOut:
        """Suspend a reader's borrowing: until a date, or blacklist them until lifted, with the reason they are told."""
        suspension = await credit.suspend(staff, card_number, data.kind, data.reason, data.until, deps.clock.now())
        return SuspensionOut.of(suspension)

    @delete(
        "/suspensions/{suspension_id:int}",
        status_code=204,
        responses=problems(*STAFF_PROBLEMS, RoleTooLow, SuspensionNotFound, SuspensionSetAbove),
    )
    async def lift(self, deps: Dependencies, staff: StaffUser, suspension_id: RowId) -> None:
        """Lift a suspension now: one set at my level or below (a network admin's only by a network admin)."""
        await credit.lift(staff, suspension_id, deps.clock.now())


class PolicyController(Controller):
    path = "/staff"
    tags = ["Staff: lending policy"]
    security = BEARER

    @get("/credit-tiers", responses=problems(*STAFF_PROBLEMS))
    async def tiers(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> TierPage:
        """The credit tiers, highest first: what readers with a score from each tier's floor may do."""
        found, total = await policy.tiers(limit=limit, offset=offset)
        return Page.of([TierOut.of(tier) for tier in found], total, limit, offset)

    @post("/credit-tiers", responses=problems(*STAFF_PROBLEMS, RoleTooLow, TierConflict))
    async def create_tier(self, staff: StaffUser, data: TierIn) -> TierOut:
        """Add a tier (network admins)."""
        return TierOut.of(await policy.create_tier(staff, data.draft()))

    @put("/credit-tiers/{tier_id:int}", responses=problems(*STAFF_PROBLEMS, RoleTooLow, TierNotFound, TierConflict))
    async def update_tier(self, staff: StaffUser, tier_id: RowId, data: TierIn) -> TierOut:
        """Change a tier (network admins); it applies to every reader in it at once."""
        return TierOut.of(await policy.update_tier(staff, tier_id, data.draft()))

    @delete(
        "/credit-tiers/{tier_id:int}",
        status_code=204,
        responses=problems(*STAFF_PROBLEMS, RoleTooLow, TierNotFound, LastTierRequired),
    )
    async def delete_tier(self, staff: StaffUser, tier_id: RowId) -> None:
        """Remove a tier (network admins); its readers fall into the tier below."""
        await policy.delete_tier(staff, tier_id)

    @get("/loan-rules", responses=problems(*STAFF_PROBLEMS))
    async def loan_rules(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> LoanRulePage:
        """The loan rules, network-wide ones first: each states some terms for a reader category, an item type and a
        library (empty: any). Each term of a loan comes from the most specific rule that states it: library first
        (the lending library, then those above it), then reader category, then item type."""
        found, total = await policy.loan_rules(limit=limit, offset=offset)
        return Page.of([LoanRuleOut.of(rule) for rule in found], total, limit, offset)

    @get("/loan-rules/effective", responses=problems(*STAFF_PROBLEMS, LibraryNotFound))
    async def effective_terms(
        self, staff: StaffUser, reader_category: ReaderCategory, item_type: ItemType, library_code: LibraryCodeParam
    ) -> EffectiveTermsOut:
        """The terms a loan would get now: one of this reader category and item type made at this library, each term
        with the rule it comes from."""
        return EffectiveTermsOut.of(await policy.effective_terms(reader_category, item_type, library_code))

    @post(
        "/loan-rules",
        responses=problems(
            *STAFF_PROBLEMS, RoleTooLow, LibraryNotFound, OutsideScope, LoanRuleExists, LoanRuleEmpty, InvalidTerm
        ),
    )
    async def create_rule(self, staff: StaffUser, data: RuleIn) -> LoanRuleOut:
        """Add a rule: network-wide (network admins), or for a library and those below it (its administrators). It
        states only the terms that differ from the rules above it."""
        rule = await policy.create_rule(staff, data.reader_category, data.item_type, data.library_code, data.stated())
        return LoanRuleOut.of(rule)

    @put(
        "/loan-rules/{rule_id:int}",
        responses=problems(
            *STAFF_PROBLEMS,
            RoleTooLow,
            OutsideScope,
            LoanRuleNotFound,
            FallbackTermsRequired,
            LoanRuleEmpty,
            InvalidTerm,
        ),
    )
    async def replace_rule(self, staff: StaffUser, rule_id: RowId, data: RuleTermsIn) -> LoanRuleOut:
        """State exactly these terms in the rule (those left out come from the rules above); loans follow at once."""
        return LoanRuleOut.of(await policy.update_rule(staff, rule_id, data.changes(), replace=True))

    @patch(
        "/loan-rules/{rule_id:int}",
        responses=problems(
            *STAFF_PROBLEMS,
            RoleTooLow,
            OutsideScope,
            LoanRuleNotFound,
            FallbackTermsRequired,
            LoanRuleEmpty,
            InvalidTerm,
        ),
    )
    async def update_rule(self, staff: StaffUser, rule_id: RowId, data: RuleTermsIn) -> LoanRuleOut:
        """Change the terms given (null: no longer stated by this rule); the others stay. Loans follow at once."""
        return LoanRuleOut.of(await policy.update_rule(staff, rule_id, data.changes(), replace=False))

    @delete(
        "/loan-rules/{rule_id:int}",
        status_code=204,
        responses=problems(*STAFF_PROBLEMS, RoleTooLow, OutsideScope, LoanRuleNotFound, FallbackRuleRequired),
    )
    async def delete_rule(self, staff: StaffUser, rule_id: RowId) -> None:
        """Remove a rule; its terms come from the rules above it instead, for loans already made too."""
        await policy.delete_rule(staff, rule_id)
