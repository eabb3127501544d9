"""Loans, returns and credit as readers and desks see them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from backend.catalog.models import CopyStatus, ItemType
from backend.circulation import rules
from backend.circulation.holds import QueuePlace
from backend.circulation.models import (
    CreditEvent,
    CreditReason,
    CreditTier,
    Hold,
    HoldStatus,
    Loan,
    ReaderCategory,
    RenewFrom,
    Suspension,
    SuspensionKind,
)
from backend.circulation.policy import EffectiveTerms, StatedRule, TierDraft
from backend.circulation.services import CheckIn, LoanState
from backend.circulation.standing import Standing
from backend.circulation.terms import TERMS
from miniprogram_api.catalog.schemas import Barcode
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import CardNumber, Day, Moment, Page, RowId, named, text


class SelfCheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code
    """The self-service library the reader is at (from its door code)."""
    barcode: Barcode


class DeskCheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    """The copy, and the reader by exactly one of their phone's card code or their physical card's number."""

    barcode: Barcode
    card_payload: Annotated[str, text(200, min_length=1)] | None = None
    """The reader's virtual card, as scanned from their phone."""
    card_number: CardNumber | None = None


class BarcodeIn(msgspec.Struct, forbid_unknown_fields=True):
    barcode: Barcode


class ReceiveIn(msgspec.Struct, forbid_unknown_fields=True):
    barcode: Barcode
    library_code: Code | None = None
    """Where the copy arrived, if not at the staff member's own library: any library in their scope."""


class ReadingHistoryIn(msgspec.Struct, forbid_unknown_fields=True):
    keep: bool


class Refusal(msgspec.Struct):
    code: str
    message: str


class LoanOut(msgspec.Struct):
    id: int
    barcode: str
    record_id: int
    title: str
    library_code: str
    library_name: str
    checked_out_at: datetime
    due_at: datetime
    overdue_days: int
    renewals: int
    renewable: bool
    not_renewable_because: Refusal | None
    overdue_fee_cents: int
    """What the overdue fee of the loan's terms comes to so far (capped); 0 where the library charges none."""

    @classmethod
    def of(cls, loan: Loan, state: LoanState, language: str) -> LoanOut:
        refusal = state.not_renewable_because
        return cls(
            id=loan.id,
            barcode=loan.copy.barcode,
            record_id=loan.copy.record.id,
            title=loan.copy.record.title,
            library_code=loan.library.code,
            library_name=loan.library.name,
            checked_out_at=loan.checked_out_at,
            due_at=loan.due_at,
            overdue_days=state.overdue_days,
            renewals=loan.renewals,
            renewable=refusal is None,
            not_renewable_because=None if refusal is None else Refusal(refusal.code, refusal.message(language)),
            overdue_fee_cents=state.overdue_fee_cents,
        )


LoanPage = Annotated[Page[LoanOut], named("LoanPage")]


class HistoryItemOut(msgspec.Struct):
    record_id: int
    title: str
    library_code: str
    checked_out_at: datetime
    returned_at: datetime

    @classmethod
    def of(cls, loan: Loan) -> HistoryItemOut:
        assert loan.returned_at is not None
        record = loan.copy.record
        return cls(record.id, record.title, loan.library.code, loan.checked_out_at, loan.returned_at)


HistoryPage = Annotated[Page[HistoryItemOut], named("HistoryPage")]


class TierOut(msgspec.Struct):
    id: int
    name: str
    min_score: int
    deposit_free: bool
    self_service: bool
    max_loans: int
    max_loan_days: int
    max_renewals: int
    max_holds: int
    delivery: bool

    @classmethod
    def of(cls, tier: CreditTier) -> TierOut:
        return cls(
            tier.id,
            tier.name,
            tier.min_score,
            tier.deposit_free,
            tier.self_service,
            tier.max_loans,
            tier.max_loan_days,
            tier.max_renewals,
            tier.max_holds,
            tier.delivery,
        )


TierPage = Annotated[Page[TierOut], named("TierPage")]


class LedgerLineOut(msgspec.Struct):
    reason: CreditReason
    points: int
    note: str
    at: datetime

    @classmethod
    def of(cls, event: CreditEvent) -> LedgerLineOut:
        return cls(event.reason, event.points, event.note, event.created_at)


class SuspensionOut(msgspec.Struct):
    id: int
    kind: SuspensionKind
    reason: str
    until: datetime | None

    @classmethod
    def of(cls, suspension: Suspension) -> SuspensionOut:
        return cls(suspension.id, suspension.kind, suspension.reason, suspension.ends_at)


class AdjustmentIn(msgspec.Struct, forbid_unknown_fields=True):
    points: Annotated[int, msgspec.Meta(ge=-100, le=100)]
    note: Annotated[str, text(200, min_length=1)]
    """Shown to the reader in their ledger."""


class SuspensionIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: SuspensionKind
    reason: Annotated[str, text(200, min_length=1)]
    """Shown to the reader when a loan is refused."""
    until: Moment | None = None
    """None: until lifted."""


class CreditOut(msgspec.Struct):
    score: int
    tier: TierOut
    on_loan: int
    overdue: int
    suspension: SuspensionOut | None
    ledger: list[LedgerLineOut]
    """The newest 100 lines; the score is the starting score plus all of them."""

    @classmethod
    def of(cls, standing: Standing, ledger: list[CreditEvent]) -> CreditOut:
        return cls(
            score=standing.score,
            tier=TierOut.of(standing.tier),
            on_loan=standing.on_loan,
            overdue=standing.overdue,
            suspension=None if standing.suspension is None else SuspensionOut.of(standing.suspension),
            ledger=[LedgerLineOut.of(e) for e in ledger],
        )


class DeskLoanOut(msgspec.Struct):
    loan_id: int
    barcode: str
    title: str
    card_number: str
    due_at: datetime


class CheckInOut(msgspec.Struct):
    """What the desk does with a copy it scanned in."""

    barcode: str
    title: str
    status: CopyStatus
    """available: shelve it here; on_hold_shelf: put it on the hold shelf for `hold_card_number`; in_transit:
    send it to `send_to_library_code`."""
    send_to_library_code: str | None
    hold_card_number: str | None
    """The reader whose hold the copy now serves (on the hold shelf here, or at the pickup library)."""
    overdue_days: int

    @classmethod
    def of(cls, done: CheckIn) -> CheckInOut:
        copy = done.copy
        send_to = copy.in_transit_to.code if copy.in_transit_to is not None else None
        card = done.hold.reader.card_number if done.hold is not None else None
        return cls(copy.barcode, copy.record.title, copy.status, send_to, card, done.overdue_days)


class HoldIn(msgspec.Struct, forbid_unknown_fields=True):
    record_id: RowId
    pickup_library_code: Code


class HoldPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Change the pickup library (until the copy is on the hold shelf), or suspend the hold until a date (keeping
    the place in the queue); `suspended_until: null` resumes it."""

    pickup_library_code: Code | None = None
    suspended_until: Day | msgspec.UnsetType | None = msgspec.UNSET


class HoldOut(msgspec.Struct):
    id: int
    record_id: int
    title: str
    pickup_library_code: str
    pickup_library_name: str
    status: HoldStatus
    placed_at: datetime
    position: int | None
    """Place in the queue (1: next), while waiting."""
    waiting: int | None
    estimated_wait_days: int | None
    suspended_until: date | None
    expires_at: datetime | None
    """While ready: the last moment to collect it."""

    @classmethod
    def of(cls, hold: Hold, place: QueuePlace) -> HoldOut:
        waiting = hold.status is HoldStatus.WAITING
        return cls(
            id=hold.id,
            record_id=hold.record.id,
            title=hold.record.title,
            pickup_library_code=hold.pickup_library.code,
            pickup_library_name=hold.pickup_library.name,
            status=hold.status,
            placed_at=hold.placed_at,
            position=place.position if waiting else None,
            waiting=place.waiting if waiting else None,
            estimated_wait_days=place.estimated_days if waiting else None,
            suspended_until=hold.suspended_until,
            expires_at=hold.expires_at,
        )


HoldPage = Annotated[Page[HoldOut], named("HoldPage")]


class ShelfCopyOut(msgspec.Struct):
    """A copy for the desk to fetch: from the shelves (pull list) or the hold shelf (to clear), or in transit."""

    barcode: str
    record_id: int
    title: str
    shelf_location: str
    status: CopyStatus
    from_library_code: str | None = None
    to_library_code: str | None = None


ShelfCopyPage = Annotated[Page[ShelfCopyOut], named("ShelfCopyPage")]


class HoldShelfOut(msgspec.Struct):
    hold_id: int
    barcode: str
    title: str
    card_number: str
    reader_name: str
    expires_at: datetime

    @classmethod
    def of(cls, hold: Hold) -> HoldShelfOut:
        assert hold.copy is not None and hold.expires_at is not None, "holds.hold_shelf lists only holds set aside"
        reader = hold.reader
        return cls(hold.id, hold.copy.barcode, hold.record.title, reader.card_number, reader.name, hold.expires_at)


HoldShelfPage = Annotated[Page[HoldShelfOut], named("HoldShelfPage")]


class TierIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(20, min_length=1)]
    min_score: Annotated[int, msgspec.Meta(ge=-1000, le=rules.MAX_SCORE)]
    """The tier covers scores from here up to the next tier's."""
    deposit_free: bool
    self_service: bool
    max_loans: Annotated[int, msgspec.Meta(ge=0, le=100)]
    max_loan_days: Annotated[int, msgspec.Meta(ge=1, le=365)]
    max_renewals: Annotated[int, msgspec.Meta(ge=0, le=10)]
    max_holds: Annotated[int, msgspec.Meta(ge=0, le=100)]
    delivery: bool

    def draft(self) -> TierDraft:
        return TierDraft(**msgspec.structs.asdict(self))


def _within(term: str) -> msgspec.Meta:
    low, high = TERMS[term].bounds
    return msgspec.Meta(ge=low, le=high)


class RuleTermsIn(msgspec.Struct, forbid_unknown_fields=True):
    """The terms a rule states. A term left out, or null, is not stated: it comes from a less specific rule (the
    fallback states every term). To PATCH a rule is to change the terms given, null ones ceasing to be stated; to PUT
    it, to state exactly the terms given."""

    loan_days: Annotated[int, _within("loan_days")] | UnsetType | None = UNSET
    renewals: Annotated[int, _within("renewals")] | UnsetType | None = UNSET
    renewal_days: Annotated[int, _within("renewal_days")] | UnsetType | None = UNSET
    renew_from: RenewFrom | UnsetType | None = UNSET
    holds_allowed: bool | UnsetType | None = UNSET
    credit_per_overdue_day: Annotated[int, _within("credit_per_overdue_day")] | UnsetType | None = UNSET
    """Credit points deducted per overdue day of one item."""
    fee_cents_per_day: Annotated[int, _within("fee_cents_per_day")] | UnsetType | None = UNSET
    """Overdue fee shown to the reader, in fen per day (10 = 0.10 yuan)."""
    fee_cap_cents: Annotated[int, _within("fee_cap_cents")] | UnsetType | None = UNSET
    block_after_overdue_items: Annotated[int, _within("block_after_overdue_items")] | UnsetType | None = UNSET
    """With this many items overdue the reader borrows no more."""
    delivery_allowed: bool | UnsetType | None = UNSET
    """May borrow online for delivery (网上借阅，送书上门), where the reader's credit tier allows it too."""

    def changes(self) -> dict[str, object | None]:
        """The terms given, null ones included."""
        return {term: getattr(self, term) for term in TERMS if getattr(self, term) is not UNSET}

    def stated(self) -> dict[str, object]:
        """The terms given a value."""
        return {term: value for term, value in self.changes().items() if value is not None}


class RuleIn(RuleTermsIn, forbid_unknown_fields=True):
    """A new rule: the terms it states for its scope; an empty category, item type or library matches any."""

    reader_category: ReaderCategory | None = None
    item_type: ItemType | None = None
    library_code: Code | None = None


class LoanRuleOut(msgspec.Struct):
    id: int
    reader_category: ReaderCategory | None
    item_type: ItemType | None
    library_code: str | None
    fallback: bool
    """The rule that states every term, for any reader, item and library; it cannot be deleted."""
    loan_days: int | None
    """Each term as this rule states it; null: not stated here, it comes from a less specific rule."""
    renewals: int | None
    renewal_days: int | None
    renew_from: RenewFrom | None
    holds_allowed: bool | None
    credit_per_overdue_day: int | None
    fee_cents_per_day: int | None
    fee_cap_cents: int | None
    block_after_overdue_items: int | None
    delivery_allowed: bool | None

    @classmethod
    def of(cls, stated: StatedRule) -> LoanRuleOut:
        rule, library = stated.rule, stated.library
        terms: dict[str, Any] = {term: rule.stated.get(term) for term in TERMS}
        return cls(
            id=rule.id,
            reader_category=rule.scope.reader_category,
            item_type=rule.scope.item_type,
            library_code=None if library is None else library.code,
            fallback=rule.scope.fallback,
            **terms,
        )


LoanRulePage = Annotated[Page[LoanRuleOut], named("LoanRulePage")]


class EffectiveTermOut(msgspec.Struct):
    term: str
    value: int | bool | str
    rule_id: int
    """The rule the term comes from: the most specific that states it."""
    reader_category: ReaderCategory | None
    item_type: ItemType | None
    library_code: str | None


class EffectiveTermsOut(msgspec.Struct):
    """The terms a loan gets: each from the most specific rule that states it (the lending library and the libraries
    above it weigh most, nearer first, then the reader category, then the item type)."""

    reader_category: ReaderCategory
    item_type: ItemType
    library_code: str
    terms: list[EffectiveTermOut]

    @classmethod
    def of(cls, found: EffectiveTerms) -> EffectiveTermsOut:
        terms = [
            EffectiveTermOut(
                term=term,
                value=getattr(found.terms, term),
                rule_id=source.rule.id,
                reader_category=source.rule.scope.reader_category,
                item_type=source.rule.scope.item_type,
                library_code=None if source.library is None else source.library.code,
            )
            for term, source in found.sources.items()
        ]
        return cls(found.reader_category, found.item_type, found.library.code, terms)
