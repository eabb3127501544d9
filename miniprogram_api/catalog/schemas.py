"""Response shapes of the union catalogue."""

from __future__ import annotations

import msgspec

from backend.catalog.models import CopyStatus, ItemType, Record
from backend.catalog.search import Hit, SearchResult
from backend.catalog.services import Holding
from backend.network.models import LibraryLevel


class AuthorOut(msgspec.Struct):
    name: str
    role: str


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
            authors=[AuthorOut(a["name"], a.get("role", "author")) for a in record.authors],
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
            authors=[AuthorOut(a["name"], a.get("role", "author")) for a in r.authors],
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


class SearchOut(msgspec.Struct):
    items: list[RecordSummaryOut]
    total: int
    limit: int
    offset: int
    facets: dict[str, list[FacetValueOut]]

    @classmethod
    def of(cls, result: SearchResult, limit: int, offset: int) -> SearchOut:
        return cls(
            items=[RecordSummaryOut.of(hit) for hit in result.hits],
            total=result.total,
            limit=limit,
            offset=offset,
            facets={name: [FacetValueOut(v, n) for v, n in values] for name, values in result.facets.items()},
        )
