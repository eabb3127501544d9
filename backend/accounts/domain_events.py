"""What the accounts area records happening to readers' cards."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent


@dataclass(frozen=True, slots=True)
class CardClosing(DomainEvent):
    """A card is about to be deleted with its reader (a guardian removing a child's card). Areas that keep
    something for the card close it first, by their own rules, while the card's row is locked and still there:
    the deletion's cascade would drop their rows without those rules (a booked seat never given back)."""

    reader_id: int
    at: datetime
