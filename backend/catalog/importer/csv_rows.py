"""Reading CSV files: a record a row, with the copy the row names."""

from __future__ import annotations

import csv
from collections.abc import Generator
from pathlib import Path

from backend.catalog.errors import ImportFileUnreadable
from backend.catalog.importer.entries import ImportProblem, _Entry, _Item
from backend.catalog.importer.values import _copy, _draft, _isbn, _item_type, _language, _role, _year
from backend.catalog.isbn import pad_isbn10
from backend.catalog.models import ItemType

CSV_COLUMNS = (
    "isbn",
    "title",
    "subtitle",
    "authors",
    "publisher",
    "year",
    "clc",
    "subjects",
    "language",
    "summary",
    "library",
    "barcode",
    "shelf",
    "item_type",
)


def _read_csv(path: Path) -> Generator[_Item, None, None]:
    # surrogateescape: a row that is not UTF-8 is reported by its line instead of ending the import there.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as stream:
        reader = csv.reader(stream)
        header = [name.strip().lower() for name in next(reader, [])]
        if "title" not in header:
            reason = f"the first line must name the columns ({','.join(CSV_COLUMNS)}); 'title' is missing"
            raise ImportFileUnreadable(path=str(path), reason=reason)
        columns = {name: header.index(name) for name in CSV_COLUMNS if name in header}
        line = reader.line_num + 1
        for row in reader:
            position, line = line, reader.line_num + 1
            if not any(value.strip() for value in row):
                continue
            try:
                "".join(row).encode("utf-8")
            except UnicodeEncodeError:
                yield ImportProblem(position, "row skipped: it is not UTF-8 text")
                continue
            values = {name: row[index].strip() if index < len(row) else "" for name, index in columns.items()}
            yield _csv_item(position, values)


def _csv_item(position: int, row: dict[str, str]) -> _Item:
    notes: list[ImportProblem] = []
    authors = []
    for part in row.get("authors", "").split(";"):
        name, _, role = part.partition("|")
        if name.strip():
            authors.append({"name": name.strip(), "role": _role([role]) if role.strip() else "author"})
    raw_isbn = row.get("isbn", "")
    record = _draft(
        # Spreadsheets store ISBN-10s as numbers and drop their leading zeros.
        isbn13=_isbn(position, [pad_isbn10(raw_isbn)], notes) if raw_isbn else None,
        title=row.get("title", ""),
        subtitle=row.get("subtitle", ""),
        authors=authors,
        publisher=row.get("publisher", ""),
        year=_year(row.get("year", "")),
        clc_class=row.get("clc", ""),
        subjects=row.get("subjects", "").split(";"),
        language=_language(row.get("language", "")),
        summary=row.get("summary", ""),
    )
    if not record.title:
        return ImportProblem(position, "row skipped: it has no title")
    copies = []
    library, barcode = row.get("library", ""), row.get("barcode", "")
    if library or barcode:  # a row without either is a record without copies
        item_type = _item_type(row.get("item_type", ""), ItemType.BOOK)
        copies.append(_copy(position, "copy", barcode, library, "", row.get("shelf", ""), item_type))
    return _Entry(position, record, copies, notes)
