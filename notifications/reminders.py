"""Scheduled notices: due soon, overdue, holds about to expire, events tomorrow and in an hour. Each run makes the
notices that are due and skips those made before (their keys), so a re-run or an overlapping run adds nothing.
Days are the network's (`NetworkTime`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from backend.circulation.models import Hold, HoldStatus, Loan
from backend.clock import NetworkTime
from backend.events.models import Booking, BookingStatus
from notifications import notices
from notifications.services import NoticeDraft, guardians, notify_many


async def _loan_digests(loans: list[Loan], network_time: NetworkTime) -> dict[tuple[int, date], list[Loan]]:
    """Open loans grouped by whom to tell (a child's guardian) and due day: one notice per group."""
    recipients = await guardians(loan.reader_id for loan in loans if loan.reader_id is not None)
    groups: dict[tuple[int, date], list[Loan]] = defaultdict(list)
    for loan in loans:
        if loan.reader_id is not None:
            groups[recipients[loan.reader_id], network_time.day(loan.due_at)].append(loan)
    return groups


async def due_soon(now: datetime, network_time: NetworkTime, days: int = 3) -> int:
    """Loans due `days` from today: one digest per reader and due date."""
    start = network_time.midnight(network_time.day(now) + timedelta(days=days))
    loans = await Loan.filter(
        returned_at__isnull=True, due_at__gte=start, due_at__lt=start + timedelta(days=1)
    ).select_related("copy__record", "library")
    drafts = [
        notices.due_soon(reader_id, due, [loan.copy.record.title for loan in group], group[0].library.name, days)
        for (reader_id, due), group in (await _loan_digests(loans, network_time)).items()
    ]
    return await notify_many(drafts, now)


async def overdue(now: datetime, network_time: NetworkTime) -> int:
    """Loans past their due date: told once per reader and due date."""
    loans = await Loan.filter(returned_at__isnull=True, due_at__lt=now).select_related("copy__record", "library")
    drafts = [
        notices.overdue(reader_id, due, [loan.copy.record.title for loan in group], group[0].library.name)
        for (reader_id, due), group in (await _loan_digests(loans, network_time)).items()
    ]
    return await notify_many(drafts, now)


async def holds_expiring(now: datetime, network_time: NetworkTime, within: timedelta = timedelta(days=1)) -> int:
    """Holds on the shelf whose last day is within a day."""
    holds = await Hold.filter(status=HoldStatus.READY, expires_at__gt=now, expires_at__lte=now + within).select_related(
        "record", "pickup_library"
    )
    recipients = await guardians(h.reader_id for h in holds)
    drafts: list[NoticeDraft] = [
        notices.hold_expiring(
            network_time, recipients[h.reader_id], h.id, h.record.title, h.pickup_library.name, h.expires_at
        )
        for h in holds
        if h.expires_at is not None
    ]
    return await notify_many(drafts, now)


async def event_reminders(now: datetime, network_time: NetworkTime) -> int:
    """Confirmed bookings of events starting within 24 hours ("tomorrow") and within one hour."""
    bookings = await Booking.filter(
        status=BookingStatus.CONFIRMED, event__starts_at__gt=now, event__starts_at__lte=now + timedelta(hours=24)
    ).select_related("event")
    drafts = [
        notices.event_reminder(
            network_time,
            b.booked_by_id,
            b.id,
            b.event.title,
            b.event.starts_at,
            b.event.place,
            "1h" if b.event.starts_at <= now + timedelta(hours=1) else "24h",
        )
        for b in bookings
    ]
    return await notify_many(drafts, now)
