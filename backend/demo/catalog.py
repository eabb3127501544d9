"""The demo catalogue: 300 English books (goodbooks-10k, CC BY-SA 4.0) and 108 Chinese ones described for the demo
(see data/ATTRIBUTION.md), with copies on the shelves of the staffed libraries and in every 24-hour library and
swap cabinet of the demo network."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources

from backend.catalog.errors import InvalidIsbn
from backend.catalog.isbn import normalise_isbn, pad_isbn10
from backend.catalog.models import Copy, ItemType, Record
from backend.catalog.search import index_records
from backend.network.models import Library, LibraryLevel

_ENGLISH_BOOKS = "goodbooks_300.csv"
# Columns as in goodbooks_300.csv, plus publisher, clc_class, subjects (space-separated), audience ages, item_type
# and copies: how many staffed libraries hold the title, the central library always among them.
_CHINESE_BOOKS = "chinese_books.csv"
_COPIES_PER_ENGLISH_RECORD = (1, 4)
# Copies are shelved where librarians work; the central library stocks the 24-hour libraries and the swap cabinets
# from the Chinese collection (seed 003).
_SHELVING_LEVELS = (LibraryLevel.CENTRAL, LibraryLevel.MAIN, LibraryLevel.BRANCH)
_UNATTENDED_LEVELS = (LibraryLevel.SELF_SERVICE, LibraryLevel.SWAP_CABINET)
_TITLES_PER_POINT = {LibraryLevel.SELF_SERVICE: (50, 80), LibraryLevel.SWAP_CABINET: (20, 30)}
# Where families with small children go: the county libraries' children's rooms, a primary school, parks, the youth
# palace, the museum. Children's books go there first.
_FAMILY_PLACES = ("小学", "公园", "植物园", "湿地", "青少年宫", "博物馆")
_FAMILY_WEIGHT = 8  # how much likelier a children's title is on the shelf of a family place
_SHELF_LOCATIONS = {
    LibraryLevel.SELF_SERVICE: "自助图书馆书架",
    LibraryLevel.SWAP_CABINET: "漂流书巢",
}


@dataclass(frozen=True, slots=True)
class _Book:
    record: Record
    copies: int | None
    """Staffed libraries holding a copy; None for a random few (the English books)."""
    item_type: ItemType
    shelf_location: str

    @property
    def for_children(self) -> bool:
        return self.record.audience_max_age is not None


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("backend.demo").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _isbn13(raw: str) -> str | None:
    # goodbooks stored ISBN-10 as a number: leading zeros are gone, and a few values are not ISBNs at all.
    try:
        return normalise_isbn(pad_isbn10(raw)) if raw else None
    except InvalidIsbn:
        return None


def _number(raw: str | None) -> int | None:
    return int(raw) if raw else None


def _author(entry: str) -> dict[str, str]:
    """An entry "杨伯峻:annotator" names an annotator; a name alone, an author."""
    name, _, role = entry.partition(":")
    return {"name": name.strip(), "role": role.strip() or "author"}


def _book(row: dict[str, str]) -> _Book:
    record = Record(
        isbn13=_isbn13(row["isbn"]),
        title=row["title"],
        authors=[_author(entry) for entry in row["authors"].split(",") if entry.strip()],
        publisher=row.get("publisher", ""),
        year=_number(row["year"]),
        clc_class=row.get("clc_class", ""),
        subjects=row.get("subjects", "").split(),
        language=row["language"],
        cover_url=row.get("cover_url", ""),
        audience_min_age=_number(row.get("audience_min_age")),
        audience_max_age=_number(row.get("audience_max_age")),
    )
    item_type = ItemType(row.get("item_type") or ItemType.BOOK)
    if "copies" not in row:
        return _Book(record, None, item_type, "外文书库")
    shelf = "绘本区" if item_type is ItemType.PICTURE_BOOK else "少儿书库" if record.audience_max_age else "中文书库"
    return _Book(record, int(row["copies"]), item_type, shelf)


async def seed_catalog(rng: random.Random) -> tuple[int, int]:
    """Load the demo records and their copies (call inside the demo's transaction); returns (records, copies)."""
    drafts = [_book(row) for name in (_ENGLISH_BOOKS, _CHINESE_BOOKS) for row in _rows(name)]
    await Record.bulk_create([book.record for book in drafts])
    saved = await Record.all().order_by("id")  # with their ids, which bulk inserts do not return everywhere
    books = [dataclasses.replace(book, record=record) for book, record in zip(drafts, saved, strict=True)]
    libraries = await Library.filter(level__in=(*_SHELVING_LEVELS, *_UNATTENDED_LEVELS)).order_by("id")
    staffed = [library for library in libraries if library.level in _SHELVING_LEVELS]
    unattended = [library for library in libraries if library.level in _UNATTENDED_LEVELS]
    placements = [
        *_on_the_shelves(books, staffed, rng),
        *_in_unattended_points([book for book in books if book.copies is not None], unattended, rng),
    ]
    await Copy.bulk_create(
        [
            Copy(
                barcode=f"TL{number:08d}",
                record=book.record,
                home_library=library,
                current_library=library,
                shelf_location=_SHELF_LOCATIONS.get(library.level, book.shelf_location),
                item_type=book.item_type,
                # "Take one, leave one": a cabinet's books stay wherever a reader leaves them.
                floating=library.level is LibraryLevel.SWAP_CABINET,
            )
            for number, (book, library) in enumerate(placements, start=1)
        ],
        batch_size=500,
    )
    await index_records([book.record.id for book in books])
    return len(books), len(placements)


def _for_families(library: Library) -> bool:
    return library.level is LibraryLevel.MAIN or any(place in library.name for place in _FAMILY_PLACES)


def _on_the_shelves(
    books: Sequence[_Book], staffed: Sequence[Library], rng: random.Random
) -> Iterator[tuple[_Book, Library]]:
    """English books at a random few staffed libraries; each Chinese one at the central library and as many more as
    it is popular, children's books at family places first."""
    central = next(library for library in staffed if library.level is LibraryLevel.CENTRAL)
    others = [library for library in staffed if library is not central]
    families = [library for library in others if _for_families(library)]
    for book in books:
        if book.copies is None:
            yield from ((book, library) for library in rng.sample(staffed, rng.randint(*_COPIES_PER_ENGLISH_RECORD)))
            continue
        chosen = rng.sample(families, min(len(families), book.copies // 2)) if book.for_children else []
        chosen += rng.sample([library for library in others if library not in chosen], book.copies - 1 - len(chosen))
        yield from ((book, library) for library in (central, *chosen))


def _in_unattended_points(
    books: Sequence[_Book], points: Sequence[Library], rng: random.Random
) -> Iterator[tuple[_Book, Library]]:
    """A shelf of different titles in every 24-hour library and swap cabinet, popular ones likelier (weighted
    sampling without replacement, Efraimidis-Spirakis), children's ones much likelier at family places."""
    for point in points:
        family = _for_families(point)
        weights = [(book.copies or 1) * (_FAMILY_WEIGHT if family and book.for_children else 1) for book in books]
        keys = [rng.random() ** (1 / weight) for weight in weights]
        ranked = sorted(range(len(books)), key=keys.__getitem__, reverse=True)
        yield from ((books[index], point) for index in ranked[: rng.randint(*_TITLES_PER_POINT[point.level])])
