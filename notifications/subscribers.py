"""What readers are told when something happens in another area: handlers of its domain events, which write the
notice in the transaction of its cause (subscribed by the composition root)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from backend.circulation.domain_events import HoldReady
from backend.clock import NetworkTime
from backend.eventbus import EventBus
from backend.events.domain_events import EventCancelled, EventChanged, SeatOffered
from backend.newborn.domain_events import ConsentWithdrawn, MilestoneReached
from backend.newborn.pack_events import PacksReserved
from backend.shipping.domain_events import ShipmentDelivered, ShipmentFailed, ShipmentShipped
from backend.shipping.services import Parcel, describe
from notifications import notices
from notifications.models import Notice
from notifications.services import NoticeDraft, guardians, notify, notify_many


async def hold_ready(network_time: NetworkTime, event: HoldReady) -> None:
    recipient = (await guardians([event.reader_id]))[event.reader_id]  # a child's card: the guardian
    draft = notices.hold_ready(network_time, recipient, event.hold_id, event.title, event.pickup_library, event.until)
    await notify(draft, event.at)


async def seat_offered(network_time: NetworkTime, event: SeatOffered) -> None:
    booking = event.booking
    draft = notices.seat_offered(
        network_time, booking.booker_id, booking.booking_id, event.event_title, event.starts_at, event.until
    )
    await notify(draft, event.at)


async def event_changed(network_time: NetworkTime, event: EventChanged) -> None:
    change = notices.event_change(network_time, event.starts_at if event.time_changed else None, event.place)
    version = event.at.isoformat()  # each change is told once, and a later change again
    drafts = [
        notices.event_changed(network_time, b.booker_id, b.booking_id, event.title, event.starts_at, change, version)
        for b in event.bookings
    ]
    await notify_many(drafts, event.at)


async def event_cancelled(network_time: NetworkTime, event: EventCancelled) -> None:
    drafts = [
        notices.event_cancelled(network_time, b.booker_id, b.booking_id, event.title, event.starts_at, event.reason)
        for b in event.bookings
    ]
    await notify_many(drafts, event.at)


async def milestone_reached(event: MilestoneReached) -> None:
    draft = notices.reading_milestone(
        event.guardian_id, event.enrolment_id, event.child_id, event.child_name, event.books
    )
    await notify(draft, event.at)


async def enrolment_notices_forgotten(event: ConsentWithdrawn) -> None:
    """An enrolment's notices name the child, its stage (so its age) and what it read: they end with the consent they
    were sent under."""
    prefix = notices.enrolment_notices_prefix(event.guardian_id, event.enrolment_id)
    await Notice.filter(reader_id=event.guardian_id, key__startswith=prefix).delete()


async def packs_reserved(event: PacksReserved) -> None:
    drafts = [
        notices.pack_reserved(
            p.guardian_id, p.enrolment_id, p.reservation_id, p.stage, p.pack_type, p.library, p.last_day
        )
        for p in event.packs
    ]
    await notify_many(drafts, event.at)


async def parcel_shipped(network_time: NetworkTime, event: ShipmentShipped) -> None:
    await _tell_of_parcel(notices.parcel_shipped, network_time, event.shipment_id, event.reader_id, event.at)


async def parcel_delivered(network_time: NetworkTime, event: ShipmentDelivered) -> None:
    await _tell_of_parcel(notices.parcel_delivered, network_time, event.shipment_id, event.reader_id, event.at)


async def parcel_failed(network_time: NetworkTime, event: ShipmentFailed) -> None:
    await _tell_of_parcel(notices.parcel_failed, network_time, event.shipment_id, event.reader_id, event.at)


async def _tell_of_parcel(
    draft_of: Callable[[NetworkTime, int, Parcel, datetime], NoticeDraft],
    network_time: NetworkTime,
    shipment_id: int,
    reader_id: int | None,
    at: datetime,
) -> None:
    if reader_id is None:  # the reader's account was deleted: no one to tell
        return
    recipient = (await guardians([reader_id]))[reader_id]
    await notify(draft_of(network_time, recipient, await describe(shipment_id), at), at)


def subscribe(bus: EventBus, network_time: NetworkTime) -> None:
    """The notices' handlers, showing moments in the network's time."""
    bus.subscribe(HoldReady, partial(hold_ready, network_time))
    bus.subscribe(SeatOffered, partial(seat_offered, network_time))
    bus.subscribe(EventChanged, partial(event_changed, network_time))
    bus.subscribe(EventCancelled, partial(event_cancelled, network_time))
    bus.subscribe(PacksReserved, packs_reserved)
    bus.subscribe(MilestoneReached, milestone_reached)
    bus.subscribe(ConsentWithdrawn, enrolment_notices_forgotten)
    bus.subscribe(ShipmentShipped, partial(parcel_shipped, network_time))
    bus.subscribe(ShipmentDelivered, partial(parcel_delivered, network_time))
    bus.subscribe(ShipmentFailed, partial(parcel_failed, network_time))
