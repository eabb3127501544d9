"""Staff messages to an audience, with the count before sending and a delivery report after.

Audiences: `library:<code>` (readers whose home library is that library or below it), `holds:<code>` (readers
with an active hold for pickup there), `event:<id>` (readers holding a booking for the event). Staff reach only
audiences of their own libraries.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from backend.accounts.models import Reader, StaffUser
from backend.circulation.models import ACTIVE_HOLD, Hold
from backend.events.models import ACTIVE_BOOKING, Booking
from backend.events.services import staff_event
from backend.network.services import library_in_scope
from notifications import notices
from notifications.errors import AudienceInvalid, MessageNotFound
from notifications.models import Delivery, StaffMessage
from notifications.services import guardians, notify_many


async def audience(staff: StaffUser, spec: str) -> list[int]:
    """The readers (a child's guardian for a child) an audience names, each once."""
    kind, _, target = spec.partition(":")
    if kind == "library":
        library = await library_in_scope(target, staff.library.path)
        ids = await Reader.filter(home_library__path__startswith=library.path).values_list("id", flat=True)
    elif kind == "holds":
        library = await library_in_scope(target, staff.library.path)
        waiting = Hold.filter(pickup_library_id=library.id, status__in=ACTIVE_HOLD)
        ids = await waiting.values_list("reader_id", flat=True)
    elif kind == "event":
        if not target.isdigit():
            raise AudienceInvalid(problem="event:<id>")
        event = await staff_event(staff, int(target))
        ids = await Booking.filter(event_id=event.id, status__in=ACTIVE_BOOKING).values_list("booked_by_id", flat=True)
    else:
        raise AudienceInvalid(problem="library:<code>, holds:<code> or event:<id>")
    recipients = await guardians(int(i) for i in ids)  # type: ignore[call-overload]
    return sorted(set(recipients.values()))


async def send(staff: StaffUser, spec: str, title: str, body: str, now: datetime) -> StaffMessage:
    readers = await audience(staff, spec)
    message = await StaffMessage.create(
        staff=staff, audience=spec, title=title, body=body, recipients=len(readers), created_at=now
    )
    sender = staff.library.name
    await notify_many([notices.staff_message(r, message.id, title, body, sender) for r in readers], now)
    return message


async def report(staff: StaffUser, message_id: int) -> tuple[StaffMessage, Counter[str]]:
    """A message and its deliveries counted by outcome: sent, failed or skipped by reason, still pending."""
    message = await StaffMessage.get_or_none(id=message_id)
    if message is None:
        raise MessageNotFound()
    await audience(staff, message.audience)  # the same scope as sending it
    rows = await Delivery.filter(notice__message_id=message.id).values_list("status", "error_code")
    return message, Counter(f"{status}:{code}" if code else str(status) for status, code in rows)
