"""Staff messages to an audience, with the count before sending and a delivery report after.

Audiences: `library:<code>` (readers whose home library is that library or below it), `holds:<code>` (readers
with an active hold for pickup there), `event:<id>` (readers holding a booking for the event), `booklist:<id>` (a
published reading list's audience: its libraries' readers of its age band; the message links to the list, and the push
is kept for the list's report), `picks:<code>` (the cards of that library and below whose personal picks are on: each
reader reads staff's words and, under them, their own top picks, a guardian those of each child's card they switched
picks on for; the push is kept for its report). Staff reach only audiences of their own libraries.

A picks push is the worker's (`run_picks_push`): sending records the message and the push and queues its job, which
makes the picks of cards that have none stored (CPU work, off the API) and tells the readers a batch at a time, each
batch's notices committed with the push's progress, so a run after a crash goes on where the last one stopped.

A push (a list's, or of picks) keeps the cards it reached and the records it named to each, so its report counts
the readers told who opened it, placed a hold on or borrowed one of those records within 30 days (`reports`).

A send carries the client's request id: a double tap or a retry with the same id answers with the first message (and
push), whose readers were told once; the id is unique per staff member, so two sends at once make one message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffUser
from backend.accounts.staff import authority_scope
from backend.booklists import reports
from backend.booklists import services as booklists
from backend.booklists.models import Booklist, BooklistPush
from backend.circulation.domain_events import LoanOpened
from backend.circulation.models import ACTIVE_HOLD, Hold
from backend.clock import NetworkTime
from backend.events.models import ACTIVE_BOOKING, Booking
from backend.events.services import staff_event
from backend.network.errors import OutsideScope
from backend.network.models import Library
from backend.network.services import in_scope, library_in_scope
from backend.outages import is_outage
from notifications import notices
from notifications.errors import AudienceInvalid, IdempotencyKeyReused, MessageNotFound, PicksPushNotFound
from notifications.models import Delivery, NoticeKind, PicksPush, PicksPushReader, PicksPushStatus, StaffMessage
from notifications.services import NoticeDraft, guardians, notify_many
from notifications.templates import Template
from recommendations import pushes
from recommendations.pushes import CardPicks, PicksSource
from recommendations.store import PickStore

log = logging.getLogger(__name__)

# What a message about a list, or of picks, says unless staff write their own (a title of 20 characters, a body of
# 200); a reader's notice holds 500, their picks under staff's words.
_LIST_TITLE = "书单推荐"
_PICKS_TITLE = "为你挑选的书"
_TITLE_MOST, _BODY_MOST, _NOTICE_BODY_MOST = 20, 200, 500


class PicksPushQueue(Protocol):
    async def enqueue_picks_push(self, push_id: int) -> None:
        """Queue a picks push's job (one job per push: queueing it again queues nothing)."""
        ...


@dataclass(frozen=True, slots=True)
class Reach:
    """Whom an audience that reads no reader's picks names: the readers told; for a list's audience the list and each
    card reached with whom to tell of it."""

    recipients: list[int]
    booklist: Booklist | None = None
    cards: dict[int, int] = field(default_factory=dict)

    @property
    def link(self) -> str:
        """What the reader's notice opens: the list, if any."""
        return f"booklist={self.booklist.id}" if self.booklist is not None else ""


async def recipients(staff: StaffUser, spec: str, today: date, store: PickStore) -> int:
    """How many readers (a child's guardian for a child, once) a message to an audience would tell; children's ages (a
    list's age band) are counted on `today`, the network's calendar day. A picks audience: those expected to be told
    (`pushes.expected`)."""
    kind, _, target = spec.partition(":")
    if kind == "picks":
        return (await pushes.expected(await pushes.target(staff, target), store)).recipients
    return len((await _reach(staff, kind, target, today)).recipients)


async def _reach(staff: StaffUser, kind: str, target: str, today: date) -> Reach:
    if kind == "booklist":
        if not target.isdigit():
            raise AudienceInvalid(problem="booklist:<id>")
        return await _list_reach(staff, int(target), today)
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
        raise AudienceInvalid(problem="library:<code>, holds:<code>, event:<id>, booklist:<id> or picks:<code>")
    recipients = await guardians(int(i) for i in ids)  # type: ignore[call-overload]
    return Reach(sorted(set(recipients.values())))


async def _list_reach(staff: StaffUser, booklist_id: int, today: date) -> Reach:
    booklist, cards = await booklists.push_audience(staff, booklist_id, today)
    return Reach(sorted(set(cards.values())), booklist, cards)


@dataclass(frozen=True, slots=True)
class Sent:
    """A message sent, and for a list's or a picks audience the push kept with it."""

    message: StaffMessage
    push: BooklistPush | PicksPush | None = None


async def send(
    staff: StaffUser,
    spec: str,
    title: str,
    body: str,
    now: datetime,
    today: date,
    queue: PicksPushQueue,
    idempotency_key: str | None = None,
) -> StaffMessage:
    """Send a message to an audience: a notice in each reader's inbox and its pending pushes, in one transaction; a
    list's push is kept with the cards it reached, for its report. A picks audience's message is recorded with its
    push and sent by the worker (`run_picks_push`). A request id sent before answers with its message, sending
    nothing."""
    asked = _Asked(staff, idempotency_key, spec, title, body)
    sent = await _sent_before(asked)
    if sent is None:
        kind, _, target = spec.partition(":")
        if kind == "picks":
            sent = await _queue_picks(asked, target, title, body, now, queue)
        else:
            sent = await _send(asked, await _reach(staff, kind, target, today), title, body, now)
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
    return Sent(message, await _push_of(message))


async def _push_of(message: StaffMessage) -> BooklistPush | PicksPush | None:
    """The push a message carried, if its audience keeps one."""
    kind = message.audience.partition(":")[0]
    if kind == "booklist":
        return await BooklistPush.get_or_none(message_id=message.id)
    if kind == "picks":
        return await PicksPush.get_or_none(message_id=message.id).select_related("message")
    return None


async def _send(asked: _Asked, audience: Reach, title: str, body: str, now: datetime) -> Sent:
    async def record() -> Sent:
        message = await _message(asked, title, body, len(audience.recipients), now)
        sender = asked.staff.library.name
        drafts = [
            notices.staff_message(r, message.id, title, body, sender, link=audience.link) for r in audience.recipients
        ]
        await notify_many(drafts, now)
        if audience.booklist is None:
            return Sent(message)
        push = await booklists.record_push(asked.staff, audience.booklist, message.id, audience.cards, now)
        return Sent(message, push)

    return await _once(asked, record)


async def _message(asked: _Asked, title: str, body: str, recipients: int, now: datetime) -> StaffMessage:
    return await StaffMessage.create(
        staff=asked.staff,
        audience=asked.spec,
        title=title,
        body=body,
        recipients=recipients,
        created_at=now,
        idempotency_key=asked.idempotency_key,
    )


async def _once(asked: _Asked, record: Callable[[], Awaitable[Sent]]) -> Sent:
    """A send recorded in one transaction, once per request id."""
    try:
        async with in_transaction():
            return await record()
    except IntegrityError:
        # The same request id at once (a double tap): the message's insert waited for the first send's commit, and
        # this one's failed before it made any notice or queued any job.
        first = await _sent_before(asked)
        if first is None:
            raise
        return first


async def report(staff: StaffUser, message_id: int, today: date) -> tuple[StaffMessage, Counter[str]]:
    """A message and its deliveries counted by outcome: sent, failed or skipped by reason, still pending."""
    message = await StaffMessage.get_or_none(id=message_id)
    if message is None:
        raise MessageNotFound()
    push = await _push_of(message)
    if isinstance(push, BooklistPush):  # the list may be retired since: the push's own scope decides
        await booklists.staff_push(staff, push.booklist_id, push.id)
    elif isinstance(push, PicksPush):  # the push's scope, without reading every reader's picks again
        await staff_picks_push(staff, push.id)
    elif message.audience.startswith(("booklist:", "picks:")):
        raise MessageNotFound()
    else:
        kind, _, target = message.audience.partition(":")
        await _reach(staff, kind, target, today)  # the same scope as sending it
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
    audience = await _list_reach(staff, booklist_id, today)
    assert audience.booklist is not None
    heading, text = _list_words(staff, audience.booklist, title, body)
    return _ListPush(f"booklist:{booklist_id}", audience, heading, text)


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
    push = _in_wechat(draft, templates)
    return ListMessage(shown.spec, len(shown.audience.recipients), shown.title, shown.body, draft.link, push)


def _in_wechat(draft: NoticeDraft, templates: Mapping[NoticeKind, Template]) -> dict[str, str] | None:
    """A notice's push values as WeChat will show them, or none when its kind has no template (the inbox only)."""
    template = templates.get(draft.kind)
    if template is None or not template.template_id:
        return None
    return {keyword: value["value"] for keyword, value in template.render(draft.values).items()}


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
    assert isinstance(sent.push, BooklistPush)  # every message to a list's audience is sent with its push, at once
    return sent.push


async def list_push_report(
    staff: StaffUser, booklist_id: int, push_id: int
) -> tuple[BooklistPush, StaffMessage, Counter[str], reports.PushOutcome]:
    """A list's push: its message, the deliveries by outcome, and what it achieved within the window."""
    push = await booklists.staff_push(staff, booklist_id, push_id)
    message = await StaffMessage.get(id=push.message_id)
    return push, message, await outcomes(message.id), await booklists.outcome(push)


# ---- each reader's own picks pushed to a library's readers ----

PICKS_REPORT = reports.PushReport(
    PicksPush,
    PicksPushReader,
    records="pr.record_ids",
    # The message is the push: opening it is reading its notice in the inbox (one the reader deleted, or one purged
    # by the notices' retention before the window closes, no longer counts).
    opened="EXISTS (SELECT 1 FROM notice n WHERE n.message_id = p.message_id AND n.reader_id = pr.recipient_id "
    "AND n.read_at >= $2 AND n.read_at < $3)",
)


@dataclass(frozen=True, slots=True)
class PicksMessage:
    """A picks push before it is sent: its words, its message as a template (each reader reads their own picks where
    it shows placeholders: no reader's picks are shown to staff), the push's values as WeChat will show them (none
    without a template for staff messages), how many readers and cards it is expected to tell, and the cards expected
    to be skipped by why (`pushes.expected`)."""

    audience: str
    recipients: int
    cards: int
    skipped: dict[str, int]
    title: str
    body: str
    push: dict[str, str] | None


def _picks_words(staff: StaffUser, title: str | None, body: str | None) -> tuple[str, str]:
    return title or _PICKS_TITLE, body or f"{staff.library.name}为你挑选了几本书："


async def preview_picks(
    staff: StaffUser,
    library_code: str,
    title: str | None,
    body: str | None,
    store: PickStore,
    templates: Mapping[NoticeKind, Template],
) -> PicksMessage:
    """What pushing picks to a library's readers would send, and to how many, without sending it."""
    expected = await pushes.expected(await pushes.target(staff, library_code), store)
    heading, words = _picks_words(staff, title, body)
    shown = _cut(pushes.message(words, [pushes.TEMPLATE_LINE]), _NOTICE_BODY_MOST)
    draft = notices.staff_message(0, 0, heading, shown, staff.library.name)
    return PicksMessage(
        f"picks:{library_code}",
        expected.recipients,
        expected.cards,
        dict(sorted(expected.skipped.items())),
        heading,
        shown,
        _in_wechat(draft, templates),
    )


async def push_picks(
    staff: StaffUser,
    library_code: str,
    title: str | None,
    body: str | None,
    now: datetime,
    queue: PicksPushQueue,
    idempotency_key: str,
) -> PicksPush:
    """Tell each reader of a library of mine and below whose personal picks are on of their own top picks, under my
    words: the push is recorded and queued, and the worker tells them (`run_picks_push`). The same request id again
    answers with the first push."""
    asked = _Asked(staff, idempotency_key, f"picks:{library_code}", title, body)
    sent = await _sent_before(asked)
    if sent is None:
        heading, words = _picks_words(staff, title, body)
        sent = await _queue_picks(asked, library_code, heading, words, now, queue)
    assert isinstance(sent.push, PicksPush)  # every message to a picks audience is recorded with its push, at once
    return sent.push


async def _queue_picks(
    asked: _Asked, library_code: str, title: str, body: str, now: datetime, queue: PicksPushQueue
) -> Sent:
    await pushes.target(asked.staff, library_code)  # within my scope

    async def record() -> Sent:
        message = await _message(asked, title, body, 0, now)  # its readers are counted as the worker tells them
        push = await PicksPush.create(
            library=asked.staff.library, staff=asked.staff, message=message, recipients=0, cards=0, pushed_at=now
        )
        # Queued before the commit, so no push is left without its job; the job waits for the commit if it has to.
        await queue.enqueue_picks_push(push.id)
        return Sent(message, push)

    return await _once(asked, record)


_TIMEOUT_SLACK = timedelta(seconds=5)
"""arq's timeout counts from the moment it starts the job, a little before its run begins."""


class _Superseded(Exception):
    """Another run of the push committed the batch this one was about to."""


async def run_picks_push(
    push_id: int,
    source: PicksSource,
    now: Callable[[], datetime],
    network_time: NetworkTime,
    run_limit: timedelta,
    batch: int = pushes.BATCH,
) -> int | None:
    """Send a picks push (the worker's job, which arq ends at `run_limit`): every reader of its library and below
    whose personal picks are on is told of their own top picks, `batch` readers at a time; a card with none stored
    gets them now, and one that still has none is counted by why. A batch's notices, rows and counts commit with the
    push's progress under its row lock, so a run after a crash or an outage goes on after the last batch committed,
    and no reader is told twice (a notice is unique per message and reader besides). Returns the readers this run
    told; None when there is no such push (yet: its job is queued inside the transaction that records it)."""
    began = now()
    await PicksPush.filter(id=push_id, status__in=_UNDER_WAY).update(
        status=PicksPushStatus.RUNNING, started_at=began, heartbeat_at=began
    )
    push = await PicksPush.get_or_none(id=push_id).select_related("library", "message")
    if push is None or push.status is not PicksPushStatus.RUNNING:
        return None if push is None else 0
    told, after = 0, push.done_through
    try:
        library = await Library.get(code=push.message.audience.partition(":")[2])  # codes never change
        for cards in pushes.in_batches(await pushes.audience(library), after, batch):
            at = now()
            picked = await pushes.picks_for(cards, source, at, network_time.day(at))
            told += await _tell(push, after, cards, picked, now())
            after = max(cards.values())
    except _Superseded:
        log.warning("picks push %d: another run sent the batch after reader %d; this one stops", push_id, after)
        return told
    except asyncio.CancelledError:
        # arq ends a run at its timeout by cancelling it, and does not run it again. A run cancelled sooner is a
        # worker stopping, and arq runs it again: it stays running.
        if now() - began >= run_limit - _TIMEOUT_SLACK:
            await _end_picks_push(push_id, PicksPushStatus.FAILED, now())
        raise
    except Exception as exc:
        if not is_outage(exc):  # an outage: left running, the job is tried again (worker._outlasting)
            await _end_picks_push(push_id, PicksPushStatus.FAILED, now())
        raise
    await _end_picks_push(push_id, PicksPushStatus.DONE, now())
    return told


async def _tell(push: PicksPush, after: int, cards: Mapping[int, int], picked: pushes.Picked, now: datetime) -> int:
    """Tell a batch's readers, each in one notice of their cards' lines (their own first), and keep what the push
    named to each card; committed with the push's progress past the batch, if no other run got there first."""
    lines: defaultdict[int, list[CardPicks]] = defaultdict(list)
    for card in sorted(picked.told, key=lambda c: (c.card != c.recipient, c.card)):
        lines[card.recipient].append(card)
    message = push.message
    drafts = [
        notices.staff_message(
            recipient,
            message.id,
            message.title,
            _cut(pushes.message(message.body, [card.line for card in named]), _NOTICE_BODY_MOST),
            push.library.name,
            link=f"picks={named[0].card}",
        )
        for recipient, named in lines.items()
    ]
    async with in_transaction():
        locked = await PicksPush.filter(id=push.id).select_for_update().first()
        if locked is None or locked.status is not PicksPushStatus.RUNNING or locked.done_through != after:
            raise _Superseded()
        await notify_many(drafts, now)
        await PicksPushReader.bulk_create(
            [
                PicksPushReader(push_id=push.id, reader_id=c.card, recipient_id=c.recipient, record_ids=c.records)
                for c in picked.told
            ]
        )
        await PicksPush.filter(id=push.id).update(
            done_through=max(cards.values()),
            heartbeat_at=now,
            recipients=locked.recipients + len(lines),
            cards=locked.cards + len(picked.told),
            skipped=dict(sorted((Counter(locked.skipped) + picked.skipped).items())),
        )
        await StaffMessage.filter(id=message.id).update(recipients=F("recipients") + len(lines))
    return len(lines)


async def _end_picks_push(push_id: int, status: PicksPushStatus, now: datetime) -> None:
    await PicksPush.filter(id=push_id, status=PicksPushStatus.RUNNING).update(status=status, finished_at=now)


_UNDER_WAY = (PicksPushStatus.QUEUED, PicksPushStatus.RUNNING)
PICKS_PUSH_SILENT_FOR = timedelta(minutes=10)
"""A run commits a batch of readers well within this (`pushes.BATCH`): a push queued or running, but silent for this
long, has lost its job."""
_REQUEUED_AT_ONCE = 100


async def look_after_picks_pushes(now: datetime, run_limit: timedelta, queue: PicksPushQueue) -> int:
    """The worker's sweep: a push queued or running whose run has been silent for `PICKS_PUSH_SILENT_FOR` lost its job
    (arq gave up on it after an outage longer than its tries, its worker stopped, or Redis lost the queue). It is
    queued again, under its own job id (a job still in hand queues nothing; one arq gave up on, once arq no longer
    keeps its result: an hour), and goes on after the readers done; one
    whose run was still writing close to its `run_limit` was ended by arq at its timeout, and fails as it would have
    itself. Returns how many it changed."""
    silent_since = now - PICKS_PUSH_SILENT_FOR
    timed_out = 0
    running = PicksPush.filter(status=PicksPushStatus.RUNNING, heartbeat_at__lt=silent_since)
    for push in await running.only("id", "started_at", "heartbeat_at"):
        assert push.started_at is not None and push.heartbeat_at is not None  # a run records both as it starts
        if push.heartbeat_at >= push.started_at + run_limit - PICKS_PUSH_SILENT_FOR:
            # Still silent: a run that committed a batch meanwhile is alive.
            timed_out += await PicksPush.filter(
                id=push.id, status=PicksPushStatus.RUNNING, heartbeat_at__lt=silent_since
            ).update(status=PicksPushStatus.FAILED, finished_at=now)
    # A push queued is silent from when it was pushed; one running, from its run's last write.
    silent = PicksPush.filter(
        Q(status=PicksPushStatus.QUEUED, pushed_at__lt=silent_since)
        | Q(status=PicksPushStatus.RUNNING, heartbeat_at__lt=silent_since)
    )
    requeued = 0
    for push in await silent.order_by("id").limit(_REQUEUED_AT_ONCE).only("id"):
        await queue.enqueue_picks_push(push.id)
        requeued += 1
    return timed_out + requeued


async def staff_picks_push(staff: StaffUser, push_id: int) -> PicksPush:
    """A picks push made by one of my libraries or below."""
    push = await PicksPush.get_or_none(id=push_id).select_related("library", "message")
    if push is None:
        raise PicksPushNotFound()
    if not in_scope(push.library, authority_scope(staff)):
        raise OutsideScope()
    return push


async def picks_pushes(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[PicksPush], int]:
    """The picks pushes made by my libraries and below, newest first."""
    found = PicksPush.filter(library__path__startswith=authority_scope(staff)).select_related("message")
    return await paging.page(found.order_by("-pushed_at", "-id"), limit, offset)


async def picks_push_report(staff: StaffUser, push_id: int) -> tuple[PicksPush, Counter[str], reports.PushOutcome]:
    """A picks push: the deliveries of its message by outcome, and what it achieved within the window."""
    push = await staff_picks_push(staff, push_id)
    return push, await outcomes(push.message_id), await reports.outcome(PICKS_REPORT, push)


async def settle_picks_reports(now: datetime) -> int:
    """The picks pushes whose window has closed keep their counts and forget who was pushed what (`reports.settle`).
    Returns the pushes settled."""
    return await reports.settle(PICKS_REPORT, now)


async def picks_loan_opened(event: LoanOpened) -> None:
    """A checkout of a record pushed to the card (or to the guardian holding it) within a picks push's window."""
    await reports.mark_loan(PICKS_REPORT, event)
