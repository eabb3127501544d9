"""Loans, returns and credit as readers and desks see them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.catalog.models import Copy, CopyStatus
from backend.circulation.models import CreditEvent, CreditReason, CreditTier, Loan, Suspension, SuspensionKind
from backend.circulation.services import CheckIn, Standing, overdue_days, renewal_refusal
from miniprogram_api.catalog.schemas import BARCODE_PATTERN
from miniprogram_api.network.schemas import CODE_PATTERN

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
    def of(cls, loan: Loan, tier: CreditTier, now: datetime, language: str) -> LoanOut:
        refusal = renewal_refusal(loan, tier, now)
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
    kind: SuspensionKind
    reason: str
    until: datetime | None

    @classmethod
    def of(cls, suspension: Suspension) -> SuspensionOut:
        return cls(suspension.kind, suspension.reason, suspension.ends_at)


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
    barcode: str
    title: str
    status: CopyStatus
    """available: shelve it here; in_transit: send it to `send_to_library_code`."""
    send_to_library_code: str | None
    overdue_days: int

    @classmethod
    def of(cls, done: CheckIn) -> CheckInOut:
        send_to = None if done.send_to is None else done.send_to.code
        return cls(done.copy.barcode, done.copy.record.title, done.copy.status, send_to, done.overdue_days)


class ReceivedOut(msgspec.Struct):
    barcode: str
    status: CopyStatus
    library_code: str

    @classmethod
    def of(cls, copy: Copy, library_code: str) -> ReceivedOut:
        return cls(copy.barcode, copy.status, library_code)
