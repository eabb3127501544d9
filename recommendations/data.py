"""What the algorithms learn from, as plain structures: a loan log in arrays, items' descriptions, readers' segments.

The same structures come from the evaluation's CSV files or, in the worker, from PostgreSQL; nothing here reads
either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

_EPOCH = datetime(1970, 1, 1)

Days = float
"""A moment as days since 1970-01-01 (fractional; negative before 1970): the one clock of this package."""

ReaderSegments = Mapping[str, Mapping[str, str]]
"""Per reader key, the reader's segment values by segmentation (`{"library": "TL-03", "age_band": "0-3"}`)."""


@dataclass(frozen=True, slots=True)
class AgeBand:
    """An age band of children's cards, in whole months of age (`backend.accounts.ages.age_in_months`)."""

    name: str
    """The band in years ("3-6", "12+"): the segment value, and what a reason names."""
    from_months: int
    below_months: int | None  # None: no upper end


AGE_BANDS = (
    AgeBand("0-3", 0, 36),  # 低幼
    AgeBand("3-6", 36, 72),
    AgeBand("6-9", 72, 108),
    AgeBand("9-12", 108, 144),
    AgeBand("12+", 144, None),
)


def age_band(months: int) -> AgeBand | None:
    """The band of an age in whole months (None before birth)."""
    for band in AGE_BANDS:
        if band.from_months <= months and (band.below_months is None or months < band.below_months):
            return band
    return None


def days_of(moment: date | datetime) -> Days:
    """A date (its midnight) or a naive date-time as days since 1970-01-01."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return (moment - _EPOCH).total_seconds() / 86400.0


def numbered(ids: npt.NDArray[np.int64], prefix: str = "") -> tuple[tuple[str, ...], npt.NDArray[np.int32]]:
    """Integer ids as keys (`prefix` and the id as text), numbered in the keys' sorted order as `LoanLog.from_rows`
    numbers keys, and each id's number: without a Python string per row, only one per distinct id."""
    distinct, inverse = np.unique(ids, return_inverse=True)
    keys = np.char.add(prefix, distinct.astype(str)) if len(distinct) else np.zeros(0, dtype=str)
    order = np.argsort(keys, kind="stable")
    rank = np.zeros(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return tuple(keys[order].tolist()), rank[inverse.reshape(-1)]


@dataclass(frozen=True, slots=True)
class Item:
    """What is known of a record: any of it may be empty."""

    title: str = ""
    author: str = ""  # one name, or several separated by ";"
    classes: str = ""  # a CLC number or a genre, several separated by ";"
    year: int | None = None

    @classmethod
    def of_record(cls, row: Mapping[str, Any]) -> Item:
        """A catalogue record's row (title, authors, clc_class, year) as the content source reads it."""
        authors = row["authors"]
        if isinstance(authors, str):  # jsonb as text, depending on the driver's codecs
            authors = json.loads(authors)
        names = ";".join(a.get("name", "") for a in authors if isinstance(a, dict))
        return cls(row["title"], names, row["clc_class"], row["year"])


@dataclass(frozen=True, slots=True)
class LoanLog:
    """Loans as three parallel arrays; readers and items are positions in `reader_keys` and `item_keys`.

    Arrays rather than a row object per loan: ten million loans are 160 MB here, several GB as Python objects.
    """

    reader_keys: tuple[str, ...]
    item_keys: tuple[str, ...]
    readers: npt.NDArray[np.int32]
    items: npt.NDArray[np.int32]
    days: npt.NDArray[np.float64]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, Days]]) -> LoanLog:
        """A log of (reader key, item key, day) rows in any order; keys are numbered in sorted order, so the same
        loans always give the same numbering (and ties between items break the same way)."""
        reader_column: list[str] = []
        item_column: list[str] = []
        day_column: list[float] = []
        for reader, item, day in rows:
            reader_column.append(reader)
            item_column.append(item)
            day_column.append(day)
        reader_keys, readers = np.unique(np.array(reader_column, dtype=object), return_inverse=True)
        item_keys, items = np.unique(np.array(item_column, dtype=object), return_inverse=True)
        return cls(
            reader_keys=tuple(str(key) for key in reader_keys),
            item_keys=tuple(str(key) for key in item_keys),
            readers=readers.astype(np.int32).reshape(-1),
            items=items.astype(np.int32).reshape(-1),
            days=np.array(day_column, dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.days)

    def where(self, mask: npt.NDArray[np.bool_]) -> LoanLog:
        """The loans where `mask` holds, keeping the numbering of readers and items."""
        return LoanLog(self.reader_keys, self.item_keys, self.readers[mask], self.items[mask], self.days[mask])

    def between(self, start: Days, end: Days) -> LoanLog:
        """The loans from `start` (included) to `end` (excluded)."""
        return self.where((self.days >= start) & (self.days < end))
