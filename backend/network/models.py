"""Libraries of the network and the tree they form."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class LibraryLevel(StrEnum):
    CENTRAL = "central"
    MAIN = "main"
    BRANCH = "branch"
    SERVICE_POINT = "service_point"
    SELF_SERVICE = "self_service_24h"
    SWAP_CABINET = "swap_cabinet"


class LibraryService(StrEnum):
    LENDING = "lending"
    RETURNS = "returns"
    HOLDS_PICKUP = "holds_pickup"
    EVENTS = "events"
    SELF_SERVICE = "self_service"


class Library(Model):
    """One place of the network, from the central library down to a street swap cabinet."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=100)
    level = fields.CharEnumField(LibraryLevel, max_length=20, db_index=True)
    parent: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    # Materialised ancestry "/1/4/17/": staff scope is "my library and everything below", one indexed prefix match.
    path = fields.CharField(max_length=255, db_index=True)
    address = fields.CharField(max_length=200, default="")
    phone = fields.CharField(max_length=30, default="")
    latitude = fields.FloatField(db_index=True)
    longitude = fields.FloatField()
    timezone = fields.CharField(max_length=40, default="Asia/Shanghai")
    # {"mon": [["09:00", "17:00"]], ...}; a day missing is a closed day; "24:00" closes at midnight.
    opening_hours: dict[str, list[list[str]]] = fields.JSONField(default=dict)
    # One column per service rather than a JSON list: filters stay plain indexed SQL.
    lending = fields.BooleanField(default=False)
    returns = fields.BooleanField(default=False)
    holds_pickup = fields.BooleanField(default=False)
    events = fields.BooleanField(default=False)
    self_service = fields.BooleanField(default=False)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "library"

    @property
    def services(self) -> list[LibraryService]:
        return [s for s in LibraryService if getattr(self, s.value)]
