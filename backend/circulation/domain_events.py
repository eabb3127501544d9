"""What circulation records happening: loans opened and closed, holds on the shelf, copies moving between libraries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent


@dataclass(frozen=True, slots=True)
class LoanOpened(DomainEvent):
    loan_id: int
    reader_id: int  # the card borrowed on (a child's card: the child)
    record_id: int
    library_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class LoanClosed(DomainEvent):
    loan_id: int
    reader_id: int | None  # the card that borrowed, even when the loan forgets it (None: the card was removed)
    record_id: int
    library_id: int  # where it was returned
    days_late: int
    at: datetime


@dataclass(frozen=True, slots=True)
class HoldReady(DomainEvent):
    """A copy is on the hold shelf for the reader, until the end of `until`."""

    hold_id: int
    reader_id: int  # the card the hold is on (a child's card: the child)
    title: str
    pickup_library: str
    until: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class CopyMoved(DomainEvent):
    """A copy now sits at another library (returned elsewhere, or arrived from transit): where readers find the
    title has changed."""

    copy_id: int
    record_id: int
    library_id: int


@dataclass(frozen=True, slots=True)
class LoanLost(DomainEvent):
    """A copy on loan was declared lost: the loan is over (not returned) and the copy is marked lost."""

    loan_id: int
    reader_id: int | None  # the card that borrowed, even when the loan forgets it
    copy_id: int
    at: datetime
    staff_id: int
