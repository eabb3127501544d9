"""Notices to readers: the inbox, each notice's deliveries over push channels, the readers' subscribe-message
authorisations, and their preferences; staff messages, and the pushes of readers' own picks they carry."""

from __future__ import annotations

from datetime import time
from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.network.models import Library


class NoticeKind(StrEnum):
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    HOLD_READY = "hold_ready"
    HOLD_EXPIRING = "hold_expiring"
    SEAT_OFFERED = "seat_offered"
    EVENT_REMINDER = "event_reminder"
    EVENT_CHANGED = "event_changed"
    EVENT_CANCELLED = "event_cancelled"
    STAFF_MESSAGE = "staff_message"
    PARCEL_SHIPPED = "parcel_shipped"
    PARCEL_DELIVERED = "parcel_delivered"
    PARCEL_FAILED = "parcel_failed"


class StaffMessage(Model):
    """A message staff sent to an audience. Its notices carry it, for the delivery report."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="messages_sent", null=True, on_delete=fields.SET_NULL
    )
    audience = fields.CharField(max_length=100)  # e.g. "library:TL-A", "event:12", "booklist:3", "picks:TL-A"
    title = fields.CharField(max_length=20)
    body = fields.CharField(max_length=200)
    recipients = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    idempotency_key = fields.CharField(max_length=64, null=True)  # the client's key: a retried send finds this message

    class Meta:
        table = "staff_message"
        unique_together = (("staff", "idempotency_key"),)


class PicksPushStatus(StrEnum):
    QUEUED = "queued"  # recorded with its message, its job queued
    RUNNING = "running"  # the worker tells its readers, a batch at a time (`done_through`)
    DONE = "done"
    FAILED = "failed"  # stopped by a defect: the readers of the batches done were told, no others will be


class PicksPush(Model):
    """A message of each reader's own picks (`picks:<library>`). The cards reached and the records each was pushed are
    kept with it, so its report counts what the push could have caused; the counts are kept here once its window
    closes (none before: counted live). The worker sends it, a batch of readers at a time (`status`)."""

    id = fields.IntField(primary_key=True)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="picks_pushes", on_delete=fields.RESTRICT
    )  # the pusher's library: staff of it and above read the report
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="picks_pushes", null=True, on_delete=fields.SET_NULL
    )
    message: fields.OneToOneRelation[StaffMessage] = fields.OneToOneField(
        "models.StaffMessage", related_name="picks_push", on_delete=fields.CASCADE
    )
    message_id: int
    recipients = fields.IntField()
    cards = fields.IntField()  # a guardian is told of their own card and their children's in one message
    skipped: dict[str, int] = fields.JSONField(default=dict)  # cards not told, by reason (`pushes.Skipped`)
    status = fields.CharEnumField(PicksPushStatus, max_length=10, default=PicksPushStatus.QUEUED)
    done_through = fields.IntField(default=0)
    """The readers told in recipient order: those up to this id are done (a run resumes after it)."""
    started_at = fields.DatetimeField(null=True)  # when its latest run began
    heartbeat_at = fields.DatetimeField(null=True)
    """When its latest run began or last committed a batch: a run silent for long has lost its job
    (`broadcasts.look_after_picks_pushes`)."""
    pushed_at = fields.DatetimeField()  # when staff sent it: its report's window starts then
    finished_at = fields.DatetimeField(null=True)
    settled_at = fields.DatetimeField(null=True)
    opened = fields.IntField(null=True)
    held = fields.IntField(null=True)
    borrowed = fields.IntField(null=True)
    acted = fields.IntField(null=True)

    class Meta:
        table = "picks_push"
        indexes = (("pushed_at", "id"),)


class PicksPushReader(Model):
    """A card a picks push reached, whom it told (the reader, or a child's guardian), the records it named for that
    card, and when either card first borrowed one of them within the report's window (marked at checkout: the loan
    itself forgets its reader at return, unless the reader keeps a reading history). Deleted when the window closes,
    once the counts are kept on the push: they say what a reader was recommended and borrowed."""

    id = fields.BigIntField(primary_key=True)
    push: fields.ForeignKeyRelation[PicksPush] = fields.ForeignKeyField(
        "models.PicksPush", related_name="readers", on_delete=fields.CASCADE
    )
    push_id: int
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="picks_pushes_received", on_delete=fields.CASCADE
    )
    reader_id: int
    recipient: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="picks_pushes_told", on_delete=fields.CASCADE
    )
    recipient_id: int
    record_ids: list[int] = fields.JSONField(default=list)
    borrowed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "picks_push_reader"
        unique_together = (("push", "reader"),)
        indexes = (("reader_id", "borrowed_at"), ("recipient_id", "borrowed_at"))


class Notice(Model):
    """One notice to one reader, in their inbox from the moment it exists. `key` (kind, subject, reader,
    occasion) is unique, so a retried job, a re-run cron or a restarted worker never makes a notice twice."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="notices", on_delete=fields.CASCADE
    )
    reader_id: int
    kind = fields.CharEnumField(NoticeKind, max_length=20)
    key = fields.CharField(max_length=200, unique=True)
    title = fields.CharField(max_length=40)
    body = fields.CharField(max_length=500)
    link = fields.CharField(max_length=200, default="")  # the query its mini-program page opens with: "booking=7"
    # The values a push template may show, by name (e.g. {"title": ..., "due": ...}): channels map them.
    values: dict[str, str] = fields.JSONField(default=dict)
    message: fields.ForeignKeyNullableRelation[StaffMessage] = fields.ForeignKeyField(
        "models.StaffMessage", related_name="notices", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notice"
        indexes = (("reader_id", "read_at", "id"),)


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for the sender, not before `not_before` (quiet hours, a backoff), or claimed
    SENDING = "sending"  # its call to the channel is under way
    SENT = "sent"
    FAILED = "failed"  # permanently, with the reason; staff can retry
    SKIPPED = "skipped"  # not sent on this channel, with the reason (no authorisation, muted, no template)
    INTERRUPTED = "interrupted"  # the sender stopped during the call: it may or may not have arrived


class Delivery(Model):
    """The delivery of a notice over one push channel. Recorded with the notice, claimed before the call and marked
    after it, so a stopped worker leaves nothing unaccounted for."""

    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="deliveries", on_delete=fields.CASCADE
    )
    notice_id: int
    channel = fields.CharField(max_length=30)
    status = fields.CharEnumField(DeliveryStatus, max_length=20, default=DeliveryStatus.PENDING)
    not_before = fields.DatetimeField()
    attempts = fields.SmallIntField(default=0)
    claimed_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    error_code = fields.CharField(max_length=30, default="")
    error_reason = fields.CharField(max_length=200, default="")

    class Meta:
        table = "delivery"
        unique_together = (("notice", "channel"),)
        indexes = (("status", "not_before"),)


class SubscribeGrant(Model):
    """How many messages of a template a reader has authorised (each tap in the requestSubscribeMessage
    dialog of the mini-program allows one). One is spent per message; none left, nothing is sent."""

    id = fields.IntField(primary_key=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="subscribe_grants", on_delete=fields.CASCADE
    )
    reader_id: int
    template_id = fields.CharField(max_length=64)
    remaining = fields.IntField(default=0)

    class Meta:
        table = "subscribe_grant"
        unique_together = (("reader", "template_id"),)


class WallClockField(fields.Field[time]):
    """A time of day on the wall clock, in no time zone (PostgreSQL `time`): quiet hours are 22:00 wherever the
    reader is. Tortoise's TimeField, with time zone support on, would make it `time with time zone`."""

    SQL_TYPE = "TIME"
    field_type = time

    def to_python_value(self, value: time | None) -> time | None:
        return value  # asyncpg reads a `time` column as a time already


class NoticePreferences(Model):
    """What a reader chose: kinds they want no push for (the inbox still has them) and quiet hours."""

    id = fields.IntField(primary_key=True)
    reader: fields.OneToOneRelation[Reader] = fields.OneToOneField(
        "models.Reader", related_name="notice_preferences", on_delete=fields.CASCADE
    )
    reader_id: int
    muted_kinds: list[str] = fields.JSONField(default=list)
    quiet_from = WallClockField(null=True)  # none: no quiet hours
    quiet_until = WallClockField(null=True)

    class Meta:
        table = "notice_preferences"
