"""The evaluation's input files (loans, items, readers as CSV) read into the plain structures the algorithms take."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from recommendations.data import Item, LoanLog, ReaderSegments, days_of

LOAN_COLUMNS = ("reader_id", "item_id", "timestamp")
ITEM_COLUMNS = ("item_id", "title", "author", "class", "year")


class MalformedFile(ValueError):
    """A file that cannot be read as the format says, with the line (1 is the header) and what is wrong."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}, line {line}: {problem}")


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    cells: dict[str, str]


def read_loans(path: Path) -> LoanLog:
    """`reader_id,item_id,timestamp` (a date or an ISO date-time) per line; other columns are ignored."""
    rows: list[tuple[str, str, float]] = []
    for row in _rows(path, required=LOAN_COLUMNS, optional=()):
        reader, item = _key(path, row, "reader_id"), _key(path, row, "item_id")
        rows.append((reader, item, _timestamp(path, row)))
    return LoanLog.from_rows(rows)


def read_items(path: Path) -> dict[str, Item]:
    """`item_id` and any of `title,author,class,year` (each may be empty); other columns are ignored."""
    items: dict[str, Item] = {}
    for row in _rows(path, required=("item_id",), optional=ITEM_COLUMNS[1:]):
        year_text = row.cells.get("year", "").strip()
        try:
            year = int(year_text) if year_text else None
        except ValueError:
            raise MalformedFile(path, row.line, f"year {year_text!r} is not a whole number") from None
        items[_key(path, row, "item_id")] = Item(
            title=row.cells.get("title", "").strip(),
            author=row.cells.get("author", "").strip(),
            classes=row.cells.get("class", "").strip(),
            year=year,
        )
    return items


def read_readers(path: Path) -> ReaderSegments:
    """`reader_id` plus any segment columns (library, age band, district...): each column one segmentation."""
    segments: dict[str, dict[str, str]] = {}
    for row in _rows(path, required=("reader_id",), optional=None):
        segments[_key(path, row, "reader_id")] = {
            column: value.strip() for column, value in row.cells.items() if column != "reader_id" and value.strip()
        }
    return segments


def _rows(path: Path, *, required: Sequence[str], optional: Sequence[str] | None) -> Iterator[_Row]:
    """Rows with the wanted columns only (`optional=None`: every column), checked for shape, numbered by line."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise MalformedFile(path, 0, f"cannot be opened ({exc.strerror})") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip().lower() for name in next(reader, [])]
            missing = [column for column in required if column not in header]
            if missing:
                found = ",".join(header) or "nothing"
                raise MalformedFile(path, 1, f"the header lacks {', '.join(missing)} (found {found})")
            wanted = {
                index: name
                for index, name in enumerate(header)
                if name in required or optional is None or name in optional
            }
            line = reader.line_num
            for cells in reader:
                line, previous = reader.line_num, line
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # a blank line
                if len(cells) != len(header):
                    raise MalformedFile(path, previous + 1, f"{len(cells)} fields where the header has {len(header)}")
                yield _Row(previous + 1, {name: cells[index] for index, name in wanted.items()})
        except csv.Error as exc:
            raise MalformedFile(path, reader.line_num, f"not valid CSV ({exc})") from None
        except UnicodeDecodeError:
            raise MalformedFile(path, reader.line_num + 1, "not UTF-8 text") from None


def _key(path: Path, row: _Row, column: str) -> str:
    value = row.cells[column].strip()
    if not value:
        raise MalformedFile(path, row.line, f"{column} is empty")
    return value


def _timestamp(path: Path, row: _Row) -> float:
    text = row.cells["timestamp"].strip()
    try:
        moment = datetime.fromisoformat(text) if len(text) > 10 else date.fromisoformat(text)
    except ValueError:
        raise MalformedFile(path, row.line, f"timestamp {text!r} is not a date or an ISO date-time") from None
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return days_of(moment)
