"""What the gift packs record happening, for the areas that tell families about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from backend.eventbus import DomainEvent


@dataclass(frozen=True, slots=True)
class ReservedPack:
    """A stage's pack set aside for a child, as the family is told of it (it names no child: a guardian's twins are
    told apart by the reservation the notice opens)."""

    reservation_id: int
    enrolment_id: int
    guardian_id: int
    stage: str
    pack_type: str
    library: str
    last_day: date
    """The last day of the network's calendar the pack waits to be collected."""


@dataclass(frozen=True, slots=True)
class PacksReserved(DomainEvent):
    """Packs were reserved, at an enrolment or as children entered new stages (a batch of the daily job)."""

    packs: tuple[ReservedPack, ...]
    at: datetime
