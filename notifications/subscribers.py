"""What readers are told when something happens in another area: handlers of its domain events, which write the
notice in the transaction of its cause (subscribed by the composition root)."""

from __future__ import annotations

from backend.circulation.domain_events import HoldReady
from backend.eventbus import EventBus
from backend.events.domain_events import EventCancelled, EventChanged, SeatOffered
from notifications import notices
from notifications.services import guardians, notify, notify_many


async def hold_ready(event: HoldReady) -> None:
    recipient = (await guardians([event.reader_id]))[event.reader_id]  # a child's card: the guardian
    await notify(notices.hold_ready(recipient, event.hold_id, event.title, event.pickup_library, event.until), event.at)


async def seat_offered(event: SeatOffered) -> None:
    booking = event.booking
    draft = notices.seat_offered(booking.booker_id, booking.booking_id, event.event_title, event.starts_at, event.until)
    await notify(draft, event.at)


async def event_changed(event: EventChanged) -> None:
    change = notices.event_change(event.starts_at if event.time_changed else None, event.place)
    version = event.at.isoformat()  # each change is told once, and a later change again
    drafts = [
        notices.event_changed(b.booker_id, b.booking_id, event.title, event.starts_at, change, version)
        for b in event.bookings
    ]
    await notify_many(drafts, event.at)


async def event_cancelled(event: EventCancelled) -> None:
    drafts = [
        notices.event_cancelled(b.booker_id, b.booking_id, event.title, event.starts_at, event.reason)
        for b in event.bookings
    ]
    await notify_many(drafts, event.at)


def subscribe(bus: EventBus) -> None:
    bus.subscribe(HoldReady, hold_ready)
    bus.subscribe(SeatOffered, seat_offered)
    bus.subscribe(EventChanged, event_changed)
    bus.subscribe(EventCancelled, event_cancelled)
