"""Loans, returns and credit as readers and desks see them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec

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
    LoanRule,
    ReaderCategory,
    RenewFrom,
    Suspension,
    SuspensionKind,
)
from backend.circulation.policy import RuleTerms, TierDraft
from backend.circulation.services import CheckIn, overdue_days
from backend.circulation.standing import Standing
from backend.errors import DomainError
from miniprogram_api.catalog.schemas import BARCODE_PATTERN
from miniprogram_api.network.schemas import CODE_PATTERN
from miniprogram_api.schemas import text

Barcode = Annotated[str, msgspec.Meta(pattern=BARCODE_PATTERN)]


class SelfCheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)]
    """The self-service library the reader is at (from its door code)."""
    barcode: Barcode


class DeskCheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    card_payload: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """The reader's virtual card, as scanned."""
    barcode: Barcode


class BarcodeIn(msgspec.Struct, forbid_unknown_fields=True):
    barcode: Barcode


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
    """What the loan rule's overdue fee comes to so far (capped); 0 where the library charges none."""

    @classmethod
    def of(cls, loan: Loan, refusal: DomainError | None, now: datetime, language: str) -> LoanOut:
        days = overdue_days(loan, now)
        rule = loan.rule
        return cls(
            id=loan.id,
            barcode=loan.copy.barcode,
            record_id=loan.copy.record.id,
            title=loan.copy.record.title,
            library_code=loan.library.code,
            library_name=loan.library.name,
            checked_out_at=loan.checked_out_at,
            due_at=loan.due_at,
            overdue_days=days,
            renewals=loan.renewals,
            renewable=refusal is None,
            not_renewable_because=None if refusal is None else Refusal(refusal.code, refusal.message(language)),
            overdue_fee_cents=min(days * rule.fee_cents_per_day, rule.fee_cap_cents),
        )


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
    until: datetime | None = None
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
    record_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    pickup_library_code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)]


class HoldPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Change the pickup library (until the copy is on the hold shelf), or suspend the hold until a date (keeping
    the place in the queue); `suspended_until: null` resumes it."""

    pickup_library_code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)] | None = None
    suspended_until: date | msgspec.UnsetType | None = msgspec.UNSET


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


class ShelfCopyOut(msgspec.Struct):
    """A copy for the desk to fetch: from the shelves (pull list) or the hold shelf (to clear), or in transit."""

    barcode: str
    record_id: int
    title: str
    shelf_location: str
    status: CopyStatus
    from_library_code: str | None = None
    to_library_code: str | None = None


class HoldShelfOut(msgspec.Struct):
    hold_id: int
    barcode: str
    title: str
    card_number: str
    reader_name: str
    expires_at: datetime


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


class RuleTermsIn(msgspec.Struct, forbid_unknown_fields=True):
    loan_days: Annotated[int, msgspec.Meta(ge=1, le=365)]
    renewals: Annotated[int, msgspec.Meta(ge=0, le=10)]
    renewal_days: Annotated[int, msgspec.Meta(ge=1, le=365)]
    renew_from: RenewFrom
    holds_allowed: bool
    credit_per_overdue_day: Annotated[int, msgspec.Meta(ge=0, le=20)]
    """Credit points deducted per overdue day of one item."""
    fee_cents_per_day: Annotated[int, msgspec.Meta(ge=0, le=1000)]
    """Overdue fee shown to the reader, in fen per day (10 = 0.10 yuan)."""
    fee_cap_cents: Annotated[int, msgspec.Meta(ge=0, le=100_000)]
    block_after_overdue_items: Annotated[int, msgspec.Meta(ge=1, le=100)]
    """With this many items overdue the reader borrows no more."""

    def terms(self) -> RuleTerms:
        return RuleTerms(**{field: getattr(self, field) for field in RuleTermsIn.__struct_fields__})


class RuleIn(RuleTermsIn, forbid_unknown_fields=True):
    """A new row of the rule table; an empty category, item type or library matches any."""

    reader_category: ReaderCategory | None = None
    item_type: ItemType | None = None
    library_code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN)] | None = None


class LoanRuleOut(msgspec.Struct):
    id: int
    reader_category: ReaderCategory | None
    item_type: ItemType | None
    library_code: str | None
    fallback: bool
    """The row that applies when no other does; it cannot be deleted."""
    loan_days: int
    renewals: int
    renewal_days: int
    renew_from: RenewFrom
    holds_allowed: bool
    credit_per_overdue_day: int
    fee_cents_per_day: int
    fee_cap_cents: int
    block_after_overdue_items: int

    @classmethod
    def of(cls, rule: LoanRule) -> LoanRuleOut:
        library = rule.library
        return cls(
            id=rule.id,
            reader_category=rule.reader_category,
            item_type=rule.item_type,
            library_code=None if library is None else library.code,
            fallback=rule.reader_category is None and rule.item_type is None and library is None,
            **{field: getattr(rule, field) for field in RuleTermsIn.__struct_fields__},
        )
