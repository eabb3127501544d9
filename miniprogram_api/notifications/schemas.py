"""Notices as readers see them in the inbox, their push preferences, staff messages, and pushes of readers' own
picks with their reports."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from typing import Annotated

import msgspec

from backend.booklists.reports import PushOutcome
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import BigRowId, Page, matching, named, text
from notifications.broadcasts import PicksMessage
from notifications.models import Delivery, DeliveryStatus, Notice, NoticeKind, PicksPush, PicksPushStatus, StaffMessage
from notifications.services import Preferences, Subscribed


class NoticeOut(msgspec.Struct):
    id: int
    kind: NoticeKind
    title: str
    body: str
    link: str
    """The query the kind's mini-program page opens with, e.g. `booking=7`."""
    created_at: datetime
    read: bool

    @classmethod
    def of(cls, notice: Notice) -> NoticeOut:
        return cls(
            notice.id,
            notice.kind,
            notice.title,
            notice.body,
            notice.link,
            notice.created_at,
            notice.read_at is not None,
        )


NoticePage = Annotated[Page[NoticeOut], named("NoticePage")]


class UnreadOut(msgspec.Struct):
    unread: int


class SubscriptionIn(msgspec.Struct, forbid_unknown_fields=True):
    template_ids: Annotated[list[Annotated[str, text(64, min_length=1)]], msgspec.Meta(max_length=3)]
    """The templates the reader accepted in one requestSubscribeMessage tap (WeChat allows three per tap)."""


class SubscriptionOut(msgspec.Struct):
    accepted: list[str]
    """The templates that now allow one more message each."""
    ignored: list[str]
    """Ids that are not templates of this service (a stale or mistyped id): nothing was recorded for them."""

    @classmethod
    def of(cls, subscribed: Subscribed) -> SubscriptionOut:
        return cls(subscribed.accepted, subscribed.ignored)


class TemplateOut(msgspec.Struct):
    kind: NoticeKind
    template_id: str


TemplatePage = Annotated[Page[TemplateOut], named("TemplatePage")]


class PreferencesIn(msgspec.Struct, forbid_unknown_fields=True):
    muted_kinds: Annotated[list[NoticeKind], msgspec.Meta(max_length=20)] = []
    """Kinds not to push (they still come to the inbox)."""
    quiet_from: Annotated[time, msgspec.Meta(tz=False)] | None = None
    quiet_until: Annotated[time, msgspec.Meta(tz=False)] | None = None
    """Wall-clock times in the network's time zone (China's by default), without an offset. Pushes wait until then;
    both empty: no quiet hours."""

    def chosen(self) -> Preferences:
        return Preferences(frozenset(self.muted_kinds), self.quiet_from, self.quiet_until)


class PreferencesOut(msgspec.Struct):
    muted_kinds: list[NoticeKind]
    quiet_from: time | None
    quiet_until: time | None

    @classmethod
    def of(cls, prefs: Preferences) -> PreferencesOut:
        return cls(sorted(prefs.muted_kinds), prefs.quiet_from, prefs.quiet_until)


IdempotencyKey = Annotated[
    str,
    matching(
        r"[A-Za-z0-9_-]{8,64}",
        "Made by the client for one send (a UUID) and sent again with its retries: a repeat answers with the first "
        "message, sending nothing",
    ),
]

Audience = Annotated[str, matching(r"(?:library|holds|picks):[A-Za-z0-9-]{1,32}|(?:event|booklist):[0-9]{1,9}")]


class AudienceIn(msgspec.Struct, forbid_unknown_fields=True):
    audience: Audience
    """`library:<code>` (readers of that library and below), `holds:<code>` (readers with a hold for pickup
    there), `event:<id>` (readers booked for the event), `booklist:<id>` (a published reading list's audience in
    my libraries; the message opens the list) or `picks:<code>` (readers of that library and below whose personal
    picks are on; each reads the message's words with their own top picks under them, sent by the worker)."""


class AudienceOut(msgspec.Struct):
    audience: str
    recipients: int


class MessageIn(msgspec.Struct, forbid_unknown_fields=True):
    audience: Audience
    title: Annotated[str, text(20, min_length=1)]
    body: Annotated[str, text(200, min_length=1)]
    idempotency_key: IdempotencyKey | None = None
    """Without one, a retried request sends the message again."""


class MessageOut(msgspec.Struct):
    id: int
    audience: str
    title: str
    body: str
    recipients: int
    created_at: datetime

    @classmethod
    def of(cls, m: StaffMessage) -> MessageOut:
        return cls(m.id, m.audience, m.title, m.body, m.recipients, m.created_at)


class ReportOut(msgspec.Struct):
    message: MessageOut
    outcomes: dict[str, int]
    """Deliveries by outcome: `sent`, `pending`, `failed:<code>`, `skipped:<reason>`..."""

    @classmethod
    def of(cls, message: StaffMessage, outcomes: Counter[str]) -> ReportOut:
        return cls(MessageOut.of(message), dict(sorted(outcomes.items())))


class DeliveryOut(msgspec.Struct):
    id: int
    notice_id: int
    kind: NoticeKind
    reader_id: int
    channel: str
    status: DeliveryStatus
    attempts: int
    error_code: str
    error_reason: str
    finished_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            d.id,
            d.notice_id,
            d.notice.kind,
            d.notice.reader_id,
            d.channel,
            d.status,
            d.attempts,
            d.error_code,
            d.error_reason,
            d.finished_at,
        )


DeliveryPage = Annotated[Page[DeliveryOut], named("DeliveryPage")]


class RetryIn(msgspec.Struct, forbid_unknown_fields=True):
    delivery_ids: Annotated[list[BigRowId], msgspec.Meta(min_length=1, max_length=1000)]


class RetryOut(msgspec.Struct):
    queued: int


class PicksPreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code
    """The library of my scope whose readers (it and everything below it) are told."""
    title: Annotated[str, text(20, min_length=1)] | None = None
    body: Annotated[str, text(200, min_length=1)] | None = None
    """My words above each reader's picks; left out, 为你挑选的书 and "<my library>为你挑选了几本书："."""


class PicksPushIn(PicksPreviewIn, forbid_unknown_fields=True, kw_only=True):
    idempotency_key: IdempotencyKey
    """The same for a retry of this push (a double tap, a lost answer): the push is made once, and the retry is
    answered with it."""


class PicksPreviewOut(msgspec.Struct):
    audience: str
    recipients: int
    """Readers expected to be told (a guardian once, with their own picks and each child's)."""
    cards: int
    """Cards whose picks are expected to be named: personal picks on and loans of their own to pick from."""
    skipped: dict[str, int]
    """Cards with personal picks on expected not to be told, by why: `no_loans` (no loan names the card: it never
    borrowed, or its returned loans no longer name it), `no_model` (no model trained yet). A push may skip more:
    `none_available`, a card whose every pick is on loan to it or has no copy left; `switched_off`, a card whose
    personal picks were switched off after the push began."""
    title: str
    body: str
    """The message as a template: each reader reads their own picks where it shows 《书名1》（推荐理由）..., a
    guardian a line per child's card too. No reader's picks are shown here."""
    push: dict[str, str] | None
    """The subscribe message's values as WeChat will show them (cut to its field rules); null when staff messages
    are not pushed (no template configured): the inbox only."""

    @classmethod
    def of(cls, m: PicksMessage) -> PicksPreviewOut:
        return cls(m.audience, m.recipients, m.cards, m.skipped, m.title, m.body, m.push)


class PicksPushOut(msgspec.Struct):
    id: int
    audience: str
    message_id: int
    status: PicksPushStatus
    """`queued`, `running` (the worker tells the readers a batch at a time), `done`, or `failed` (the readers told
    before it failed were told; no others will be)."""
    recipients: int
    """Readers told so far."""
    cards: int
    """Cards whose picks were named so far."""
    skipped: dict[str, int]
    """Cards with personal picks on not told, by why: `no_loans`, `none_available`, `switched_off`, `no_model` (as in
    the preview)."""
    pushed_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, push: PicksPush) -> PicksPushOut:
        return cls(
            push.id,
            push.message.audience,
            push.message_id,
            push.status,
            push.recipients,
            push.cards,
            dict(push.skipped),
            push.pushed_at,
            push.finished_at,
        )


PicksPushPage = Annotated[Page[PicksPushOut], named("PicksPushPage")]


class PicksPushReportOut(msgspec.Struct):
    push: PicksPushOut
    message: MessageOut
    """The message's words as I sent them (each reader's picks are theirs alone)."""
    outcomes: dict[str, int]
    """Deliveries by outcome: `sent`, `pending`, `failed:<code>`, `skipped:<reason>`..."""
    recipients: int
    opened: int
    """Readers told who read the message in their inbox within the window."""
    held: int
    """Readers told who placed a hold on one of the books it named to them within the window (on the card reached or
    their own)."""
    borrowed: int
    """Readers told who borrowed one of the books it named to them within the window (a loan from before the push
    does not count)."""
    acted: int
    """Readers told who did either."""
    window_ends: datetime

    @classmethod
    def of(cls, push: PicksPush, outcomes: Counter[str], outcome: PushOutcome) -> PicksPushReportOut:
        return cls(
            PicksPushOut.of(push),
            MessageOut.of(push.message),
            dict(sorted(outcomes.items())),
            outcome.recipients,
            outcome.opened,
            outcome.held,
            outcome.borrowed,
            outcome.acted,
            outcome.window_ends,
        )
