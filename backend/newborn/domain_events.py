"""What the newborn programme records happening to enrolments, for the areas that keep something for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent
from backend.newborn.models import ConsentEnd


@dataclass(frozen=True, slots=True)
class ChildEnrolled(DomainEvent):
    """A child was enrolled, in the enrolment's transaction: the family's library is `library_id`, the child is in
    stage `stage_id` now (None: not yet in any, or past the last). Packs reserve the stage's pack on it."""

    enrolment_id: int
    programme_id: int
    child_id: int
    guardian_id: int
    library_id: int
    partner_id: int | None
    stage_id: int | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ConsentWithdrawn(DomainEvent):
    """The guardian's consent for an enrolment ended (`reason`: withdrawn, the retention period ran out, the child's
    card closed). Handled at once, while the enrolment's row is locked and still there, in the transaction that then
    deletes it: areas that keep something for it end it by their own rules (a reserved pack goes back to stock) and
    delete the child's personal data they hold, which the deletion's cascade would otherwise drop without those
    rules."""

    enrolment_id: int
    programme_id: int
    child_id: int
    guardian_id: int
    library_id: int
    reason: ConsentEnd
    at: datetime


@dataclass(frozen=True, slots=True)
class MilestoneReached(DomainEvent):
    """An enrolled child's reading record reached `books` books read ("1,000 books before kindergarten"), recorded once
    per child and milestone in the transaction that logged the book: the family is told, and may fetch the
    certificate."""

    enrolment_id: int
    child_id: int
    guardian_id: int
    child_name: str
    books: int
    at: datetime
