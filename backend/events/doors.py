"""At the door: tickets scanned by staff, the event's door code scanned by readers, and no-shows afterwards."""

from __future__ import annotations

import hmac
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from backend import passes
from backend.accounts.models import Reader, StaffUser
from backend.circulation.models import CreditEvent, CreditReason
from backend.crypto import Keys
from backend.eventbus import EventBus
from backend.events.booking import EventPolicy, close_bookings, my_booking
from backend.events.errors import (
    AlreadyCheckedIn,
    BookingNotActive,
    BookingNotFound,
    CheckInNotOpen,
    DoorCodeInvalid,
    EventNotFound,
    TicketExpired,
    TicketInvalid,
    TicketReplayed,
)
from backend.events.models import Booking, BookingStatus, Event, EventStatus
from backend.network.errors import OutsideScope
from backend.network.services import in_scope
from backend.passes import SignedPasses
from backend.wechat.gateway import WeChatGateway

TICKET = passes.PassKind("SXT1", "event-ticket", TicketInvalid, TicketExpired, TicketReplayed)
_DOOR_KEY_PURPOSE = "event-door"


async def ticket(tickets: SignedPasses, booker: Reader, booking_id: int, now: datetime) -> passes.Pass:
    """The booking's ticket for the door: a signed pass that rotates like the reader card."""
    booking = await my_booking(booker, booking_id)
    if booking.status is not BookingStatus.CONFIRMED:
        raise BookingNotActive(status=booking.status.value)
    return tickets.issue(str(booking.id), now)


async def check_in_ticket(
    tickets: SignedPasses, staff: StaffUser, payload: str, now: datetime, policy: EventPolicy
) -> Booking:
    """Staff scan a reader's ticket at the door of an event of their libraries."""
    booking_id = int(await tickets.redeem(payload, now))
    booking = await Booking.get_or_none(id=booking_id).select_related("event__library", "attendee")
    if booking is None:
        raise BookingNotFound()
    if not in_scope(booking.event.library, staff.library.path):
        raise OutsideScope()
    return await _check_in(booking, now, policy)


def door_scene(keys: Keys, event_id: int) -> str:
    """What the event's door code carries: the event and a signature, so a check-in needs the code itself
    (WeChat allows 32 characters in a scene)."""
    return passes.printed_scene(keys, _DOOR_KEY_PURPOSE, "e", event_id, 12)


async def door_code(wechat: WeChatGateway, keys: Keys, staff: StaffUser, event_id: int, page: str) -> bytes:
    """The mini-program code printed at the door: scanning it opens the event in the app and checks in."""
    event = await Event.get_or_none(id=event_id).select_related("library")
    if event is None:
        raise EventNotFound()
    if not in_scope(event.library, staff.library.path):
        raise OutsideScope()
    return await wechat.mini_program_code(scene=door_scene(keys, event_id), page=page)


async def check_in_at_door(
    keys: Keys, booker: Reader, booking_id: int, scene: str, now: datetime, policy: EventPolicy
) -> Booking:
    """The reader scanned the event's door code in the app, inside the check-in window."""
    booking = await my_booking(booker, booking_id)
    if not hmac.compare_digest(scene.strip().encode(), door_scene(keys, booking.event_id).encode()):
        raise DoorCodeInvalid()
    return await _check_in(booking, now, policy)


async def _check_in(booking: Booking, now: datetime, policy: EventPolicy) -> Booking:
    event = booking.event
    opens, closes = event.starts_at - policy.check_in_before, event.starts_at + policy.check_in_after
    if not opens <= now <= closes:
        raise CheckInNotOpen(opens=policy.network_time.minutes(opens), closes=policy.network_time.minutes(closes))
    if not await Booking.filter(id=booking.id, status=BookingStatus.CONFIRMED).update(
        status=BookingStatus.CHECKED_IN, checked_in_at=now
    ):
        await booking.refresh_from_db()
        if booking.status is BookingStatus.CHECKED_IN:
            raise AlreadyCheckedIn()
        raise BookingNotActive(status=booking.status.value)
    await booking.refresh_from_db()
    return booking


async def mark_no_shows(now: datetime, policy: EventPolicy, bus: EventBus) -> int:
    """After an event: confirmed bookings not checked in become no-shows, each costing the booker credit once;
    offers and waiting list places lapse. Safe to run again and at once (a job). Returns the no-shows marked."""
    ended = Event.filter(status=EventStatus.PUBLISHED, ends_at__lte=now)
    pending = (BookingStatus.OFFERED, BookingStatus.WAITLISTED)
    for event_id in await ended.filter(bookings__status__in=pending).distinct().values_list("id", flat=True):
        async with bus.transaction():  # closing bookings may offer seats, which is recorded as an event
            event = await Event.select_for_update().get(id=event_id)
            await close_bookings(
                event, await Booking.filter(event_id=event_id, status__in=pending), BookingStatus.LAPSED, now, policy
            )
    marked = 0
    missed = await Booking.filter(event_id__in=Subquery(ended.values("id")), status=BookingStatus.CONFIRMED)
    for booking in missed:
        # Credit is taken once per event and booker: a family that misses one event with two children missed one.
        occasion = f"no-show:{booking.event_id}:{booking.booked_by_id}"
        try:
            async with in_transaction():
                if not await Booking.filter(id=booking.id, status=BookingStatus.CONFIRMED).update(
                    status=BookingStatus.NO_SHOW, closed_at=now
                ):
                    continue  # another run took it
                if policy.no_show_credit_points and not await CreditEvent.exists(occasion=occasion):
                    await CreditEvent.create(
                        reader_id=booking.booked_by_id,
                        reason=CreditReason.EVENT_NO_SHOW,
                        points=-policy.no_show_credit_points,
                        occasion=occasion,
                        created_at=now,
                    )
        except IntegrityError:
            continue  # a run at the same moment charged this event: this booking is marked by the next run
        marked += 1
    return marked
