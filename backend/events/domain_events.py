"""What the events area records happening: seats offered from a waiting list, events changed or cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent


@dataclass(frozen=True, slots=True)
class Attendance:
    """A live booking of an event, and the reader who made it (a child's guardian books for the child)."""

    booking_id: int
    booker_id: int


@dataclass(frozen=True, slots=True)
class SeatOffered(DomainEvent):
    """A seat freed up for a booking on the waiting list, held for it until `until`."""

    booking: Attendance
    event_title: str
    starts_at: datetime
    until: datetime
    at: datetime


@dataclass(frozen=True, slots=True)
class EventChanged(DomainEvent):
    """Its time or place changed, which the people who booked must know."""

    event_id: int
    title: str
    starts_at: datetime  # the new start, when `time_changed`
    time_changed: bool
    place: str | None  # the new place when it changed ("" for online), else None
    bookings: tuple[Attendance, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class EventCancelled(DomainEvent):
    event_id: int
    title: str
    starts_at: datetime
    reason: str
    bookings: tuple[Attendance, ...]  # the bookings it ended
    at: datetime
