"""Events and bookings as readers and staff see them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

import msgspec

from backend.events.models import Audience, Booking, BookingStatus, Event, EventCategory, EventSeries, EventStatus
from backend.events.services import EventDraft
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import Moment, Page, RowId, named, text, web_address

Months = Annotated[int, msgspec.Meta(ge=0, le=14 * 12)]


class EventIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code
    title: Annotated[str, text(60, min_length=1)]
    category: EventCategory
    starts_at: Moment
    ends_at: Moment
    capacity: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    booking_opens_at: Moment
    booking_closes_at: Moment
    cancel_until: Moment
    """Readers cancel freely until then; later, a confirmed seat is kept or missed."""
    description: Annotated[str, text(5000, multi_line=True)] = ""
    series_id: RowId | None = None
    online: bool = False
    place: Annotated[str, text(100)] = ""
    cover_url: Annotated[str, web_address(500, schemes="https")] = ""
    audience: Audience = Audience.EVERYONE
    min_age_months: Months | None = None
    max_age_months: Months | None = None
    """Exclusive: 36 admits children until their third birthday month."""
    max_companions: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0
    """Seats a booking may add beside the attendee's, e.g. 1: a child and one accompanying adult."""
    waitlist_limit: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    """Places on the waiting list; by default as many as there are seats."""

    def draft(self) -> EventDraft:
        """The event's own fields (the library and series are where it belongs, not what it is)."""
        return EventDraft(**{f.name: getattr(self, f.name) for f in dataclasses.fields(EventDraft)})


class EventOut(msgspec.Struct):
    id: int
    title: str
    description: str
    category: EventCategory
    series_id: int | None
    library_code: str
    library_name: str
    online: bool
    place: str
    cover_url: str
    starts_at: datetime
    ends_at: datetime
    audience: Audience
    min_age_months: int | None
    max_age_months: int | None
    max_companions: int
    capacity: int
    seats_left: int
    waitlist_places_left: int
    booking_opens_at: datetime
    booking_closes_at: datetime
    cancel_until: datetime
    status: EventStatus
    cancel_reason: str

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            id=event.id,
            title=event.title,
            description=event.description,
            category=event.category,
            series_id=event.series_id,
            library_code=event.library.code,
            library_name=event.library.name,
            online=event.online,
            place=event.place,
            cover_url=event.cover_url,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            audience=event.audience,
            min_age_months=event.min_age_months,
            max_age_months=event.max_age_months,
            max_companions=event.max_companions,
            capacity=event.capacity,
            seats_left=max(event.capacity - event.seats_taken, 0),
            waitlist_places_left=max(event.waitlist_limit - event.waitlisted, 0),
            booking_opens_at=event.booking_opens_at,
            booking_closes_at=event.booking_closes_at,
            cancel_until=event.cancel_until,
            status=event.status,
            cancel_reason=event.cancel_reason,
        )


EventPage = Annotated[Page[EventOut], named("EventPage")]


class BookingIn(msgspec.Struct, forbid_unknown_fields=True):
    child_id: RowId | None = None
    """Book for this child's card (the guardian's own); empty: for myself."""
    companions: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0


class BookingOut(msgspec.Struct):
    id: int
    event_id: int
    event_title: str
    starts_at: datetime
    attendee_card_number: str
    attendee_name: str
    seats: int
    status: BookingStatus
    offer_expires_at: datetime | None
    """A seat freed from the waiting list is mine if I accept before then."""
    checked_in_at: datetime | None

    @classmethod
    def of(cls, booking: Booking, event: Event) -> BookingOut:
        return cls(
            id=booking.id,
            event_id=event.id,
            event_title=event.title,
            starts_at=event.starts_at,
            attendee_card_number=booking.attendee.card_number,
            attendee_name=booking.attendee.name,
            seats=booking.seats,
            status=booking.status,
            offer_expires_at=booking.offer_expires_at,
            checked_in_at=booking.checked_in_at,
        )


BookingPage = Annotated[Page[BookingOut], named("BookingPage")]


class EventDetailOut(msgspec.Struct):
    event: EventOut
    my_bookings: list[BookingOut]
    """Mine and my children's, for this event."""


class TicketOut(msgspec.Struct):
    booking_id: int
    payload: str
    """Shown as a QR code at the door; valid for a minute and once."""
    expires_at: datetime


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    payload: Annotated[str, text(200, min_length=1)]


class DoorIn(msgspec.Struct, forbid_unknown_fields=True):
    scene: Annotated[str, text(32, min_length=1)]
    """The scene of the event's door code, as the mini-program received it."""


class CancelEventIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, text(200, min_length=1)]
    """Shown to every reader who had booked."""


class SeriesIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code
    name: Annotated[str, text(50, min_length=1)]
    max_active_bookings: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None


class SeriesOut(msgspec.Struct):
    id: int
    name: str
    max_active_bookings: int | None

    @classmethod
    def of(cls, series: EventSeries) -> SeriesOut:
        return cls(series.id, series.name, series.max_active_bookings)


class AttendeeOut(msgspec.Struct):
    booking_id: int
    status: BookingStatus
    card_number: str
    name: str
    booked_by_card_number: str
    seats: int
    booked_at: datetime
    checked_in_at: datetime | None

    @classmethod
    def of(cls, b: Booking) -> AttendeeOut:
        return cls(
            b.id,
            b.status,
            b.attendee.card_number,
            b.attendee.name,
            b.booked_by.card_number,
            b.seats,
            b.created_at,
            b.checked_in_at,
        )


AttendeePage = Annotated[Page[AttendeeOut], named("AttendeePage")]
