"""Which way a parcel's state may move: forward along the courier's path, never back.

    preparing -> shipped -> in_transit -> out_for_delivery -> delivered (final)
    shipped, in_transit or out_for_delivery -> failed -> returned (final); failed -> delivered (a later attempt)
    preparing -> cancelled (final)

A step may skip ahead (shipped straight to delivered: a courier need not report each leg). A report of a state the
parcel has passed, or one older than the parcel's current state, changes nothing: it is late or out of order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from backend.shipping.models import ShipmentState

_PATH = (
    ShipmentState.PREPARING,
    ShipmentState.SHIPPED,
    ShipmentState.IN_TRANSIT,
    ShipmentState.OUT_FOR_DELIVERY,
    ShipmentState.DELIVERED,
)
ON_THE_WAY = frozenset({ShipmentState.SHIPPED, ShipmentState.IN_TRANSIT, ShipmentState.OUT_FOR_DELIVERY})
FINAL = frozenset({ShipmentState.DELIVERED, ShipmentState.RETURNED, ShipmentState.CANCELLED})  # closes the parcel


class Outcome(StrEnum):
    """What a report did: the courier's answer."""

    APPLIED = "applied"  # moved the parcel
    REPEATED = "repeated"  # the same report again: nothing stored
    LATE = "late"  # older than the parcel's current state: kept as a step only
    IGNORED = "ignored"  # not a move forward from the current state: kept as a step only


def moves_forward(current: ShipmentState, to: ShipmentState) -> bool:
    if current in FINAL:
        return False
    if to is ShipmentState.CANCELLED:
        return current is ShipmentState.PREPARING
    if to is ShipmentState.FAILED:
        return current in ON_THE_WAY
    if to is ShipmentState.RETURNED:
        return current is ShipmentState.FAILED
    if current is ShipmentState.FAILED:
        return to is ShipmentState.DELIVERED
    return to in _PATH and _PATH.index(to) > _PATH.index(current)


def outcome(current: ShipmentState, current_at: datetime, to: ShipmentState, occurred_at: datetime) -> Outcome:
    """Whether a step reported at `occurred_at` applies to a parcel `current` since `current_at`."""
    if occurred_at < current_at:
        return Outcome.LATE
    return Outcome.APPLIED if moves_forward(current, to) else Outcome.IGNORED
