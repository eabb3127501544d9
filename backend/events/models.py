"""Library events (活动预约): lectures, parent-child weekends, reading clubs, and the seats readers book for them."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.network.models import Library


class EventCategory(StrEnum):
    LECTURE = "lecture"  # 讲座, e.g. 铜都讲坛
    PARENT_CHILD = "parent_child"  # 亲子活动, e.g. 阳光周末
    SHARED_READING = "shared_reading"  # 共读, e.g. the monthly 月读公社
    SALON = "salon"
    TRAINING = "training"
    PERFORMANCE = "performance"
    EXHIBITION = "exhibition"


class Audience(StrEnum):
    ADULTS = "adults"  # the attendee is an adult card
    CHILDREN = "children"  # the attendee is a child card in the age range, booked by the guardian
    EVERYONE = "everyone"


class EventStatus(StrEnum):
    DRAFT = "draft"  # staff only
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class EventSeries(Model):
    """Events that recur (the monthly club): a reader may hold at most `max_active_bookings` of them at once."""

    id = fields.IntField(primary_key=True)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="event_series", on_delete=fields.RESTRICT
    )
    library_id: int
    name = fields.CharField(max_length=50)
    max_active_bookings = fields.SmallIntField(null=True)

    class Meta:
        table = "event_series"


class Event(Model):
    """An event with `capacity` seats. `seats_taken` counts the seats of confirmed, offered and checked-in
    bookings and `waitlisted` the waiting list; both change only under the event's row lock, with the bookings."""

    id = fields.IntField(primary_key=True)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="events_held", on_delete=fields.RESTRICT
    )
    library_id: int
    series: fields.ForeignKeyNullableRelation[EventSeries] = fields.ForeignKeyField(
        "models.EventSeries", related_name="events", null=True, on_delete=fields.SET_NULL
    )
    series_id: int | None
    title = fields.CharField(max_length=60)
    description = fields.TextField(default="")
    category = fields.CharEnumField(EventCategory, max_length=20)
    online = fields.BooleanField(default=False)
    place = fields.CharField(max_length=100, default="")  # the room, or the meeting link for an online event
    cover_url = fields.CharField(max_length=500, default="")
    starts_at = fields.DatetimeField(db_index=True)
    ends_at = fields.DatetimeField()
    audience = fields.CharEnumField(Audience, max_length=10, default=Audience.EVERYONE)
    min_age_months = fields.SmallIntField(null=True)  # for a child attendee, at the start of the event
    max_age_months = fields.SmallIntField(null=True)  # exclusive
    max_companions = fields.SmallIntField(default=0)  # e.g. 1: a child and one accompanying adult
    capacity = fields.SmallIntField()
    waitlist_limit = fields.SmallIntField()
    seats_taken = fields.SmallIntField(default=0)
    waitlisted = fields.SmallIntField(default=0)
    booking_opens_at = fields.DatetimeField()
    booking_closes_at = fields.DatetimeField()
    cancel_until = fields.DatetimeField()  # a reader cancels freely until then
    status = fields.CharEnumField(EventStatus, max_length=10, default=EventStatus.DRAFT)
    cancel_reason = fields.CharField(max_length=200, default="")
    created_by: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="events_created", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "event"
        indexes = (("status", "starts_at"), ("library_id", "starts_at"))


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    OFFERED = "offered"  # a freed seat is held for this waitlisted reader until the offer expires
    CHECKED_IN = "checked_in"
    CANCELLED = "cancelled"  # by the reader
    DECLINED = "declined"  # an offer the reader turned down
    LAPSED = "lapsed"  # an offer that expired, or a waiting list place when the event began
    NO_SHOW = "no_show"
    EVENT_CANCELLED = "event_cancelled"


ACTIVE_BOOKING = (BookingStatus.CONFIRMED, BookingStatus.WAITLISTED, BookingStatus.OFFERED, BookingStatus.CHECKED_IN)
HOLDS_SEATS = (BookingStatus.CONFIRMED, BookingStatus.OFFERED, BookingStatus.CHECKED_IN)


class Booking(Model):
    """One attendee's booking, with the companions it brings (`seats` in all). The waiting list is in `id` order.
    One active booking per event and attendee: a partial unique index (migration) says so."""

    id = fields.IntField(primary_key=True)
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="bookings", on_delete=fields.CASCADE
    )
    event_id: int
    attendee: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="event_bookings", on_delete=fields.CASCADE
    )
    attendee_id: int
    # The adult who booked: the attendee, or a child attendee's guardian. No-shows count against them.
    booked_by: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="event_bookings_made", on_delete=fields.CASCADE
    )
    booked_by_id: int
    seats = fields.SmallIntField()
    status = fields.CharEnumField(BookingStatus, max_length=20)
    created_at = fields.DatetimeField()
    offer_expires_at = fields.DatetimeField(null=True)
    checked_in_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "booking"
        indexes = (("event_id", "status", "id"), ("booked_by_id", "status"))
