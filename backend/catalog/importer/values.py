"""A record's and a copy's values as the readers of every format clean them: ISBN, ISBD punctuation, names, years."""

from __future__ import annotations

import re
from collections.abc import Iterable

from backend.catalog.barcodes import normalise_barcode
from backend.catalog.cataloguing import RecordDraft
from backend.catalog.errors import InvalidIsbn
from backend.catalog.importer.entries import ImportProblem, _CopyDraft
from backend.catalog.isbn import normalise_isbn
from backend.catalog.models import ItemType

_ISBD_PUNCTUATION = " /:;,.="
# A year is 4 digits that are not part of a longer number: "c2008.", "[2008?]" and "2008.0" give 2008, an ISBN none.
_YEAR = re.compile(r"(?<![0-9])([12][0-9]{3})(?![0-9])")
_LANGUAGE = re.compile(r"[a-z]{3}")
_INITIAL_AT_END = re.compile(r"(?:^|[\s.,])\w\.$")

# Field lengths of Record and Copy: PostgreSQL refuses longer values.
_TITLE_MAX = 500
_PUBLISHER_MAX = 200
_CLC_MAX = 40
_LANGUAGE_MAX = 8
_BARCODE_MAX = 32
_SHELF_MAX = 60


def _draft(
    *,
    isbn13: str | None,
    title: str,
    subtitle: str,
    authors: list[dict[str, str]],
    publisher: str,
    year: int | None,
    clc_class: str,
    subjects: list[str],
    language: str,
    summary: str,
) -> RecordDraft:
    # What the file leaves empty is None: a record found again keeps what the catalogue has.
    return RecordDraft(
        isbn=isbn13,
        title=title[:_TITLE_MAX],
        subtitle=subtitle[:_TITLE_MAX] or None,
        authors=authors or None,
        publisher=publisher[:_PUBLISHER_MAX] or None,
        year=year,
        clc_class=clc_class.replace(" ", "")[:_CLC_MAX] or None,
        subjects=list(dict.fromkeys(s for s in (_isbd(s) for s in subjects) if s)) or None,
        language=language[:_LANGUAGE_MAX] or None,
        summary=summary.strip() or None,
    )


def _copy(position: int, label: str, barcode: str, home: str, current: str, shelf: str, item: ItemType) -> _CopyDraft:
    return _CopyDraft(
        normalise_barcode(barcode), home.strip(), current.strip(), shelf.strip()[:_SHELF_MAX], item, position, label
    )


def _isbn(position: int, values: list[str], notes: list[ImportProblem]) -> str | None:
    """The first valid ISBN among the record's; when none is valid the record is imported without one."""
    first_problem: InvalidIsbn | None = None
    for value in values:
        try:
            return normalise_isbn(value)
        except InvalidIsbn as exc:
            first_problem = first_problem or exc
    if first_problem is not None:
        reason = f"ISBN {values[0]!r} ignored, the record is imported without one: {first_problem.params['reason']}"
        notes.append(ImportProblem(position, reason))
    return None


def _isbd(value: str) -> str:
    """Without the punctuation ISBD puts between the parts of a description ("Title :", "Publisher,")."""
    return value.strip().rstrip(_ISBD_PUNCTUATION).strip()


def _name(value: str) -> str:
    # "Collins, Suzanne," loses its comma, "Rowling, J. K." keeps the full stop of its initial.
    name = value.strip().rstrip(" ,;:/").strip()
    if name.endswith(".") and not _INITIAL_AT_END.search(name):
        name = name[:-1].rstrip()
    return name


def _role(values: Iterable[str]) -> str:
    for value in values:
        word = value.strip().strip(".,;: ").lower()
        if word in ("trl", "730") or word.startswith("transl") or "译" in word:
            return "translator"
    return "author"


def _year(value: str) -> int | None:
    match = _YEAR.search(value)
    return int(match.group(1)) if match else None


def _language(value: str) -> str:
    code = value.strip().lower()[:3]
    return code if _LANGUAGE.fullmatch(code) else ""


# Short codes as library systems name item types (Koha's BK, CR, VM ...), then words found inside longer names.
_ITEM_TYPE_CODES = {
    "bk": ItemType.BOOK,
    "book": ItemType.BOOK,
    "pb": ItemType.PICTURE_BOOK,
    "pic": ItemType.PICTURE_BOOK,
    "cr": ItemType.PERIODICAL,
    "ser": ItemType.PERIODICAL,
    "per": ItemType.PERIODICAL,
    "mag": ItemType.PERIODICAL,
    "av": ItemType.AUDIOVISUAL,
    "vm": ItemType.AUDIOVISUAL,
    "mu": ItemType.AUDIOVISUAL,
    "sr": ItemType.AUDIOVISUAL,
    "cd": ItemType.AUDIOVISUAL,
    "dvd": ItemType.AUDIOVISUAL,
}
_ITEM_TYPE_WORDS = (
    (ItemType.PICTURE_BOOK, ("picture", "绘本", "图画书")),
    (ItemType.PERIODICAL, ("periodical", "serial", "journal", "magazine", "newspaper", "期刊", "杂志", "报纸")),
    (ItemType.AUDIOVISUAL, ("audio", "video", "dvd", "music", "视听", "音像", "光盘", "磁带")),
    (ItemType.BOOK, ("book", "图书", "书")),
)


def _item_type(value: str, default: ItemType) -> ItemType:
    key = value.strip().lower()
    if not key:
        return default
    if key in _ITEM_TYPE_CODES:
        return _ITEM_TYPE_CODES[key]
    if key in ItemType._value2member_map_:
        return ItemType(key)
    for item_type, words in _ITEM_TYPE_WORDS:
        if any(word in key for word in words):
            return item_type
    return default
