"""What money records happening: the areas whose fee a charge is (a delivery order, a courier pickup) subscribe and
find theirs by `charge_id`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent
from backend.money.models import ChargeKind


@dataclass(frozen=True, slots=True)
class ChargePaid(DomainEvent):
    """A payment (by WeChat Pay, or at a desk) settled all that was left of a charge. Not recorded for a charge
    waived, nor for one paid in part."""

    charge_id: int
    reader_id: int | None
    kind: ChargeKind
    source: str
    at: datetime
