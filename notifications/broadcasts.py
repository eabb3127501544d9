"""Staff messages to an audience, with the count before sending and a delivery report after.

Audiences: `library:<code>` (readers whose home library is that library or below it), `holds:<code>` (readers
with an active hold for pickup there), `event:<id>` (readers holding a booking for the event), `booklist:<id>` (a
published reading list's audience: its libraries' readers of its age band; the message links to the list, and the push
is kept for the list's report). Staff reach only audiences of their own libraries.

A send carries the client's request id: a double tap or a retry with the same id answers with the first message (and
push), whose readers were told once; the id is unique per staff member, so two sends at once make one message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend.accounts.models import Reader, StaffUser
from backend.booklists import services as booklists
from backend.booklists.models import Booklist, BooklistPush
from backend.circulation.models import ACTIVE_HOLD, Hold
from backend.events.models import ACTIVE_BOOKING, Booking
from backend.events.services import staff_event
from backend.network.services import library_in_scope
from notifications import notices
from notifications.errors import AudienceInvalid, IdempotencyKeyReused, MessageNotFound
from notifications.models import Delivery, NoticeKind, StaffMessage
from notifications.services import guardians, notify_many
from notifications.templates import Template

# What a message about a list says unless staff write their own (a title of 20 characters, a body of 200).
_LIST_TITLE = "书单推荐"
_TITLE_MOST, _BODY_MOST = 20, 200


@dataclass(frozen=True, slots=True)
class Reach:
    """Whom an audience names: the readers told, and for a list's audience the list and each card reached with whom
    to tell of it."""

    recipients: list[int]
    booklist: Booklist | None = None
    cards: dict[int, int] = field(default_factory=dict)

    @property
    def link(self) -> str:
        return f"booklist={self.booklist.id}" if self.booklist is not None else ""


async def audience(staff: StaffUser, spec: str, today: date) -> list[int]:
    """The readers (a child's guardian for a child) an audience names, each once; children's ages (a list's age
    band) are counted on `today`, the network's calendar day."""
    return (await reach(staff, spec, today)).recipients


async def reach(staff: StaffUser, spec: str, today: date) -> Reach:
    kind, _, target = spec.partition(":")
    if kind == "booklist":
        if not target.isdigit():
            raise AudienceInvalid(problem="booklist:<id>")
        booklist, cards = await booklists.push_audience(staff, int(target), today)
        return Reach(sorted(set(cards.values())), booklist, cards)
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
        raise AudienceInvalid(problem="library:<code>, holds:<code>, event:<id> or booklist:<id>")
    recipients = await guardians(int(i) for i in ids)  # type: ignore[call-overload]
    return Reach(sorted(set(recipients.values())))


@dataclass(frozen=True, slots=True)
class Sent:
    """A message sent, and for a list's audience the push kept with it."""

    message: StaffMessage
    push: BooklistPush | None = None


async def send(
    staff: StaffUser, spec: str, title: str, body: str, now: datetime, today: date, idempotency_key: str | None = None
) -> StaffMessage:
    """Send a message to an audience: a notice in each reader's inbox and its pending pushes, in one transaction; a
    list's push is kept with the cards it reached, for its report. A request id sent before answers with its
    message, sending nothing."""
    asked = _Asked(staff, idempotency_key, spec, title, body)
    sent = await _sent_before(asked)
    if sent is None:
        sent = await _send(asked, await reach(staff, spec, today), title, body, now)
    return sent.message


@dataclass(frozen=True, slots=True)
class _Asked:
    """A send as asked: the words as given (None: made from the list), to tell a retry from another message."""

    staff: StaffUser
    idempotency_key: str | None
    spec: str
    title: str | None
    body: str | None


async def _sent_before(asked: _Asked) -> Sent | None:
    """The send this staff member made with this request id, if any; the same id for another message is refused."""
    if asked.idempotency_key is None:
        return None
    message = await StaffMessage.get_or_none(staff_id=asked.staff.id, idempotency_key=asked.idempotency_key)
    if message is None:
        return None
    if (
        message.audience != asked.spec
        or asked.title not in (None, message.title)
        or asked.body not in (None, message.body)
    ):
        raise IdempotencyKeyReused()
    return Sent(message, await BooklistPush.get_or_none(message_id=message.id))


async def _send(asked: _Asked, audience: Reach, title: str, body: str, now: datetime) -> Sent:
    staff, idempotency_key, spec = asked.staff, asked.idempotency_key, asked.spec
    try:
        async with in_transaction():
            message = await StaffMessage.create(
                staff=staff,
                audience=spec,
                title=title,
                body=body,
                recipients=len(audience.recipients),
                created_at=now,
                idempotency_key=idempotency_key,
            )
            sender = staff.library.name
            drafts = [
                notices.staff_message(r, message.id, title, body, sender, link=audience.link)
                for r in audience.recipients
            ]
            await notify_many(drafts, now)
            push = None
            if audience.booklist is not None:
                push = await booklists.record_push(staff, audience.booklist, message.id, audience.cards, now)
    except IntegrityError:
        # The same request id at once (a double tap): the insert waited for the first send's commit, and this one's
        # notices went with its rollback.
        first = await _sent_before(asked)
        if first is None:
            raise
        return first
    return Sent(message, push)


async def report(staff: StaffUser, message_id: int, today: date) -> tuple[StaffMessage, Counter[str]]:
    """A message and its deliveries counted by outcome: sent, failed or skipped by reason, still pending."""
    message = await StaffMessage.get_or_none(id=message_id)
    if message is None:
        raise MessageNotFound()
    if message.audience.startswith("booklist:"):  # the list may be retired since: the push's own scope decides
        push = await BooklistPush.get_or_none(message_id=message.id)
        if push is None:
            raise MessageNotFound()
        await booklists.staff_push(staff, push.booklist_id, push.id)
    else:
        await audience(staff, message.audience, today)  # the same scope as sending it
    return message, await outcomes(message.id)


async def outcomes(message_id: int) -> Counter[str]:
    rows = await Delivery.filter(notice__message_id=message_id).values_list("status", "error_code")
    return Counter(f"{status}:{code}" if code else str(status) for status, code in rows)


# ---- reading lists pushed to their audience ----


@dataclass(frozen=True, slots=True)
class ListMessage:
    """A list's push as its readers will see it, before it is sent: the notice, the push's values as WeChat will
    show them (none when no template is configured for staff messages: the inbox only), and how many are told."""

    audience: str
    recipients: int
    title: str
    body: str
    link: str
    push: dict[str, str] | None


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _list_words(staff: StaffUser, booklist: Booklist, title: str | None, body: str | None) -> tuple[str, str]:
    """Staff's own words, or the list's: its title as the heading and its description, under the library's name."""
    default_body = f"{staff.library.name}为你推荐书单《{booklist.title}》"
    if booklist.description:
        default_body += f"：{booklist.description.splitlines()[0]}"
    return title or _cut(_LIST_TITLE + "｜" + booklist.title, _TITLE_MOST), body or _cut(default_body, _BODY_MOST)


@dataclass(frozen=True, slots=True)
class _ListPush:
    spec: str
    audience: Reach
    title: str
    body: str


async def _list_push(staff: StaffUser, booklist_id: int, title: str | None, body: str | None, today: date) -> _ListPush:
    """A list's audience within my scope and the words of its message: what a preview shows and a push sends."""
    spec = f"booklist:{booklist_id}"
    audience = await reach(staff, spec, today)
    assert audience.booklist is not None
    heading, text = _list_words(staff, audience.booklist, title, body)
    return _ListPush(spec, audience, heading, text)


async def preview_list(
    staff: StaffUser,
    booklist_id: int,
    title: str | None,
    body: str | None,
    today: date,
    templates: Mapping[NoticeKind, Template],
) -> ListMessage:
    """What pushing a list would send, and to how many readers, without sending it."""
    shown = await _list_push(staff, booklist_id, title, body, today)
    draft = notices.staff_message(0, 0, shown.title, shown.body, staff.library.name, link=shown.audience.link)
    template = templates.get(NoticeKind.STAFF_MESSAGE)
    push = None
    if template is not None and template.template_id:
        push = {keyword: value["value"] for keyword, value in template.render(draft.values).items()}
    return ListMessage(shown.spec, len(shown.audience.recipients), shown.title, shown.body, draft.link, push)


async def push_list(
    staff: StaffUser,
    booklist_id: int,
    title: str | None,
    body: str | None,
    now: datetime,
    today: date,
    idempotency_key: str,
) -> BooklistPush:
    """Send a list to its audience within my scope as a staff message that opens the list; the same request id
    again answers with the first push."""
    asked = _Asked(staff, idempotency_key, f"booklist:{booklist_id}", title, body)
    sent = await _sent_before(asked)
    if sent is None:
        made = await _list_push(staff, booklist_id, title, body, today)
        sent = await _send(asked, made.audience, made.title, made.body, now)
    assert sent.push is not None  # every message to a list's audience is sent with its push, in one transaction
    return sent.push


async def list_push_report(
    staff: StaffUser, booklist_id: int, push_id: int
) -> tuple[BooklistPush, StaffMessage, Counter[str], booklists.PushOutcome]:
    """A list's push: its message, the deliveries by outcome, and what it achieved within the window."""
    push = await booklists.staff_push(staff, booklist_id, push_id)
    message = await StaffMessage.get(id=push.message_id)
    return push, message, await outcomes(message.id), await booklists.outcome(push)
