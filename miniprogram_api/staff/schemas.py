"""Request and response shapes of the staff side."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.accounts.models import Reader, ReaderType, StaffRole, StaffUser
from backend.network.models import LibraryLevel
from miniprogram_api.network.schemas import Code, Latitude, Longitude, Services, WeeklyHours
from miniprogram_api.schemas import CardNumber, Page, matching, named, text

Username = Annotated[str, matching(r"[A-Za-z0-9_.@-]{3,50}")]
Password = Annotated[str, text(200, min_length=1)]
Text = Annotated[str, text(200)]


class StaffLoginIn(msgspec.Struct):
    username: Annotated[str, text(50, min_length=1)]
    password: Password


class StaffOut(msgspec.Struct):
    id: int
    username: str
    display_name: str
    role: StaffRole
    library_code: str
    active: bool

    @classmethod
    def of(cls, staff: StaffUser) -> StaffOut:
        return cls(staff.id, staff.username, staff.display_name, staff.role, staff.library.code, staff.active)


StaffPage = Annotated[Page[StaffOut], named("StaffPage")]


class StaffIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Annotated[str, text(200)]
    role: StaffRole
    library_code: Code
    display_name: Annotated[str, text(50)] = ""


class CardScanIn(msgspec.Struct):
    """Exactly one of the two."""

    payload: Annotated[str, text(200, min_length=1)] | None = None
    """The reader's virtual card, as scanned from their phone."""
    card_number: CardNumber | None = None


class ScannedReaderOut(msgspec.Struct):
    """Who is at the counter: enough to serve them, nothing more (no phone, no WeChat identity)."""

    reader_id: int
    card_number: str
    reader_type: ReaderType
    name: str
    guardian_card_number: str | None
    home_library_code: str | None

    @classmethod
    def of(cls, reader: Reader) -> ScannedReaderOut:
        return cls(
            reader.id,
            reader.card_number,
            reader.reader_type,
            reader.name,
            reader.guardian.card_number if reader.guardian is not None else None,
            reader.home_library.code if reader.home_library is not None else None,
        )


class LibraryIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Annotated[str, text(100, min_length=1)]
    level: LibraryLevel
    parent_code: Code
    latitude: Latitude
    longitude: Longitude
    address: Text = ""
    phone: Annotated[str, text(30)] = ""
    timezone: Annotated[str, matching(r"[A-Za-z0-9_+/-]{1,40}")] = "Asia/Shanghai"
    opening_hours: WeeklyHours = {}
    services: Services = []


class LibraryPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(100, min_length=1)] | None = None
    address: Text | None = None
    phone: Annotated[str, text(30)] | None = None
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    opening_hours: WeeklyHours | None = None
    services: Services | None = None
    active: bool | None = None
