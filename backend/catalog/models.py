"""Bibliographic records and the copies the libraries of the network hold of them."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.network.models import Library


class ItemType(StrEnum):
    BOOK = "book"
    PICTURE_BOOK = "picture_book"
    PERIODICAL = "periodical"
    AUDIOVISUAL = "audiovisual"


class CopyStatus(StrEnum):
    AVAILABLE = "available"
    ON_LOAN = "on_loan"
    IN_TRANSIT = "in_transit"
    ON_HOLD_SHELF = "on_hold_shelf"
    LOST = "lost"
    IN_PROCESSING = "in_processing"
    WITHDRAWN = "withdrawn"


class Record(Model):
    """One title of the union catalogue (联合编目), shared by every library that holds a copy."""

    id = fields.IntField(primary_key=True)
    # ISBN-13 only (ISBN-10s are converted on the way in); unique when present, many records have none.
    isbn13 = fields.CharField(max_length=13, null=True, unique=True)
    title = fields.CharField(max_length=500)
    subtitle = fields.CharField(max_length=500, default="")
    # [{"name": "刘慈欣", "role": "author"}, {"name": "Ken Liu", "role": "translator"}]
    authors: list[dict[str, str]] = fields.JSONField(default=list)
    publisher = fields.CharField(max_length=200, default="")
    year = fields.SmallIntField(null=True, db_index=True)
    clc_class = fields.CharField(max_length=40, default="", db_index=True)  # 中图法 class, e.g. I247.5
    subjects: list[str] = fields.JSONField(default=list)
    language = fields.CharField(max_length=8, default="")  # ISO 639, as catalogued (chi, eng, ...)
    summary = fields.TextField(default="")
    cover_url = fields.CharField(max_length=500, default="")
    audience_min_age = fields.SmallIntField(null=True)  # children's books: the age range they are meant for
    audience_max_age = fields.SmallIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "record"


class Copy(Model):
    """A physical item with a barcode unique across the network. A floating copy stays where it is returned
    (通借通还) instead of travelling home."""

    id = fields.IntField(primary_key=True)
    barcode = fields.CharField(max_length=32, unique=True)
    record: fields.ForeignKeyRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="copies", on_delete=fields.RESTRICT
    )
    record_id: int
    home_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="owned_copies", on_delete=fields.RESTRICT
    )
    home_library_id: int
    current_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="present_copies", on_delete=fields.RESTRICT
    )
    current_library_id: int
    # Where a copy in transit is going: home, or the pickup library of the hold it fills.
    in_transit_to: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="copies_on_their_way", null=True, on_delete=fields.RESTRICT
    )
    in_transit_to_id: int | None
    shelf_location = fields.CharField(max_length=60, default="")  # call number or shelf, as staff write it
    item_type = fields.CharEnumField(ItemType, max_length=20, default=ItemType.BOOK)
    status = fields.CharEnumField(CopyStatus, max_length=20, default=CopyStatus.AVAILABLE, db_index=True)
    floating = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "copy"
        indexes = (("record_id", "current_library_id"),)
