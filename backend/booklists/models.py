"""Curated reading lists (书单): staff content for an audience, the readers who opened one, and its pushes."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.catalog.models import Record
from backend.network.models import Library


class BooklistStatus(StrEnum):
    DRAFT = "draft"  # staff only
    PUBLISHED = "published"  # readers see it; it may be pushed
    RETIRED = "retired"  # gone from readers; kept with its pushes and their reports


class BooklistAudience(StrEnum):
    EVERYONE = "everyone"
    ADULTS = "adults"
    CHILDREN = "children"  # children's cards, optionally of an age band in months


class Booklist(Model):
    """A list staff curate, owned by a library (staff of that library and above edit it), meant for readers of its
    audience libraries and below, of an audience (adults, children of an age band, everyone)."""

    id = fields.IntField(primary_key=True)
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="booklists", on_delete=fields.RESTRICT
    )
    library_id: int
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="booklists", null=True, on_delete=fields.SET_NULL
    )
    title = fields.CharField(max_length=40)
    description = fields.CharField(max_length=1000, default="")
    cover_url = fields.CharField(max_length=500, default="")
    audience = fields.CharEnumField(BooklistAudience, max_length=10, default=BooklistAudience.EVERYONE)
    min_age_months = fields.SmallIntField(null=True)  # children only: from this age (inclusive)
    max_age_months = fields.SmallIntField(null=True)  # children only: under this age
    status = fields.CharEnumField(BooklistStatus, max_length=10, default=BooklistStatus.DRAFT)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    published_at = fields.DatetimeField(null=True)
    retired_at = fields.DatetimeField(null=True)
    opened_earlier = fields.IntField(default=0)  # openings whose rows were purged (`BooklistOpen`): only counted

    class Meta:
        table = "booklist"
        indexes = (("status", "published_at", "id"),)


class BooklistLibrary(Model):
    """A library whose readers (it and everything below it) a list is meant for."""

    id = fields.IntField(primary_key=True)
    booklist: fields.ForeignKeyRelation[Booklist] = fields.ForeignKeyField(
        "models.Booklist", related_name="audience_libraries", on_delete=fields.CASCADE
    )
    booklist_id: int
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="booklist_audiences", on_delete=fields.CASCADE
    )
    library_id: int

    class Meta:
        table = "booklist_library"
        unique_together = (("booklist", "library"),)
        indexes = (("library_id", "booklist_id"),)


class BooklistEntry(Model):
    """A record on a list, at its place, with the curator's note."""

    id = fields.IntField(primary_key=True)
    booklist: fields.ForeignKeyRelation[Booklist] = fields.ForeignKeyField(
        "models.Booklist", related_name="entries", on_delete=fields.CASCADE
    )
    booklist_id: int
    record: fields.ForeignKeyRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="booklist_entries", on_delete=fields.RESTRICT
    )
    record_id: int
    position = fields.SmallIntField()
    note = fields.CharField(max_length=200, default="")

    class Meta:
        table = "booklist_entry"
        unique_together = (("booklist", "record"),)
        indexes = (("booklist_id", "position"),)


class BooklistOpen(Model):
    """A reader opened a list (the first time within the report's window): how far a list reached. Purged once older
    than the window (what a reader opened says what they read), leaving only the count on the list."""

    id = fields.BigIntField(primary_key=True)
    booklist: fields.ForeignKeyRelation[Booklist] = fields.ForeignKeyField(
        "models.Booklist", related_name="opens", on_delete=fields.CASCADE
    )
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="booklist_opens", on_delete=fields.CASCADE
    )
    opened_at = fields.DatetimeField()

    class Meta:
        table = "booklist_open"
        unique_together = (("booklist", "reader"),)


class BooklistPush(Model):
    """A list sent to its audience as a staff message. The cards reached and the records listed are kept as they were
    at the push, so the report counts what the push could have caused, whatever the list or the readers became."""

    id = fields.IntField(primary_key=True)
    booklist: fields.ForeignKeyRelation[Booklist] = fields.ForeignKeyField(
        "models.Booklist", related_name="pushes", on_delete=fields.CASCADE
    )
    booklist_id: int
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="booklist_pushes", on_delete=fields.RESTRICT
    )  # the pusher's library: staff of it and above read the report
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="booklist_pushes", null=True, on_delete=fields.SET_NULL
    )
    message_id = fields.IntField(unique=True)  # the staff message that carried it (notifications' row)
    record_ids: list[int] = fields.JSONField(default=list)
    recipients = fields.IntField()
    pushed_at = fields.DatetimeField()
    # The report, kept when the window has closed and the per-reader rows are deleted (none before: counted live).
    settled_at = fields.DatetimeField(null=True)
    opened = fields.IntField(null=True)
    held = fields.IntField(null=True)
    borrowed = fields.IntField(null=True)
    acted = fields.IntField(null=True)

    class Meta:
        table = "booklist_push"
        indexes = (("booklist_id", "pushed_at", "id"),)


class BooklistPushReader(Model):
    """A card a push was meant for, and who was told (the reader, or a child's guardian). Within the report's window
    after the push: `opened_at`, when the one told first opened the list; `borrowed_at`, when either card first
    borrowed a listed book (marked at checkout: the loan itself forgets its reader at return, unless the reader keeps
    a reading history). Deleted when the window closes, once their counts are kept on the push: they say who borrowed
    what, which a returned loan forgets."""

    id = fields.BigIntField(primary_key=True)
    push: fields.ForeignKeyRelation[BooklistPush] = fields.ForeignKeyField(
        "models.BooklistPush", related_name="readers", on_delete=fields.CASCADE
    )
    push_id: int
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="booklist_pushes_received", on_delete=fields.CASCADE
    )
    reader_id: int
    recipient: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="booklist_pushes_told", on_delete=fields.CASCADE
    )
    recipient_id: int
    opened_at = fields.DatetimeField(null=True)
    borrowed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "booklist_push_reader"
        unique_together = (("push", "reader"),)
        indexes = (("recipient_id", "opened_at"), ("reader_id", "borrowed_at"))
