"""The demo catalogue: 300 real books (goodbooks-10k, CC BY-SA 4.0, see data/ATTRIBUTION.md) with copies spread
over the demo network's staffed libraries."""

from __future__ import annotations

import csv
import io
import random
from importlib import resources

from backend.catalog.errors import InvalidIsbn
from backend.catalog.isbn import normalise_isbn, pad_isbn10
from backend.catalog.models import Copy, Record
from backend.catalog.search import index_records
from backend.network.models import Library, LibraryLevel

_BOOKS = "goodbooks_300.csv"
_COPIES_PER_RECORD = (1, 4)
# Copies are shelved where librarians work; self-service kiosks and swap cabinets are stocked by circulation.
_SHELVING_LEVELS = (LibraryLevel.CENTRAL, LibraryLevel.MAIN, LibraryLevel.BRANCH)


def _isbn13(raw: str) -> str | None:
    # The data set stored ISBN-10 as a number: leading zeros are gone, and a few values are not ISBNs at all.
    try:
        return normalise_isbn(pad_isbn10(raw)) if raw else None
    except InvalidIsbn:
        return None


async def seed_catalog(rng: random.Random) -> tuple[int, int]:
    """Load the demo records and their copies (call inside the demo's transaction); returns (records, copies)."""
    text = resources.files("backend.demo").joinpath("data", _BOOKS).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    await Record.bulk_create(
        [
            Record(
                isbn13=_isbn13(row["isbn"]),
                title=row["title"],
                authors=[{"name": name.strip(), "role": "author"} for name in row["authors"].split(",")],
                year=int(row["year"]) if row["year"] else None,
                language=row["language"],
                cover_url=row["cover_url"],
            )
            for row in rows
        ]
    )
    records = await Record.all().order_by("id")  # with their ids, which bulk inserts do not return everywhere
    libraries = await Library.filter(level__in=_SHELVING_LEVELS).order_by("id")
    placements = [
        (record, library) for record in records for library in rng.sample(libraries, rng.randint(*_COPIES_PER_RECORD))
    ]
    await Copy.bulk_create(
        [
            Copy(
                barcode=f"TL{number:08d}",
                record=record,
                home_library=library,
                current_library=library,
                shelf_location="外文书库",
            )
            for number, (record, library) in enumerate(placements, start=1)
        ],
        batch_size=500,
    )
    await index_records([record.id for record in records])
    return len(records), len(placements)
