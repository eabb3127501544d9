"""What the counter shows of readers, and the log of look-ups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.accounts.models import Reader, ReaderType
from backend.accounts.services import masked_phone
from backend.circulation.models import SuspensionKind
from backend.counter.models import LookupAction, LookupBy
from backend.counter.services import MOST_ON_A_CARD, LookupSeen, ReaderView, SuspensionSeen
from backend.crypto import Keys
from miniprogram_api.circulation.schemas import CreditOut, HoldOut, HoldPage, LoanOut, LoanPage
from miniprogram_api.schemas import Page, named


class GuardianOut(msgspec.Struct):
    card_number: str
    name: str
    masked_phone: str | None


class ReaderSummaryOut(msgspec.Struct):
    """Enough to tell readers apart at a desk, nothing more: the phone masked, no WeChat identity, no birth month."""

    card_number: str
    name: str
    reader_type: ReaderType
    masked_phone: str | None
    home_library_code: str | None
    guardian: GuardianOut | None
    """For a child's card: the guardian who holds it."""

    @classmethod
    def of(cls, reader: Reader, keys: Keys) -> ReaderSummaryOut:
        guardian = reader.guardian
        return cls(
            card_number=reader.card_number,
            name=reader.name,
            reader_type=reader.reader_type,
            masked_phone=masked_phone(keys, reader),
            home_library_code=None if reader.home_library is None else reader.home_library.code,
            guardian=None
            if guardian is None
            else GuardianOut(guardian.card_number, guardian.name, masked_phone(keys, guardian)),
        )


ReaderSummaryPage = Annotated[Page[ReaderSummaryOut], named("ReaderSummaryPage")]


class StaffSuspensionOut(msgspec.Struct):
    id: int
    kind: SuspensionKind
    reason: str
    """What the reader is told when a loan is refused."""
    starts_at: datetime
    until: datetime | None
    """None: until lifted."""
    set_by: str | None
    """The username of the staff member who set it (none: set by the system, or the account is gone)."""
    level_library_code: str | None
    """The library whose administrators (and those above) may lift it; none: the network's, lifted by its admins."""
    liftable: bool
    """Whether I may lift it."""

    @classmethod
    def of(cls, seen: SuspensionSeen) -> StaffSuspensionOut:
        s = seen.suspension
        return cls(
            id=s.id,
            kind=s.kind,
            reason=s.reason,
            starts_at=s.starts_at,
            until=s.ends_at,
            set_by=None if s.staff is None else s.staff.username,
            level_library_code=None if seen.level is None else seen.level.code,
            liftable=seen.liftable,
        )


class ReaderViewOut(msgspec.Struct):
    """One reader as a desk sees them."""

    reader: ReaderSummaryOut
    loans: LoanPage
    """Books on loan, soonest due first, with days overdue."""
    holds: HoldPage
    """Active holds: waiting (place in the queue), in transit, or ready at the pickup library."""
    credit: CreditOut
    """Fees in this network are credit deductions: the ledger's negative lines (overdue days, lost or damaged books,
    no-shows, staff adjustments). No money is owed, paid or refunded through the platform yet: a loan's
    `overdue_fee_cents` is what its terms would charge, shown for information, never billed."""
    suspensions: list[StaffSuspensionOut]
    """Suspensions in force, the latest first (the one a refusal names)."""
    children: list[ReaderSummaryOut]
    """For a guardian: the children's cards they hold."""

    @classmethod
    def of(cls, view: ReaderView, keys: Keys, language: str) -> ReaderViewOut:
        (loans, loans_total), (holds, holds_total) = view.loans, view.holds
        return cls(
            reader=ReaderSummaryOut.of(view.reader, keys),
            loans=Page.of([LoanOut.of(loan, state, language) for loan, state in loans], loans_total, MOST_ON_A_CARD, 0),
            holds=Page.of([HoldOut.of(hold, place) for hold, place in holds], holds_total, MOST_ON_A_CARD, 0),
            credit=CreditOut.of(view.standing, view.ledger),
            suspensions=[StaffSuspensionOut.of(s) for s in view.suspensions],
            children=[ReaderSummaryOut.of(child, keys) for child in view.children],
        )


class ReaderLookupOut(msgspec.Struct):
    id: int
    at: datetime
    staff_username: str
    library_code: str
    """The staff member's library when they looked."""
    action: LookupAction
    looked_up_by: LookupBy
    """What was typed, by kind only: the phone or name typed is not kept."""
    card_numbers: list[str]
    """The readers shown (those whose cards still exist)."""
    shown: int
    """How many readers were shown, deleted cards included."""
    children_shown: bool
    """A child's record was among them (PIPL art. 31)."""
    outside_scope: bool
    """The reader looked up by card number was not one of the looker's libraries' (no home library, loan or hold to
    collect there): a visitor from elsewhere, or card numbers counted through."""

    @classmethod
    def of(cls, seen: LookupSeen) -> ReaderLookupOut:
        row = seen.lookup
        return cls(
            id=row.id,
            at=row.at,
            staff_username=row.staff.username,
            library_code=row.library.code,
            action=row.action,
            looked_up_by=row.looked_up_by,
            card_numbers=seen.card_numbers,
            shown=len(row.reader_ids),
            children_shown=row.children_shown,
            outside_scope=row.outside_scope,
        )


ReaderLookupPage = Annotated[Page[ReaderLookupOut], named("ReaderLookupPage")]
