"""Seats: booking, the waiting list and its offers, cancellation, and the no-show bar.

The database is the record and decides under concurrency: every change to an event's seats or waiting list
happens under the event's row lock, with the bookings it concerns, so capacity is never exceeded and a freed
seat is offered once; one active booking per event and attendee is a partial unique index. Redis only keeps a
short-lived "full" mark, so that in a flash crowd the readers who cannot get anything are answered without
queueing for the lock. The mark can be lost (a Redis restart) or go stale for a few seconds, never wrong for
long: without it a booking simply asks the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from redis.asyncio import Redis
from redis.exceptions import RedisError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from backend.accounts.ages import age_in_months, birth_of
from backend.accounts.domain_events import CardClosing
from backend.accounts.models import Reader, ReaderType
from backend.accounts.services import get_child, lock_card
from backend.clock import NetworkTime
from backend.eventbus import EventBus, record
from backend.events.domain_events import Attendance, SeatOffered
from backend.events.errors import (
    AdultsOnly,
    BookingBarred,
    BookingClosed,
    BookingNotActive,
    BookingNotFound,
    BookingNotOpen,
    CancelCutoffPassed,
    ChildCardRequired,
    EventFull,
    EventNotFound,
    NoOfferPending,
    OutsideAgeRange,
    SeriesLimitReached,
    TooManyCompanions,
)
from backend.events.models import (
    ACTIVE_BOOKING,
    HOLDS_SEATS,
    Audience,
    Booking,
    BookingStatus,
    Event,
    EventSeries,
    EventStatus,
)

log = logging.getLogger(__name__)

# Long enough to shield the database through a rush, short enough that a seat freed while Redis was unreachable
# is not hidden for long.
_FULL_MARK_SECONDS = 5


@dataclass(frozen=True, slots=True)
class EventPolicy:
    network_time: NetworkTime  # the times readers are told, and the calendar an attendee's age is counted on
    offer_hours: int = 2
    check_in_before: timedelta = timedelta(minutes=30)
    check_in_after: timedelta = timedelta(minutes=15)
    no_show_limit: int = 3
    no_show_window: timedelta = timedelta(days=30)
    no_show_bar: timedelta = timedelta(days=14)
    no_show_credit_points: int = 2


@dataclass(frozen=True, slots=True)
class FullMark:
    """The Redis mark that an event has no seat and no waiting list place left. Redis being unreachable is not
    an error here: the database answers instead."""

    redis: Redis

    async def is_set(self, event_id: int) -> bool:
        try:
            return bool(await self.redis.exists(self._key(event_id)))
        except RedisError:
            return False

    async def set(self, event_id: int) -> None:
        try:
            await self.redis.set(self._key(event_id), 1, ex=_FULL_MARK_SECONDS)
        except RedisError:
            log.warning("could not mark event %d full", event_id)

    async def clear(self, event_id: int) -> None:
        try:
            await self.redis.delete(self._key(event_id))
        except RedisError:
            log.warning("could not clear the full mark of event %d; it lapses in %ds", event_id, _FULL_MARK_SECONDS)

    @staticmethod
    def _key(event_id: int) -> str:
        return f"event:{event_id}:full"


async def book(
    booker: Reader,
    event_id: int,
    *,
    child_id: int | None,
    companions: int,
    now: datetime,
    policy: EventPolicy,
    full: FullMark,
) -> Booking:
    """Book a seat for the booker, or for their child: confirmed if seats are left, else on the waiting list,
    else refused. Asking again returns the same booking."""
    attendee = booker if child_id is None else await get_child(booker, child_id)
    if await full.is_set(event_id):
        if (mine := await _active(event_id, attendee.id)) is not None:
            return mine
        raise EventFull()
    event = await published(event_id)
    _check_eligible(event, attendee, companions, now, policy.network_time)
    if (mine := await _active(event_id, attendee.id)) is not None:
        return mine
    seats = 1 + companions
    if not _place_left(event, seats):  # as read without the lock: as good as the Redis mark, and it sets it
        await _refuse_as_full(event, full)
    await _check_not_barred(booker.id, now, policy)
    series = event.series if event.series is not None and event.series.max_active_bookings is not None else None
    try:
        async with in_transaction():
            # Lock order: the booker, the attendee, then the event. The booker's row makes their series limit one
            # step; the attendee's card is what a child's removal takes turns on, as with a checkout: a card removed
            # since it was read is `ChildNotFound` here, not a booking for no one.
            if series is not None and attendee.id != booker.id:
                await lock_card(booker.id)
            await lock_card(attendee.id)
            if series is not None:
                await _check_series_limit(series, booker, now)
            event = await Event.select_for_update().get(id=event_id)
            if event.status is not EventStatus.PUBLISHED:  # cancelled since it was read
                raise EventNotFound()
            if now >= event.booking_closes_at:
                raise BookingClosed()
            if event.seats_taken + seats <= event.capacity:
                status, counted = BookingStatus.CONFIRMED, {"seats_taken": F("seats_taken") + seats}
            elif event.waitlisted < event.waitlist_limit:
                status, counted = BookingStatus.WAITLISTED, {"waitlisted": F("waitlisted") + 1}
            else:
                await _refuse_as_full(event, full)
            # The booking first: a second one for the attendee fails on the unique index before a seat is counted.
            made = await Booking.create(
                event=event, attendee=attendee, booked_by=booker, seats=seats, status=status, created_at=now
            )
            await Event.filter(id=event.id).update(**counted)
            return made
    except IntegrityError:
        # Asked twice at once: the first booking stands, and this request answers with it.
        if (mine := await _active(event_id, attendee.id)) is None:
            raise
        return mine


def _place_left(event: Event, seats: int) -> bool:
    return bool(event.seats_taken + seats <= event.capacity or event.waitlisted < event.waitlist_limit)


async def _refuse_as_full(event: Event, full: FullMark) -> NoReturn:
    if event.seats_taken >= event.capacity:  # no seat for anyone (a smaller party might fit otherwise)
        await full.set(event.id)
    raise EventFull()


async def published(event_id: int) -> Event:
    event = await Event.get_or_none(id=event_id, status=EventStatus.PUBLISHED).select_related("series", "library")
    if event is None:
        raise EventNotFound()
    return event


def _check_eligible(event: Event, attendee: Reader, companions: int, now: datetime, network_time: NetworkTime) -> None:
    if now < event.booking_opens_at:
        raise BookingNotOpen(opens=network_time.minutes(event.booking_opens_at))
    if now >= event.booking_closes_at:
        raise BookingClosed()
    if companions > event.max_companions:
        raise TooManyCompanions(limit=event.max_companions)
    child = attendee.reader_type is ReaderType.CHILD
    if event.audience is Audience.ADULTS and child:
        raise AdultsOnly()
    if event.audience is Audience.CHILDREN and not child:
        raise ChildCardRequired()
    if child and (event.min_age_months is not None or event.max_age_months is not None):
        born, low, high = birth_of(attendee), event.min_age_months or 0, event.max_age_months
        months = age_in_months(born, network_time.day(event.starts_at)) if born else None  # on the event's day
        if months is None or months < low or (high is not None and months >= high):
            raise OutsideAgeRange(ages=age_range_text(low, high))


def age_range_text(low: int, high: int | None) -> str:
    def months(value: int) -> str:
        return f"{value // 12}岁" if value % 12 == 0 else f"{value}个月"

    return f"{months(low)}及以上" if high is None else f"{months(low)}至{months(high)}"


async def _active(event_id: int, attendee_id: int) -> Booking | None:
    return await Booking.get_or_none(event_id=event_id, attendee_id=attendee_id, status__in=ACTIVE_BOOKING)


async def _check_series_limit(series: EventSeries, booker: Reader, now: datetime) -> None:
    assert series.max_active_bookings is not None
    active = await Booking.filter(
        booked_by_id=booker.id,
        status__in=ACTIVE_BOOKING,
        event__series_id=series.id,
        event__ends_at__gt=now,
    ).count()
    if active >= series.max_active_bookings:
        raise SeriesLimitReached(series=series.name, limit=series.max_active_bookings)


async def barred_until(booker_id: int, now: datetime, policy: EventPolicy) -> tuple[int, datetime] | None:
    """The bar from no-shows still running, if any: how many no-shows inside one window set it, and its end.
    No-shows count per event (a family missing one event with two children missed one event)."""
    since = now - policy.no_show_window - policy.no_show_bar
    ends: list[datetime] = (
        await Booking.filter(  # type: ignore[assignment]
            booked_by_id=booker_id, status=BookingStatus.NO_SHOW, event__ends_at__gt=since
        )
        .distinct()
        .values_list("event__ends_at", flat=True)
    )
    missed = sorted(ends)
    bars = [
        (count, at + policy.no_show_bar)
        for at in missed
        if (count := sum(1 for other in missed if at - policy.no_show_window < other <= at)) >= policy.no_show_limit
    ]
    if not bars or (latest := max(bars, key=lambda bar: bar[1]))[1] <= now:
        return None
    return latest


async def _check_not_barred(booker_id: int, now: datetime, policy: EventPolicy) -> None:
    if (bar := await barred_until(booker_id, now, policy)) is not None:
        count, until = bar
        raise BookingBarred(count=count, until=policy.network_time.day(until).isoformat())


async def my_booking(booker: Reader, booking_id: int) -> Booking:
    """A booking the reader made (for themselves or a child); anyone else's is not found."""
    booking = await Booking.get_or_none(id=booking_id, booked_by_id=booker.id).select_related(
        "event__library", "attendee"
    )
    if booking is None:
        raise BookingNotFound()
    return booking


async def cancel(
    booker: Reader, booking_id: int, now: datetime, policy: EventPolicy, full: FullMark, bus: EventBus
) -> None:
    """Cancel a booking: free until the cut-off (a waiting list place or an offer at any time). The seats go to
    the waiting list at once."""
    await _release(booker, booking_id, now, policy, full, bus, offer_only=False)


async def decline(
    booker: Reader, booking_id: int, now: datetime, policy: EventPolicy, full: FullMark, bus: EventBus
) -> None:
    """Turn down a seat offered from the waiting list; it goes to the next in line."""
    await _release(booker, booking_id, now, policy, full, bus, offer_only=True)


async def accept(booker: Reader, booking_id: int, now: datetime) -> Booking:
    """Take the seat offered from the waiting list."""
    booking = await my_booking(booker, booking_id)
    async with in_transaction():
        await Event.select_for_update().get(id=booking.event_id)  # an offer lapses under this lock too
        offer_open = Booking.filter(id=booking.id, status=BookingStatus.OFFERED, offer_expires_at__gt=now)
        if not await offer_open.update(status=BookingStatus.CONFIRMED, offer_expires_at=None):
            raise NoOfferPending()
    await booking.refresh_from_db()
    return booking


async def _release(
    booker: Reader,
    booking_id: int,
    now: datetime,
    policy: EventPolicy,
    full: FullMark,
    bus: EventBus,
    *,
    offer_only: bool,
) -> None:
    mine = await my_booking(booker, booking_id)
    async with bus.transaction():
        event = await Event.select_for_update().get(id=mine.event_id)
        booking = await Booking.get(id=mine.id)  # as it is now, under the event's lock
        if offer_only and booking.status is not BookingStatus.OFFERED:
            raise NoOfferPending()
        if booking.status not in (BookingStatus.CONFIRMED, BookingStatus.WAITLISTED, BookingStatus.OFFERED):
            raise BookingNotActive(status=booking.status.value)
        if booking.status is BookingStatus.CONFIRMED and now >= event.cancel_until:
            raise CancelCutoffPassed(until=policy.network_time.minutes(event.cancel_until))
        closing = BookingStatus.DECLINED if offer_only else BookingStatus.CANCELLED
        await close_bookings(event, [booking], closing, now, policy)
    await full.clear(event.id)


async def release_closing_card(policy: EventPolicy, closing: CardClosing) -> None:
    """A card about to be deleted gives back the seats and waiting list places booked for it in events still to
    end, offered down the waiting lists as a cancellation's are (the `CardClosing` handler). A full mark set for
    such an event lapses on its own within seconds, as after any cancellation Redis did not hear of."""
    coming = Booking.filter(attendee_id=closing.reader_id, status__in=ACTIVE_BOOKING, event__ends_at__gt=closing.at)
    event_ids: list[int] = await coming.distinct().values_list("event_id", flat=True)  # type: ignore[assignment]
    for event_id in sorted(event_ids):  # in one order, as every taker of several events' locks must
        event = await Event.select_for_update().get(id=event_id)
        bookings = await Booking.filter(event_id=event_id, attendee_id=closing.reader_id, status__in=ACTIVE_BOOKING)
        await close_bookings(event, bookings, BookingStatus.CANCELLED, closing.at, policy)


async def close_bookings(
    event: Event, bookings: list[Booking], status: BookingStatus, now: datetime, policy: EventPolicy
) -> list[Booking]:
    """Close active bookings of a locked event, give back their seats and waiting list places, and offer the
    freed seats down the waiting list. Returns the bookings offered a seat."""
    freed = sum(b.seats for b in bookings if b.status in HOLDS_SEATS)
    left_list = sum(1 for b in bookings if b.status is BookingStatus.WAITLISTED)
    await Booking.filter(id__in=[b.id for b in bookings]).update(status=status, closed_at=now, offer_expires_at=None)
    event.seats_taken -= freed
    event.waitlisted -= left_list
    offered = await _offer_freed_seats(event, now, policy)
    await Event.filter(id=event.id).update(seats_taken=event.seats_taken, waitlisted=event.waitlisted)
    return offered


async def _offer_freed_seats(event: Event, now: datetime, policy: EventPolicy) -> list[Booking]:
    """Offer free seats to the waiting list in order. A party too big for the seats left keeps its place while a
    smaller one behind it is offered them (the seats would otherwise stay empty)."""
    if event.status is not EventStatus.PUBLISHED or now >= event.starts_at:
        return []
    free = event.capacity - event.seats_taken
    offered: list[Booking] = []
    expires = now + min(timedelta(hours=policy.offer_hours), (event.starts_at - now) / 2)
    for waiting in await Booking.filter(event_id=event.id, status=BookingStatus.WAITLISTED).order_by("id"):
        if free <= 0:
            break
        if waiting.seats <= free:
            free -= waiting.seats
            offered.append(waiting)
    if offered:
        await Booking.filter(id__in=[b.id for b in offered]).update(
            status=BookingStatus.OFFERED, offer_expires_at=expires
        )
        event.seats_taken = event.capacity - free
        event.waitlisted -= len(offered)
        for b in offered:
            record(SeatOffered(Attendance(b.id, b.booked_by_id), event.title, event.starts_at, expires, now))
    return offered


async def lapse_offers(now: datetime, policy: EventPolicy, full: FullMark, bus: EventBus) -> int:
    """Offers not taken in time lapse, and their seats go to the next on the waiting list (a job, every few
    minutes). Returns how many lapsed."""
    lapsed = 0
    stale_offers = Booking.filter(status=BookingStatus.OFFERED, offer_expires_at__lte=now)
    event_ids: list[int] = await stale_offers.distinct().values_list("event_id", flat=True)  # type: ignore[assignment]
    for event_id in event_ids:
        async with bus.transaction():
            event = await Event.select_for_update().get(id=event_id)
            stale = await Booking.filter(event_id=event_id, status=BookingStatus.OFFERED, offer_expires_at__lte=now)
            await close_bookings(event, stale, BookingStatus.LAPSED, now, policy)
            lapsed += len(stale)
        await full.clear(event_id)
    return lapsed
