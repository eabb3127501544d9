"""Response shapes of the union catalogue."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.catalog.cataloguing import RecordDraft
from backend.catalog.clc import MAIN_CLASSES
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.catalog.search import Hit, SearchResult
from backend.catalog.services import Holding
from backend.network.models import LibraryLevel
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import Page, RowId, matching, next_offset, text, web_address

BARCODE_PATTERN = r"[A-Za-z0-9-]{4,32}"
Barcode = Annotated[str, matching(BARCODE_PATTERN)]


class AuthorOut(msgspec.Struct):
    name: str
    role: str


def _authors(record: Record) -> list[AuthorOut]:
    return [AuthorOut(a["name"], a.get("role", "author")) for a in record.authors]


class CopyOut(msgspec.Struct):
    barcode: str
    status: CopyStatus
    item_type: ItemType
    shelf_location: str


class HoldingOut(msgspec.Struct):
    library_code: str
    library_name: str
    library_level: LibraryLevel
    address: str
    distance_m: int | None
    available: int
    copies: list[CopyOut]

    @classmethod
    def of(cls, holding: Holding) -> HoldingOut:
        library = holding.library
        return cls(
            library_code=library.code,
            library_name=library.name,
            library_level=library.level,
            address=library.address,
            distance_m=None if holding.distance_m is None else round(holding.distance_m),
            available=holding.available,
            copies=[CopyOut(c.barcode, c.status, c.item_type, c.shelf_location) for c in holding.copies],
        )


class RecordOut(msgspec.Struct):
    id: int
    isbn13: str | None
    title: str
    subtitle: str
    authors: list[AuthorOut]
    publisher: str
    year: int | None
    clc_class: str
    subjects: list[str]
    language: str
    summary: str
    cover_url: str
    audience_min_age: int | None
    audience_max_age: int | None
    available: int
    """Copies available now, network-wide."""
    holdings: list[HoldingOut]

    @classmethod
    def of(cls, record: Record, holdings: list[Holding]) -> RecordOut:
        return cls(
            id=record.id,
            isbn13=record.isbn13,
            title=record.title,
            subtitle=record.subtitle,
            authors=_authors(record),
            publisher=record.publisher,
            year=record.year,
            clc_class=record.clc_class,
            subjects=record.subjects,
            language=record.language,
            summary=record.summary,
            cover_url=record.cover_url,
            audience_min_age=record.audience_min_age,
            audience_max_age=record.audience_max_age,
            available=sum(h.available for h in holdings),
            holdings=[HoldingOut.of(h) for h in holdings],
        )


class NearestOut(msgspec.Struct):
    library_code: str
    library_name: str
    distance_m: int


class RecordSummaryOut(msgspec.Struct):
    id: int
    isbn13: str | None
    title: str
    authors: list[AuthorOut]
    publisher: str
    year: int | None
    clc_class: str
    language: str
    cover_url: str
    available: int
    """Copies on the shelf now, network-wide."""
    libraries_with_available: int
    nearest_available: NearestOut | None
    """The nearest library with a copy on the shelf, when the reader sent a location."""

    @classmethod
    def of(cls, hit: Hit) -> RecordSummaryOut:
        r = hit.record
        nearest = None
        if hit.nearest_available is not None:
            library, distance = hit.nearest_available
            nearest = NearestOut(library.code, library.name, round(distance))
        return cls(
            id=r.id,
            isbn13=r.isbn13,
            title=r.title,
            authors=_authors(r),
            publisher=r.publisher,
            year=r.year,
            clc_class=r.clc_class,
            language=r.language,
            cover_url=r.cover_url,
            available=hit.available,
            libraries_with_available=hit.libraries_with_available,
            nearest_available=nearest,
        )


class FacetValueOut(msgspec.Struct):
    value: str
    count: int
    label: str | None = None
    """The class name, for the CLC main-class facet."""


class SearchOut(Page[RecordSummaryOut], kw_only=True):
    """A page of the records found, with the facets of every match counted."""

    items: list[RecordSummaryOut]  # stated again: Litestar does not carry a generic base's item type to a subclass
    total_exact: bool
    """False for a broad search with more matches than are counted: show "2000+" and suggest narrowing it."""
    facets: dict[str, list[FacetValueOut]]

    @classmethod
    def of(cls, result: SearchResult, limit: int, offset: int) -> SearchOut:  # type: ignore[override]
        return cls(
            items=[RecordSummaryOut.of(hit) for hit in result.hits],
            total=result.total,
            limit=limit,
            offset=offset,
            next_offset=next_offset(result.total, limit, offset),
            total_exact=result.total_exact,
            facets={
                name: [FacetValueOut(v, n, MAIN_CLASSES.get(v) if name == "clc_class" else None) for v, n in values]
                for name, values in result.facets.items()
            },
        )


class AuthorIn(msgspec.Struct):
    name: Annotated[str, text(100, min_length=1)]
    role: Annotated[str, matching(r"[a-z_]{1,20}")] = "author"


class RecordIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new record needs a title; in a correction, fields left out are not changed and an empty `isbn` removes
    the ISBN."""

    isbn: Annotated[str, text(40)] | None = None
    title: Annotated[str, text(500, min_length=1)] | None = None
    subtitle: Annotated[str, text(500)] | None = None
    authors: Annotated[list[AuthorIn], msgspec.Meta(max_length=20)] | None = None
    publisher: Annotated[str, text(200)] | None = None
    year: Annotated[int, msgspec.Meta(ge=0, le=2100)] | None = None
    clc_class: Annotated[str, matching(r"[A-Za-z0-9.:/()=+-]{0,40}")] | None = None
    subjects: Annotated[list[Annotated[str, text(60, min_length=1)]], msgspec.Meta(max_length=30)] | None = None
    language: Annotated[str, matching(r"[a-z]{0,8}")] | None = None
    summary: Annotated[str, text(5000, multi_line=True)] | None = None
    cover_url: Annotated[str, web_address(500)] | None = None
    audience_min_age: Annotated[int, msgspec.Meta(ge=0, le=18)] | None = None
    audience_max_age: Annotated[int, msgspec.Meta(ge=0, le=18)] | None = None

    def draft(self) -> RecordDraft:
        values = msgspec.structs.asdict(self)
        values["authors"] = None if self.authors is None else [{"name": a.name, "role": a.role} for a in self.authors]
        return RecordDraft(**values)


class CopyIn(msgspec.Struct, forbid_unknown_fields=True):
    record_id: RowId
    barcode: Barcode
    library_code: Code
    shelf_location: Annotated[str, text(60)] = ""
    item_type: ItemType = ItemType.BOOK
    floating: bool = False


class MoveIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code


class StaffCopyOut(msgspec.Struct):
    barcode: str
    record_id: int
    home_library_code: str
    current_library_code: str
    status: CopyStatus
    item_type: ItemType
    shelf_location: str
    floating: bool

    @classmethod
    def of(cls, copy: Copy) -> StaffCopyOut:
        return cls(
            copy.barcode,
            copy.record_id,
            copy.home_library.code,
            copy.current_library.code,
            copy.status,
            copy.item_type,
            copy.shelf_location,
            copy.floating,
        )
