"""Request and response shapes of the library network."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.network import hours
from backend.network.models import Library, LibraryLevel, LibraryService
from miniprogram_api.schemas import Page, matching, matching_param, named, text

Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
CODE_PATTERN = r"[A-Za-z0-9_-]{1,32}"
Code = Annotated[str, matching(CODE_PATTERN)]
# The same, as a path or query parameter: a malformed code is a 400 before any query runs.
LibraryCodeParam = Annotated[str, matching_param(CODE_PATTERN, "A library's network-unique code")]
Interval = Annotated[list[Annotated[str, text(5)]], msgspec.Meta(min_length=2, max_length=2)]
WeeklyHours = Annotated[
    dict[Annotated[str, text(3)], Annotated[list[Interval], msgspec.Meta(max_length=6)]], msgspec.Meta(max_length=7)
]
Services = Annotated[list[LibraryService], msgspec.Meta(max_length=len(LibraryService))]


class LibraryOut(msgspec.Struct):
    code: str
    name: str
    level: LibraryLevel
    parent_code: str | None
    address: str
    phone: str
    latitude: float
    longitude: float
    timezone: str
    services: list[LibraryService]
    opening_hours: hours.WeeklyHours
    open_now: bool
    hours_today: list[list[str]]
    distance_m: int | None = None

    @classmethod
    def of(cls, library: Library, now: datetime, distance_m: float | None = None) -> LibraryOut:
        """`library` comes with its parent loaded (the services select it)."""
        return cls(
            code=library.code,
            name=library.name,
            level=library.level,
            parent_code=library.parent.code if library.parent is not None else None,
            address=library.address,
            phone=library.phone,
            latitude=library.latitude,
            longitude=library.longitude,
            timezone=library.timezone,
            services=library.services,
            opening_hours=library.opening_hours,
            open_now=hours.is_open(library.opening_hours, now, library.timezone),
            hours_today=hours.hours_on(library.opening_hours, now, library.timezone),
            distance_m=None if distance_m is None else round(distance_m),
        )


LibraryPage = Annotated[Page[LibraryOut], named("LibraryPage")]
