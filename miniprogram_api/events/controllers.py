"""Event reservations (活动预约): browsing and booking for readers, running the events for staff."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from backend import passes
from backend.accounts.errors import ChildNotFound, ReaderOnly, TokenExpired, TokenInvalid
from backend.accounts.models import Reader, StaffUser
from backend.events import booking, doors, services
from backend.events.errors import (
    AdultsOnly,
    AlreadyCheckedIn,
    BookingBarred,
    BookingClosed,
    BookingNotActive,
    BookingNotFound,
    BookingNotOpen,
    CancelCutoffPassed,
    CapacityBelowBooked,
    CheckInNotOpen,
    ChildCardRequired,
    DoorCodeInvalid,
    EventFull,
    EventNotChangeable,
    EventNotFound,
    EventTimesInvalid,
    NoEventsHere,
    NoOfferPending,
    OutsideAgeRange,
    SeriesLimitReached,
    SeriesNotFound,
    TicketExpired,
    TicketInvalid,
    TicketReplayed,
    TooManyCompanions,
)
from backend.events.models import Booking, EventCategory
from backend.events.services import EventQuery
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.ratelimits import Kind, RateLimited
from backend.wechat.errors import WeChatRateLimited, WeChatUnavailable
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, OPTIONAL_BEARER, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.events.schemas import (
    AttendeeOut,
    AttendeePage,
    BookingIn,
    BookingOut,
    BookingPage,
    CancelEventIn,
    DoorIn,
    EventDetailOut,
    EventIn,
    EventOut,
    EventPage,
    ScanIn,
    SeriesIn,
    SeriesOut,
    TicketOut,
)
from miniprogram_api.limits import rate_limited
from miniprogram_api.network.schemas import CODE_PATTERN, LibraryCodeParam
from miniprogram_api.schemas import Moment, Offset, Page, ReaderLimit, RowId, StaffLimit, matching_param

_PNG = {200: ResponseSpec(data_container=bytes, media_type="image/png", description="A QR code")}


def _booking_out(b: Booking) -> BookingOut:
    return BookingOut.of(b, b.event)


class EventController(Controller):
    path = "/events"
    tags = ["Events"]

    @get("/", responses=problems())
    async def browse(
        self,
        deps: Dependencies,
        library: Annotated[str | None, matching_param(CODE_PATTERN, "Held at this library")] = None,
        starts_from: Annotated[Moment | None, Parameter(description="Not ended by then (default: now)")] = None,
        starts_to: Annotated[Moment | None, Parameter(description="Starting before then")] = None,
        category: EventCategory | None = None,
        age_months: Annotated[int | None, Parameter(ge=0, le=14 * 12, description="For a child this old")] = None,
        lat: Annotated[float | None, Parameter(ge=-90, le=90)] = None,
        lng: Annotated[float | None, Parameter(ge=-180, le=180)] = None,
        radius_m: Annotated[float, Parameter(gt=0, le=50_000)] = 5000,
        has_seats: bool = False,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> EventPage:
        """Upcoming events, soonest first: by library, dates, category, a child's age, near a point (with lat and
        lng; online events too), or only those with seats left."""
        query = EventQuery(
            library_code=library,
            starts_from=starts_from,
            starts_to=starts_to,
            category=category,
            age_months=age_months,
            near=(lat, lng) if lat is not None and lng is not None else None,
            radius_m=radius_m,
            has_seats=has_seats,
            limit=limit,
            offset=offset,
        )
        found, total = await services.browse(query, deps.clock.now())
        return Page.of([EventOut.of(event) for event in found], total, limit, offset)

    @get(
        "/{event_id:int}",
        responses=problems(TokenInvalid, TokenExpired, ReaderOnly, EventNotFound),
        security=OPTIONAL_BEARER,
    )
    async def detail(self, viewer: Reader | None, event_id: RowId) -> EventDetailOut:
        """A published event with its seats left; no login needed (a shared link previews it). With a reader's
        token, my bookings for it too (mine and my children's), and an event I booked that was cancelled since."""
        event, mine = await services.detail(event_id, viewer)
        return EventDetailOut(EventOut.of(event), [BookingOut.of(b, event) for b in mine])

    @post(
        "/{event_id:int}/bookings",
        security=BEARER,
        responses=problems(
            *READER_PROBLEMS,
            EventNotFound,
            ChildNotFound,
            BookingNotOpen,
            BookingClosed,
            TooManyCompanions,
            AdultsOnly,
            ChildCardRequired,
            OutsideAgeRange,
            BookingBarred,
            SeriesLimitReached,
            EventFull,
            RateLimited,
        ),
        guards=[rate_limited(Kind.BOOKING)],
    )
    async def book(self, deps: Dependencies, reader: Reader, event_id: RowId, data: BookingIn) -> BookingOut:
        """Book a seat, for me or my child: confirmed while seats last, then on the waiting list. Booking again
        returns the same booking."""
        made = await booking.book(
            reader,
            event_id,
            child_id=data.child_id,
            companions=data.companions,
            now=deps.clock.now(),
            policy=deps.event_policy,
            full=deps.events_full,
        )
        return _booking_out(await booking.my_booking(reader, made.id))


class BookingController(Controller):
    path = "/readers/me/bookings"
    tags = ["Events"]
    security = BEARER

    @get("/", responses=problems(*READER_PROBLEMS))
    async def mine(
        self, deps: Dependencies, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0
    ) -> BookingPage:
        """My bookings and my children's for events not yet over, soonest first."""
        found, total = await services.my_bookings(reader, deps.clock.now(), limit=limit, offset=offset)
        return Page.of([_booking_out(b) for b in found], total, limit, offset)

    @delete(
        "/{booking_id:int}",
        status_code=204,
        responses=problems(*READER_PROBLEMS, BookingNotFound, BookingNotActive, CancelCutoffPassed),
    )
    async def cancel(self, deps: Dependencies, reader: Reader, booking_id: RowId) -> None:
        """Cancel before the cut-off (a waiting list place at any time); the seat goes to the waiting list."""
        await booking.cancel(reader, booking_id, deps.clock.now(), deps.event_policy, deps.events_full, deps.bus)

    @post(
        "/{booking_id:int}/accept",
        status_code=200,
        responses=problems(*READER_PROBLEMS, BookingNotFound, NoOfferPending),
    )
    async def accept(self, deps: Dependencies, reader: Reader, booking_id: RowId) -> BookingOut:
        """Take the seat offered from the waiting list, before the offer expires."""
        await booking.accept(reader, booking_id, deps.clock.now())
        return _booking_out(await booking.my_booking(reader, booking_id))

    @post(
        "/{booking_id:int}/decline",
        status_code=204,
        responses=problems(*READER_PROBLEMS, BookingNotFound, NoOfferPending),
    )
    async def decline(self, deps: Dependencies, reader: Reader, booking_id: RowId) -> None:
        """Turn the offered seat down: it goes to the next on the waiting list."""
        await booking.decline(reader, booking_id, deps.clock.now(), deps.event_policy, deps.events_full, deps.bus)

    @get("/{booking_id:int}/ticket", responses=problems(*READER_PROBLEMS, BookingNotFound, BookingNotActive))
    async def ticket(self, deps: Dependencies, reader: Reader, booking_id: RowId) -> TicketOut:
        """The ticket to show at the door: valid for a minute and once; fetch a new one to show again."""
        issued = await doors.ticket(deps.tickets, reader, booking_id, deps.clock.now())
        return TicketOut(booking_id, issued.text, issued.expires_at)

    @get(
        "/{booking_id:int}/ticket.png",
        media_type="image/png",
        responses={**problems(*READER_PROBLEMS, BookingNotFound, BookingNotActive), **_PNG},
    )
    async def ticket_png(self, deps: Dependencies, reader: Reader, booking_id: RowId) -> Response[bytes]:
        """The ticket as a QR code; its text is in the X-Ticket-Payload header."""
        issued = await doors.ticket(deps.tickets, reader, booking_id, deps.clock.now())
        return Response(
            await passes.qr_png(issued.text),
            media_type="image/png",
            headers={"X-Ticket-Payload": issued.text, "Cache-Control": "no-store"},
        )

    @post(
        "/{booking_id:int}/check-in",
        status_code=200,
        responses=problems(
            *READER_PROBLEMS, BookingNotFound, DoorCodeInvalid, CheckInNotOpen, AlreadyCheckedIn, BookingNotActive
        ),
    )
    async def check_in(self, deps: Dependencies, reader: Reader, booking_id: RowId, data: DoorIn) -> BookingOut:
        """Check in by scanning the event's door code, from 30 minutes before the start to 15 after."""
        await doors.check_in_at_door(deps.keys, reader, booking_id, data.scene, deps.clock.now(), deps.event_policy)
        return _booking_out(await booking.my_booking(reader, booking_id))


class StaffEventController(Controller):
    path = "/staff"
    tags = ["Staff: events"]
    security = BEARER

    @post("/event-series", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def create_series(self, staff: StaffUser, data: SeriesIn) -> SeriesOut:
        """A series of events (the monthly club), optionally limiting how many a reader books at once."""
        series = await services.create_series(staff, data.library_code, data.name, data.max_active_bookings)
        return SeriesOut.of(series)

    @post(
        "/events",
        responses=problems(
            *STAFF_PROBLEMS, LibraryNotFound, OutsideScope, NoEventsHere, SeriesNotFound, EventTimesInvalid
        ),
    )
    async def create(self, staff: StaffUser, data: EventIn) -> EventOut:
        """A draft event at one of my libraries; readers see it once it is published."""
        return EventOut.of(await services.create_event(staff, data.library_code, data.series_id, data.draft()))

    @get("/libraries/{code:str}/events", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def library_events(
        self, deps: Dependencies, staff: StaffUser, code: LibraryCodeParam, limit: StaffLimit = 50, offset: Offset = 0
    ) -> EventPage:
        """A library's events not yet over, drafts included, soonest first."""
        found, total = await services.staff_events(staff, code, deps.clock.now(), limit=limit, offset=offset)
        return Page.of([EventOut.of(e) for e in found], total, limit, offset)

    @put(
        "/events/{event_id:int}",
        responses=problems(
            *STAFF_PROBLEMS, EventNotFound, OutsideScope, EventNotChangeable, EventTimesInvalid, CapacityBelowBooked
        ),
    )
    async def update(self, deps: Dependencies, staff: StaffUser, event_id: RowId, data: EventIn) -> EventOut:
        """Change an event (its library stays). Added seats are offered to the waiting list at once."""
        event = await services.update_event(
            staff, event_id, data.draft(), deps.clock.now(), deps.event_policy, deps.bus
        )
        return EventOut.of(event)

    @post(
        "/events/{event_id:int}/publish",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, EventNotFound, OutsideScope, EventNotChangeable),
    )
    async def publish(self, deps: Dependencies, staff: StaffUser, event_id: RowId) -> EventOut:
        """Show the event to readers; booking opens at its booking time."""
        return EventOut.of(await services.publish(staff, event_id, deps.clock.now()))

    @post(
        "/events/{event_id:int}/cancel",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, EventNotFound, OutsideScope, EventNotChangeable),
    )
    async def cancel(self, deps: Dependencies, staff: StaffUser, event_id: RowId, data: CancelEventIn) -> EventOut:
        """Cancel the event: every booking ends, and readers see the reason."""
        event = await services.cancel_event(staff, event_id, data.reason, deps.clock.now(), deps.event_policy, deps.bus)
        return EventOut.of(event)

    @get("/events/{event_id:int}/attendees", responses=problems(*STAFF_PROBLEMS, EventNotFound, OutsideScope))
    async def attendees(
        self, staff: StaffUser, event_id: RowId, limit: StaffLimit = 100, offset: Offset = 0
    ) -> AttendeePage:
        """Who comes: confirmed and checked in first, then offered and waiting, each in booking order (the whole list
        at once: `attendees.csv`)."""
        found, total = await services.attendees(staff, event_id, limit=limit, offset=offset)
        return Page.of([AttendeeOut.of(b) for b in found], total, limit, offset)

    @get(
        "/events/{event_id:int}/attendees.csv",
        media_type="text/csv",
        responses=problems(*STAFF_PROBLEMS, EventNotFound, OutsideScope),
    )
    async def attendees_csv(self, staff: StaffUser, event_id: RowId) -> Response[str]:
        """The attendee list as a CSV file."""
        return Response(
            await services.attendees_csv(staff, event_id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="event-{event_id}-attendees.csv"'},
        )

    @get(
        "/events/{event_id:int}/door-code.png",
        media_type="image/png",
        responses={
            **problems(*STAFF_PROBLEMS, EventNotFound, OutsideScope, WeChatRateLimited, WeChatUnavailable),
            **_PNG,
        },
    )
    async def door_code(self, deps: Dependencies, staff: StaffUser, event_id: RowId) -> Response[bytes]:
        """The mini-program code to print at the door: readers scan it to check in."""
        png = await doors.door_code(deps.wechat, deps.keys, staff, event_id, deps.settings.wechat.event_page)
        return Response(png, media_type="image/png")

    @post(
        "/event-check-ins",
        status_code=200,
        responses=problems(
            *STAFF_PROBLEMS,
            TicketInvalid,
            TicketExpired,
            TicketReplayed,
            BookingNotFound,
            OutsideScope,
            CheckInNotOpen,
            AlreadyCheckedIn,
            BookingNotActive,
        ),
    )
    async def check_in(self, deps: Dependencies, staff: StaffUser, data: ScanIn) -> AttendeeOut:
        """Scan a reader's ticket at the door."""
        checked = await doors.check_in_ticket(deps.tickets, staff, data.payload, deps.clock.now(), deps.event_policy)
        await checked.fetch_related("booked_by")
        return AttendeeOut.of(checked)
