"""Notices as readers see them in the inbox, their push preferences, and staff messages."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time
from typing import Annotated

import msgspec

from miniprogram_api.schemas import BigRowId, Page, matching, named, text
from notifications.models import Delivery, DeliveryStatus, Notice, NoticeKind, StaffMessage
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

Audience = Annotated[str, matching(r"(?:library|holds):[A-Za-z0-9-]{1,32}|(?:event|booklist):[0-9]{1,9}")]


class AudienceIn(msgspec.Struct, forbid_unknown_fields=True):
    audience: Audience
    """`library:<code>` (readers of that library and below), `holds:<code>` (readers with a hold for pickup
    there), `event:<id>` (readers booked for the event) or `booklist:<id>` (a published reading list's audience in
    my libraries; the message opens the list)."""


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
