"""Credit-based borrowing (信用借还): credit tiers, loan rules, the credit ledger, suspensions and loans."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.catalog.models import Copy, ItemType, Record
from backend.network.models import Library


class ReaderCategory(StrEnum):
    """Who a loan rule is for: adults, children, and little readers (小小读者证, under 6)."""

    ADULT = "adult"
    CHILD = "child"
    LITTLE_READER = "little_reader"


class CreditTier(Model):
    """What readers with a credit score from `min_score` up (to the next tier) may do."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=20, unique=True)
    min_score = fields.IntField(unique=True)
    deposit_free = fields.BooleanField()  # may borrow on credit at all (信用借还), else only with a cash deposit
    self_service = fields.BooleanField()  # may check out alone at a self-service library, else at a counter
    max_loans = fields.SmallIntField()
    max_loan_days = fields.SmallIntField()  # caps the loan rule's period
    max_renewals = fields.SmallIntField()  # caps the loan rule's renewals
    max_holds = fields.SmallIntField()
    delivery = fields.BooleanField()  # may have books delivered (网上点借)

    class Meta:
        table = "credit_tier"
        ordering = ["-min_score"]


class RenewFrom(StrEnum):
    DUE_DATE = "due_date"
    TODAY = "today"


class LoanRule(Model):
    """One loan rule, in the manner of Koha's circulation rules: the value of one term (`terms.TERMS`) for one scope
    (reader category, item type, lending library; empty matches any). Each term of a loan comes from the most
    specific scope that states it (`terms.RuleTable.resolve`); the scope with all three empty is the fallback and
    states every term. One row per scope and term: a unique constraint with NULLS NOT DISTINCT (migration)."""

    id = fields.IntField(primary_key=True)
    reader_category = fields.CharEnumField(ReaderCategory, max_length=20, null=True)
    item_type = fields.CharEnumField(ItemType, max_length=20, null=True)
    library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="loan_rules", null=True, on_delete=fields.CASCADE
    )
    library_id: int | None
    term = fields.CharField(max_length=40)
    # As text, Koha's way: one column for every kind of term. None: the scope no longer states the term (the row
    # stays, so the scope keeps the id of its first row, which staff know it by).
    value = fields.CharField(max_length=40, null=True)

    class Meta:
        table = "loan_rule"


class CreditReason(StrEnum):
    ON_TIME_RETURN = "on_time_return"
    OVERDUE = "overdue"
    LOST_ITEM = "lost_item"
    DAMAGED_ITEM = "damaged_item"
    EVENT_NO_SHOW = "event_no_show"
    STAFF_ADJUSTMENT = "staff_adjustment"


class CreditEvent(Model):
    """One line of a reader's credit ledger (append-only): the score is the starting score plus their sum."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="credit_events", on_delete=fields.CASCADE
    )
    reason = fields.CharEnumField(CreditReason, max_length=20)
    points = fields.SmallIntField()
    note = fields.CharField(max_length=200, default="")  # the staff member's words, for an adjustment
    # What the event is about, unique: the same overdue day of the same loan is never charged twice.
    occasion = fields.CharField(max_length=80, unique=True, null=True)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="credit_events", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "credit_event"
        indexes = (("reader_id", "created_at"),)


class SuspensionKind(StrEnum):
    SUSPENDED = "suspended"  # for a time, e.g. after long overdue items
    BLACKLISTED = "blacklisted"  # until staff lift it


class Suspension(Model):
    """A reader barred from borrowing: the reason they are shown, until when, who set it and at which level.

    Staff lift it only from that level or above."""

    id = fields.IntField(primary_key=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="suspensions", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(SuspensionKind, max_length=20)
    reason = fields.CharField(max_length=200)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField(null=True)  # none: until lifted
    lifted_at = fields.DatetimeField(null=True)
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="suspensions", null=True, on_delete=fields.SET_NULL
    )
    # The scope of whoever set it: their library's path, or "/" (the whole network) for a network admin. A row
    # written without one (older code, psql) is the network's, the level fewest staff can lift.
    scope_path = fields.CharField(max_length=255, db_default="/")

    class Meta:
        table = "suspension"


class Loan(Model):
    """A copy lent to a reader. At most one open loan per copy: a partial unique index (migration) says so. Its terms
    (renewals, overdue charges) are resolved from the rules when they are needed, as Koha does: the reader category,
    the copy's item type and the lending library are their scope."""

    id = fields.BigIntField(primary_key=True)
    copy: fields.ForeignKeyRelation[Copy] = fields.ForeignKeyField(
        "models.Copy", related_name="loans", on_delete=fields.RESTRICT
    )
    copy_id: int
    # Emptied when the loan is closed unless the reader keeps a reading history (PIPL: opt-in), and by the
    # retention job for old loans; the statistics stay.
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="loans", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    reader_category = fields.CharEnumField(ReaderCategory, max_length=20)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="loans_made", on_delete=fields.RESTRICT
    )
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="loans_made", null=True, on_delete=fields.SET_NULL
    )  # none: the reader's own self-service checkout
    checked_out_at = fields.DatetimeField()
    due_at = fields.DatetimeField(db_index=True)
    renewals = fields.SmallIntField(default=0)
    overdue_days_charged = fields.SmallIntField(default=0)  # so the daily job charges only the days since
    returned_at = fields.DatetimeField(null=True)
    return_library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="loans_returned", null=True, on_delete=fields.RESTRICT
    )

    class Meta:
        table = "loan"
        indexes = (("reader_id", "returned_at"),)


class HoldStatus(StrEnum):
    WAITING = "waiting"  # in the queue for the title
    IN_TRANSIT = "in_transit"  # a copy is assigned and on its way to the pickup library
    READY = "ready"  # on the hold shelf at the pickup library, until it expires
    FULFILLED = "fulfilled"  # lent to the reader
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # not collected in time


ACTIVE_HOLD = (HoldStatus.WAITING, HoldStatus.IN_TRANSIT, HoldStatus.READY)


class Hold(Model):
    """A reader's title-level hold (预约), picked up at any library that offers pickup. The queue is first come,
    first served by `placed_at`. One active hold per reader and title, and one active hold per assigned copy:
    partial unique indexes (migration) say so."""

    id = fields.IntField(primary_key=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="holds", on_delete=fields.CASCADE
    )
    reader_id: int
    record: fields.ForeignKeyRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="holds", on_delete=fields.RESTRICT
    )
    record_id: int
    pickup_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="holds_to_pick_up", on_delete=fields.RESTRICT
    )
    pickup_library_id: int
    status = fields.CharEnumField(HoldStatus, max_length=20, default=HoldStatus.WAITING)
    placed_at = fields.DatetimeField()
    suspended_until = fields.DateField(null=True)  # the reader is away: keeps the place, is skipped until then
    copy: fields.ForeignKeyNullableRelation[Copy] = fields.ForeignKeyField(
        "models.Copy", related_name="holds", null=True, on_delete=fields.RESTRICT
    )
    copy_id: int | None
    ready_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)  # the last moment on the hold shelf
    closed_at = fields.DatetimeField(null=True)
    # The loan it ends in runs this long instead of the loan rules' period: books delivered to a service point
    # (from receipt) and bought for the reader online.
    period_days = fields.SmallIntField(null=True)

    class Meta:
        table = "hold"
        indexes = (("record_id", "status", "placed_at"), ("pickup_library_id", "status"))
