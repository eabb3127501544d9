"""Running events: staff create, edit, publish and cancel them and see who comes; readers browse them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Case, F, Q, When
from tortoise.queryset import QuerySet

from backend import paging
from backend.accounts.models import Reader, StaffUser
from backend.eventbus import EventBus, record
from backend.events.booking import EventPolicy, close_bookings
from backend.events.domain_events import Attendance, EventCancelled, EventChanged
from backend.events.errors import (
    CapacityBelowBooked,
    EventNotChangeable,
    EventNotFound,
    EventTimesInvalid,
    NoEventsHere,
    SeriesNotFound,
)
from backend.events.models import (
    ACTIVE_BOOKING,
    Audience,
    Booking,
    BookingStatus,
    Event,
    EventCategory,
    EventSeries,
    EventStatus,
)
from backend.network.errors import OutsideScope
from backend.network.services import in_scope, library_in_scope, nearest_libraries
from backend.spreadsheets import csv_document


@dataclass(frozen=True, slots=True)
class EventDraft:
    title: str
    description: str
    category: EventCategory
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
    waitlist_limit: int | None  # None: as many places on the waiting list as there are seats
    booking_opens_at: datetime
    booking_closes_at: datetime
    cancel_until: datetime

    def check(self) -> None:
        problems = [
            (self.ends_at <= self.starts_at, "结束时间须晚于开始时间 (ends_at after starts_at)"),
            (self.booking_closes_at <= self.booking_opens_at, "预约截止须晚于开放 (booking closes after it opens)"),
            (self.booking_closes_at > self.starts_at, "预约须在开始前截止 (booking closes by the start)"),
            (self.cancel_until > self.starts_at, "取消截止须不晚于开始 (cancellation closes by the start)"),
            (
                self.min_age_months is not None
                and self.max_age_months is not None
                and self.max_age_months <= self.min_age_months,
                "年龄上限须大于下限 (max age above min age)",
            ),
        ]
        for wrong, problem in problems:
            if wrong:
                raise EventTimesInvalid(problem=problem)

    def columns(self) -> dict[str, Any]:
        """The event's columns as the draft sets them."""
        columns = asdict(self)
        if self.waitlist_limit is None:
            columns["waitlist_limit"] = self.capacity
        return columns


async def create_series(staff: StaffUser, library_code: str, name: str, max_active_bookings: int | None) -> EventSeries:
    library = await library_in_scope(library_code, staff.library.path)
    return await EventSeries.create(library=library, name=name, max_active_bookings=max_active_bookings)


async def create_event(staff: StaffUser, library_code: str, series_id: int | None, draft: EventDraft) -> Event:
    """A draft event at one of the staff member's libraries; readers see it once published."""
    draft.check()
    library = await library_in_scope(library_code, staff.library.path)
    if not (library.events or draft.online):
        raise NoEventsHere(library=library.name)  # a swap cabinet or a service point without a room
    series = None
    if series_id is not None:
        series = await EventSeries.get_or_none(id=series_id).select_related("library")
        if series is None:
            raise SeriesNotFound()
        if not in_scope(series.library, staff.library.path):
            raise OutsideScope()
    return await Event.create(library=library, series=series, created_by=staff, **draft.columns())


async def staff_event(staff: StaffUser, event_id: int) -> Event:
    event = await Event.get_or_none(id=event_id).select_related("library", "series")
    if event is None:
        raise EventNotFound()
    if not in_scope(event.library, staff.library.path):
        raise OutsideScope()
    return event


async def update_event(
    staff: StaffUser, event_id: int, draft: EventDraft, now: datetime, policy: EventPolicy, bus: EventBus
) -> Event:
    """Change an event that has not ended or been cancelled. More seats go to the waiting list at once; fewer
    seats than are booked are refused. The people who booked are told of a new time or place."""
    draft.check()
    await staff_event(staff, event_id)
    async with bus.transaction():
        event = await Event.select_for_update().get(id=event_id)
        _changeable(event, now)
        if draft.capacity < event.seats_taken:
            raise CapacityBelowBooked(taken=event.seats_taken)
        time_changed = (event.starts_at, event.ends_at) != (draft.starts_at, draft.ends_at)
        place_changed = (event.place, event.online) != (draft.place, draft.online)
        for field, value in draft.columns().items():
            setattr(event, field, value)
        await event.save()
        await close_bookings(event, [], BookingStatus.CANCELLED, now, policy)  # offers any seats added
        if time_changed or place_changed:
            booked = await Booking.filter(event_id=event.id, status__in=ACTIVE_BOOKING)
            place = event.place if place_changed else None
            record(EventChanged(event.id, event.title, event.starts_at, time_changed, place, _attending(booked), now))
    return await staff_event(staff, event_id)


async def publish(staff: StaffUser, event_id: int, now: datetime) -> Event:
    event = await staff_event(staff, event_id)
    _changeable(event, now)
    await Event.filter(id=event.id, status=EventStatus.DRAFT).update(status=EventStatus.PUBLISHED)
    return await staff_event(staff, event_id)


async def cancel_event(
    staff: StaffUser, event_id: int, reason: str, now: datetime, policy: EventPolicy, bus: EventBus
) -> Event:
    """Cancel the event: every active booking ends as cancelled by the library, with the reason readers see."""
    await staff_event(staff, event_id)
    async with bus.transaction():
        event = await Event.select_for_update().get(id=event_id)
        _changeable(event, now)
        event.status = EventStatus.CANCELLED
        event.cancel_reason = reason
        await Event.filter(id=event.id).update(status=EventStatus.CANCELLED, cancel_reason=reason)
        active = await Booking.filter(event_id=event.id, status__in=ACTIVE_BOOKING)
        await close_bookings(event, active, BookingStatus.EVENT_CANCELLED, now, policy)
        record(EventCancelled(event.id, event.title, event.starts_at, reason, _attending(active), now))
    return await staff_event(staff, event_id)


def _attending(bookings: list[Booking]) -> tuple[Attendance, ...]:
    return tuple(Attendance(b.id, b.booked_by_id) for b in bookings)


def _changeable(event: Event, now: datetime) -> None:
    if event.status is EventStatus.CANCELLED:
        raise EventNotChangeable(status=event.status.value)
    if event.ends_at <= now:
        raise EventNotChangeable(status="ended")


def _attendees(event: Event) -> QuerySet[Booking]:
    """Who comes, in booking order: confirmed and checked in, then offered, then waiting."""
    # The ranks are text because Tortoise's types take no number there; "0" < "1" < "2" all the same.
    coming = Case(
        When(status__in=(BookingStatus.CHECKED_IN, BookingStatus.CONFIRMED), then="0"),
        When(status=BookingStatus.OFFERED, then="1"),
        default="2",
    )
    active = Booking.filter(event_id=event.id, status__in=ACTIVE_BOOKING).annotate(coming=coming)
    return active.order_by("coming", "id").select_related("attendee", "booked_by")


async def attendees(staff: StaffUser, event_id: int, *, limit: int, offset: int) -> tuple[list[Booking], int]:
    return await paging.page(_attendees(await staff_event(staff, event_id)), limit, offset)


async def attendees_csv(staff: StaffUser, event_id: int) -> str:
    """The whole attendee list for the door or the records, as CSV for a spreadsheet program."""
    bookings = await _attendees(await staff_event(staff, event_id))
    return csv_document(
        ["booking", "status", "card_number", "name", "booked_by_card", "seats", "booked_at", "checked_in_at"],
        (
            [
                b.id,
                b.status.value,
                b.attendee.card_number,
                b.attendee.name,
                b.booked_by.card_number,
                b.seats,
                b.created_at.isoformat(),
                b.checked_in_at.isoformat() if b.checked_in_at else "",
            ]
            for b in bookings
        ),
    )


async def staff_events(
    staff: StaffUser, library_code: str, since: datetime, *, limit: int, offset: int
) -> tuple[list[Event], int]:
    """A library's events (drafts included) from `since`, soonest first."""
    library = await library_in_scope(library_code, staff.library.path)
    events = Event.filter(library=library, ends_at__gt=since).order_by("starts_at", "id").select_related("library")
    return await paging.page(events, limit, offset)


@dataclass(frozen=True, slots=True)
class EventQuery:
    library_code: str | None = None
    starts_from: datetime | None = None
    starts_to: datetime | None = None
    category: EventCategory | None = None
    age_months: int | None = None  # events a child of this age may attend
    near: tuple[float, float] | None = None  # (latitude, longitude)
    radius_m: float = 5000
    has_seats: bool = False
    limit: int = 20
    offset: int = 0


async def browse(query: EventQuery, now: datetime) -> tuple[list[Event], int]:
    """Published events not yet ended, soonest first."""
    events = Event.filter(status=EventStatus.PUBLISHED, ends_at__gt=query.starts_from or now)
    if query.library_code is not None:
        events = events.filter(library__code=query.library_code)
    if query.starts_to is not None:
        events = events.filter(starts_at__lt=query.starts_to)
    if query.category is not None:
        events = events.filter(category=query.category)
    if query.age_months is not None:
        events = events.filter(
            Q(audience__not=Audience.ADULTS),
            Q(min_age_months__isnull=True) | Q(min_age_months__lte=query.age_months),
            Q(max_age_months__isnull=True) | Q(max_age_months__gt=query.age_months),
        )
    if query.near is not None:
        nearby, _ = await nearest_libraries(*query.near, limit=50, radius_m=query.radius_m)
        events = events.filter(Q(library_id__in=[lib.id for lib, _ in nearby]) | Q(online=True))
    if query.has_seats:
        events = events.filter(seats_taken__lt=F("capacity"))
    return await paging.page(events.order_by("starts_at", "id").select_related("library"), query.limit, query.offset)


async def detail(event_id: int, viewer: Reader | None) -> tuple[Event, list[Booking]]:
    """A published event, with the viewer's own bookings for it (theirs and their children's). Anyone may look
    without logging in (a shared link). A reader who booked it also sees it once cancelled, with its reason; nobody
    else sees a cancelled event, which may never have been published (a draft can be cancelled)."""
    shown = (EventStatus.PUBLISHED, EventStatus.CANCELLED)
    event = await Event.get_or_none(id=event_id, status__in=shown).select_related("library")
    mine: list[Booking] = []
    if event is not None and viewer is not None:
        mine = await Booking.filter(event_id=event_id, booked_by_id=viewer.id).order_by("id").select_related("attendee")
    if event is None or (event.status is not EventStatus.PUBLISHED and not mine):
        raise EventNotFound()
    return event, mine


async def my_bookings(booker: Reader, now: datetime, *, limit: int, offset: int) -> tuple[list[Booking], int]:
    """The reader's bookings (and their children's) for events not yet ended, soonest first."""
    bookings = Booking.filter(booked_by_id=booker.id, event__ends_at__gt=now).order_by("event__starts_at", "id")
    return await paging.page(bookings.select_related("event__library", "attendee"), limit, offset)
