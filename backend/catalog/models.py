"""Bibliographic records and the copies the libraries of the network hold of them."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint
from tortoise.models import Model

from backend.accounts.models import StaffUser
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
    IN_DELIVERY = "in_delivery"  # reserved for a reader's delivery order: picked, packed and sent to them


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
    # Lent before it was catalogued (a book bought for a reader): when it comes back it goes to its home library's
    # processing queue, not to holds or a shelf, until staff finish it.
    unprocessed = fields.BooleanField(default=False, db_default=False)
    # What replacing it costs (Koha's replacementprice), when catalogued; a lost copy without one is charged the
    # network's default (money settings).
    price_fen = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "copy"
        indexes = (("record_id", "current_library_id"),)
        constraints = (CheckConstraint(check="price_fen IS NULL OR price_fen >= 0", name="copy_price_not_negative"),)


class ImportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class ImportJob(Model):
    """A catalogue file staff uploaded, imported by the worker; its counts and problems are written batch by batch,
    so they can be read while it runs. Its copies go only to libraries under `library` (the uploader's)."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="catalogue_imports", on_delete=fields.RESTRICT
    )
    staff_id: int
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="catalogue_imports", on_delete=fields.RESTRICT
    )
    library_id: int
    file_name = fields.CharField(max_length=200)
    format = fields.CharField(max_length=10)  # marc, marcxml or csv
    size_bytes = fields.IntField()
    status = fields.CharEnumField(ImportStatus, max_length=10, default=ImportStatus.QUEUED, db_index=True)
    attempts = fields.SmallIntField(default=0)  # runs started: more than one after a worker died or an outage
    records_read = fields.IntField(default=0)  # MARC: records; CSV: rows
    records_total = fields.IntField(null=True)  # when cheap to know (MARC)
    records_created = fields.IntField(default=0)
    records_updated = fields.IntField(default=0)
    copies_created = fields.IntField(default=0)
    copies_updated = fields.IntField(default=0)
    problem_count = fields.IntField(default=0)  # all found, though only the first ones are kept (ImportJobProblem)
    # Why it failed: {"code": ..., "zh": ..., "en": ...}.
    failure: dict[str, str] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField()  # by the service's clock, as the sweep (imports.look_after) reads it
    started_at = fields.DatetimeField(null=True)
    # The run's start, then each batch written: a run silent for long is over (imports.look_after).
    heartbeat_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "import_job"


class ImportJobProblem(Model):
    """Something of an import's file skipped or changed, at a record (MARC) or line (CSV) of the file."""

    id = fields.IntField(primary_key=True)
    job: fields.ForeignKeyRelation[ImportJob] = fields.ForeignKeyField(
        "models.ImportJob", related_name="problems", on_delete=fields.CASCADE
    )
    job_id: int
    position = fields.IntField()
    reason = fields.TextField()

    class Meta:
        table = "import_job_problem"
        indexes = (("job_id", "position", "id"),)


class ImportUploadChunk(Model):
    """A piece of an uploaded file, kept in the database so that any worker machine can read it; dropped once the
    import is over."""

    id = fields.IntField(primary_key=True)
    job: fields.ForeignKeyRelation[ImportJob] = fields.ForeignKeyField(
        "models.ImportJob", related_name="chunks", on_delete=fields.CASCADE
    )
    job_id: int
    sequence = fields.IntField()
    data = fields.BinaryField()

    class Meta:
        table = "import_upload_chunk"
        unique_together = (("job_id", "sequence"),)
