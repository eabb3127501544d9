"""Loading records and their copies into the union catalogue from MARC (ISO 2709, MARCXML; MARC21, CNMARC) and CSV.

Files are read as a stream and written in batches, one transaction each, so a million-record file needs neither a
million-record memory nor one transaction that a single bad row could roll back. Re-running a file is safe: a
record is found again by its ISBN-13 (without one, by exact title and first author) and a copy by its barcode, and
both are updated instead of duplicated.
"""

from __future__ import annotations

import asyncio
import csv
import re
import xml.sax
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.sax.handler import feature_external_ges, feature_namespaces

import pymarc
from tortoise import timezone
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend.catalog import search
from backend.catalog.errors import ImportFileUnreadable, InvalidIsbn
from backend.catalog.isbn import normalise_isbn, pad_isbn10
from backend.catalog.models import Copy, ItemType, Record
from backend.network.models import Library

BATCH_SIZE = 500
FORMATS = ("marc", "marcxml", "csv")
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

_EXTENSIONS = {".mrc": "marc", ".marc": "marc", ".iso": "marc", ".xml": "marcxml", ".csv": "csv"}
_READ_SIZE = 1 << 20
_END_OF_RECORD = b"\x1d"
_LEADER_LENGTH = 24
_ISBD_PUNCTUATION = " /:;,.="
# A year is 4 digits that are not part of a longer number: "c2008.", "[2008?]" and "2008.0" give 2008, an ISBN none.
_YEAR = re.compile(r"(?<![0-9])([12][0-9]{3})(?![0-9])")
_LANGUAGE = re.compile(r"[a-z]{3}")
_INITIAL_AT_END = re.compile(r"(?:^|[\s.,])\w\.$")
# A CNMARC 200$f is the statement of responsibility as printed ("刘慈欣著", "曹雪芹, 高鹗著"): the name is what
# precedes the first separator, without the word saying what the person did.
_NAME_SEPARATORS = re.compile(r"[,，、;；]")
_RESPONSIBILITY_WORD = re.compile(r"\s*等?\s*(?:原著|编著|主编|编译|改编|整理|著|编|撰|译|绘)$")

# Field lengths of Record and Copy: PostgreSQL refuses longer values and SQLite would store them, so both get the
# same truncated value.
_TITLE_MAX = 500
_PUBLISHER_MAX = 200
_CLC_MAX = 40
_LANGUAGE_MAX = 8
_BARCODE_MAX = 32
_SHELF_MAX = 60


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Something of the file that was skipped or changed; `position` is the 1-based record number (MARC) or the line
    number (CSV)."""

    position: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did. A record or copy matched to an existing one counts as updated, even when nothing about it
    changed: re-running a file reports everything as updated and creates nothing."""

    records_created: int
    records_updated: int
    copies_created: int
    copies_updated: int
    problems: list[ImportProblem]
    position_name: str = "record"  # what a position counts: "record" (MARC) or "line" (CSV)

    def lines(self) -> list[str]:
        lines = [
            f"records: {self.records_created} created, {self.records_updated} updated",
            f"copies: {self.copies_created} created, {self.copies_updated} updated",
            f"problems: {len(self.problems)}",
        ]
        lines += [f"  {self.position_name} {p.position}: {p.reason}" for p in self.problems]
        return lines


@dataclass(slots=True)
class _CopyDraft:
    barcode: str
    home_library: str
    current_library: str  # "": the file does not say where the copy is now
    shelf_location: str
    item_type: ItemType
    position: int
    label: str  # how the problem report names this copy, e.g. "copy 2 (952)"
    home_library_id: int = 0  # the codes resolved, once checked
    current_library_id: int | None = None


@dataclass(slots=True)
class _RecordDraft:
    isbn13: str | None
    title: str
    subtitle: str = ""
    authors: list[dict[str, str]] = field(default_factory=list)
    publisher: str = ""
    year: int | None = None
    clc_class: str = ""
    subjects: list[str] = field(default_factory=list)
    language: str = ""
    summary: str = ""

    def identity(self) -> tuple[str, ...]:
        if self.isbn13:
            return ("isbn", self.isbn13)
        return ("title", self.title, _first_author(self.authors))

    def merge(self, later: _RecordDraft) -> None:
        """The same record seen again in the file (another CSV row, a duplicate MARC record): what it says wins,
        what it leaves empty does not erase."""
        for name in _RECORD_FIELDS:
            value = getattr(later, name)
            if value not in ("", None, []):
                setattr(self, name, value)


_RECORD_FIELDS = (
    "title",
    "subtitle",
    "authors",
    "publisher",
    "year",
    "clc_class",
    "subjects",
    "language",
    "summary",
)


@dataclass(slots=True)
class _Entry:
    """One record read from the file, with its copies and the notes (ISBN ignored, copy skipped) about it."""

    position: int
    record: _RecordDraft
    copies: list[_CopyDraft]
    notes: list[ImportProblem] = field(default_factory=list)


# A reader yields entries, and problems standing for records it had to skip.
_Item = _Entry | ImportProblem


async def import_records(
    path: Path,
    *,
    format: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportSummary:
    """Import the records and copies of a MARC (ISO 2709 or MARCXML, MARC21 or CNMARC) or CSV file.

    `format` is "marc", "marcxml" or "csv"; None infers it from the extension (.mrc/.marc/.iso, .xml, .csv).
    `progress(done, total)` is called after each batch with the records (CSV: rows) read so far and, when it is
    cheap to know, their total. Records that cannot be read, and copies at unknown libraries or without a barcode,
    are skipped and reported in the summary with their position; everything else is imported.
    """
    kind = _format_of(path, format)
    if not await asyncio.to_thread(path.is_file):
        raise ImportFileUnreadable(path=str(path), reason="no such file")
    total = await asyncio.to_thread(_count_iso2709_records, path) if kind == "marc" else None
    items = _READERS[kind](path)
    writer = _Writer()
    batches = _Batches(items, await _Libraries.load())
    try:
        # Parsing is pure Python: in a thread, so the event loop stays free. Overlapping it with the writing of the
        # previous batch was measured to gain nothing: both sides need the GIL.
        while (batch := await asyncio.to_thread(batches.next)) is not None:
            await writer.write(batch)
            if progress is not None:
                progress(batch.read, total)
    finally:
        items.close()
    return writer.summary("line" if kind == "csv" else "record")


def _format_of(path: Path, format: str | None) -> str:
    if format is None:
        kind = _EXTENSIONS.get(path.suffix.lower())
        if kind is None:
            reason = f"unknown extension {path.suffix!r}; name the format ({', '.join(FORMATS)})"
            raise ImportFileUnreadable(path=str(path), reason=reason)
        return kind
    if format not in FORMATS:
        raise ImportFileUnreadable(path=str(path), reason=f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    return format


class _Libraries:
    """The libraries of the network by code; a code of the file in other letter case still finds its library."""

    def __init__(self, ids: dict[str, int]) -> None:
        self._ids = ids
        self._folded = {code.casefold(): library_id for code, library_id in ids.items()}

    @classmethod
    async def load(cls) -> _Libraries:
        # A network has hundreds of libraries at most: one query, then every code of the file is a dictionary lookup.
        return cls({code: library_id for code, library_id in await Library.all().values_list("code", "id")})

    def id_of(self, code: str) -> int | None:
        found = self._ids.get(code)
        return found if found is not None else self._folded.get(code.casefold())

    def check(self, entry: _Entry) -> None:
        """Drop the copies that cannot be placed, each with a note, in the order of the file."""
        kept = []
        for draft in entry.copies:
            reason = self._problem(draft)
            if reason is None:
                kept.append(draft)
            else:
                entry.notes.append(ImportProblem(draft.position, f"{draft.label} skipped: {reason}"))
        entry.copies = kept

    def _problem(self, draft: _CopyDraft) -> str | None:
        if not draft.barcode:
            return "it has no barcode"
        if len(draft.barcode) > _BARCODE_MAX:
            return f"its barcode {draft.barcode!r} is longer than {_BARCODE_MAX} characters"
        if not draft.home_library:
            return "it names no library"
        for code in (draft.home_library, draft.current_library):
            if code and self.id_of(code) is None:
                return f"library code {code!r} is not a library of the network"
        draft.home_library_id = self.id_of(draft.home_library) or 0
        draft.current_library_id = self.id_of(draft.current_library) if draft.current_library else None
        return None


# --- batching -----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Batch:
    entries: list[_Entry]
    skipped: list[ImportProblem]
    read: int = 0  # entries and skipped records read from the start of the file to the end of this batch


class _Batches:
    """Cuts the stream of entries into batches, never between consecutive entries of one record (CSV rows of its
    copies), so that a record is written, and counted, once."""

    def __init__(self, items: Iterator[_Item], libraries: _Libraries) -> None:
        self._items = items
        self._libraries = libraries
        self._held: _Item | None = None
        self.read = 0

    def next(self) -> _Batch | None:
        batch = _Batch([], [])
        while True:
            item = self._held if self._held is not None else next(self._items, None)
            self._held = None
            if item is None:
                break
            if (
                len(batch.entries) >= BATCH_SIZE
                and isinstance(item, _Entry)
                and item.record.identity() != batch.entries[-1].record.identity()
            ):
                self._held = item
                break
            self.read += 1
            if isinstance(item, _Entry):
                self._libraries.check(item)
                batch.entries.append(item)
            else:
                batch.skipped.append(item)
            if len(batch.skipped) + len(batch.entries) >= 4 * BATCH_SIZE:  # a long run of unreadable records
                break
        batch.read = self.read
        return batch if batch.entries or batch.skipped else None


# --- writing ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    """What one batch did, added to the totals only once its transaction has committed.

    The ids are of the records and copies created or matched: a record seen again later in the file is not counted
    twice, and a barcode seen again is a duplicate within the file, not a copy to move. About 70 bytes an id: tens
    of megabytes for a million, far less than the file.
    """

    records_created: int = 0
    records_updated: int = 0
    copies_created: int = 0
    copies_updated: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    touched_records: set[int] = field(default_factory=set)
    touched_copies: set[int] = field(default_factory=set)


@dataclass(slots=True)
class _Group:
    """The entries of one record within a batch."""

    draft: _RecordDraft
    copies: list[_CopyDraft]
    record_id: int | None = None  # once matched or created


class _Writer:
    def __init__(self) -> None:
        self._totals = _Outcome()

    def summary(self, position_name: str) -> ImportSummary:
        totals = self._totals
        problems = sorted(totals.problems, key=lambda p: p.position)
        return ImportSummary(
            totals.records_created,
            totals.records_updated,
            totals.copies_created,
            totals.copies_updated,
            problems,
            position_name,
        )

    async def write(self, batch: _Batch) -> None:
        self._totals.problems += batch.skipped
        for entry in batch.entries:
            self._totals.problems += entry.notes
        await self._write(batch.entries)

    async def _write(self, entries: list[_Entry]) -> None:
        try:
            async with in_transaction() as connection:
                if connection.capabilities.dialect == "postgres":
                    # The lookups of every batch are the same prepared statements; PostgreSQL would keep the plan it
                    # chose while the tables were nearly empty (a sequential scan matched against 500 parameters)
                    # until autovacuum next analyzes them, while an import grows them by thousands of rows a second.
                    await connection.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
                outcome = await self._write_batch(entries)
        except IntegrityError as exc:
            # Someone else wrote the same ISBN or barcode meanwhile: one by one, the others still get in.
            if len(entries) == 1:
                reason = f"not imported, the database refused it: {exc}"
                self._totals.problems.append(ImportProblem(entries[0].position, reason))
                return
            for entry in entries:
                await self._write([entry])
            return
        totals = self._totals
        totals.records_created += outcome.records_created
        totals.records_updated += outcome.records_updated
        totals.copies_created += outcome.copies_created
        totals.copies_updated += outcome.copies_updated
        totals.problems += outcome.problems
        totals.touched_records |= outcome.touched_records
        totals.touched_copies |= outcome.touched_copies

    async def _write_batch(self, entries: list[_Entry]) -> _Outcome:
        outcome = _Outcome()
        groups: dict[tuple[str, ...], _Group] = {}
        for entry in entries:
            key = entry.record.identity()
            group = groups.get(key)
            if group is None:
                # A copy to merge into: should the batch fail and be retried entry by entry, each still has its own.
                groups[key] = _Group(replace(entry.record), list(entry.copies))
            else:
                group.draft.merge(entry.record)
                group.copies += entry.copies
        to_index = await self._write_records(groups, outcome)
        await self._write_copies(list(groups.values()), outcome)
        await search.index_records(sorted(to_index))
        return outcome

    async def _write_records(self, groups: dict[tuple[str, ...], _Group], outcome: _Outcome) -> set[int]:
        """Match, create and update the records of the batch; returns the ids whose search entry is now stale."""
        existing = await _existing_records(list(groups))
        new: list[Record] = []
        changed: list[Record] = []
        changed_fields: set[str] = set()
        for key, group in groups.items():
            record = existing.get(key)
            if record is None:
                new.append(_new_record(group.draft))
                continue
            group.record_id = record.id
            fields = _apply(group.draft, record)
            if fields:
                changed.append(record)
                changed_fields |= fields
            if record.id not in self._totals.touched_records and record.id not in outcome.touched_records:
                outcome.records_updated += 1
                outcome.touched_records.add(record.id)
        to_index = {record.id for record in changed}
        if new:
            await Record.bulk_create(new)
            # Bulk inserts do not return ids on every database: find the new rows by the keys they were made for.
            created = await _record_ids([key for key, group in groups.items() if group.record_id is None])
            for key, group in groups.items():
                if group.record_id is None:
                    group.record_id = created[key]
                    outcome.records_created += 1
                    outcome.touched_records.add(group.record_id)
                    to_index.add(group.record_id)
        if changed:
            now = timezone.now()
            for record in changed:
                record.updated_at = now
            await Record.bulk_update(changed, fields=[*sorted(changed_fields), "updated_at"])
        return to_index

    async def _write_copies(self, groups: list[_Group], outcome: _Outcome) -> None:
        wanted: dict[str, tuple[_CopyDraft, int]] = {}
        for group in groups:
            assert group.record_id is not None  # _write_records matched or created every group's record
            for draft in group.copies:
                if draft.barcode in wanted:
                    outcome.problems.append(_duplicate_barcode(draft))
                else:
                    wanted[draft.barcode] = (draft, group.record_id)
        if not wanted:
            return
        existing = {copy.barcode: copy for copy in await Copy.filter(barcode__in=list(wanted))}
        new: list[Copy] = []
        changed: list[Copy] = []
        changed_fields: set[str] = set()
        for barcode, (draft, record_id) in wanted.items():
            home, current = draft.home_library_id, draft.current_library_id
            copy = existing.get(barcode)
            if copy is None:
                new.append(
                    Copy(
                        barcode=barcode,
                        record_id=record_id,
                        home_library_id=home,
                        current_library_id=current if current is not None else home,
                        shelf_location=draft.shelf_location,
                        item_type=draft.item_type,
                    )
                )
                continue
            if copy.id in self._totals.touched_copies:
                outcome.problems.append(_duplicate_barcode(draft))
                continue
            # Where a copy is now belongs to circulation (on loan, in transit, floating): only a file that says so
            # moves it. The rest is the catalogue's, and the file is the catalogue.
            values: dict[str, Any] = {"record_id": record_id, "home_library_id": home, "item_type": draft.item_type}
            if current is not None:
                values["current_library_id"] = current
            if draft.shelf_location:
                values["shelf_location"] = draft.shelf_location
            fields = {name for name, value in values.items() if getattr(copy, name) != value}
            for name in fields:
                setattr(copy, name, values[name])
            if fields:
                changed.append(copy)
                changed_fields |= fields
            outcome.copies_updated += 1
            outcome.touched_copies.add(copy.id)
        if new:
            await Copy.bulk_create(new)
            outcome.copies_created += len(new)
            created = Copy.filter(barcode__in=[copy.barcode for copy in new])
            outcome.touched_copies.update(row["id"] for row in await created.values("id"))
        if changed:
            now = timezone.now()
            for copy in changed:
                copy.updated_at = now
            await Copy.bulk_update(changed, fields=[*sorted(changed_fields), "updated_at"])


def _duplicate_barcode(draft: _CopyDraft) -> ImportProblem:
    reason = f"{draft.label} skipped: barcode {draft.barcode!r} was already given to a copy earlier in this file"
    return ImportProblem(draft.position, reason)


async def _existing_records(keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], Record]:
    """The records of the database with these identities; without an ISBN the oldest with that title and first
    author wins."""
    found: dict[tuple[str, ...], Record] = {}
    isbns = [key[1] for key in keys if key[0] == "isbn"]
    if isbns:
        for record in await Record.filter(isbn13__in=isbns):
            found[("isbn", record.isbn13 or "")] = record
    titles = list({key[1] for key in keys if key[0] == "title"})
    if titles:
        wanted = set(keys)
        for record in await Record.filter(isbn13__isnull=True, title__in=titles).order_by("id"):
            key = ("title", record.title, _first_author(record.authors))
            if key in wanted and key not in found:
                found[key] = record
    return found


async def _record_ids(keys: list[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    """The ids of records just created for these identities (the newest of a title and first author)."""
    found: dict[tuple[str, ...], int] = {}
    isbns = [key[1] for key in keys if key[0] == "isbn"]
    if isbns:
        for record_id, isbn13 in await Record.filter(isbn13__in=isbns).values_list("id", "isbn13"):
            found[("isbn", isbn13)] = record_id
    titles = list({key[1] for key in keys if key[0] == "title"})
    if titles:
        wanted = set(keys)
        rows = Record.filter(isbn13__isnull=True, title__in=titles).order_by("id").values_list("id", "title", "authors")
        for record_id, title, authors in await rows:
            key = ("title", title, _first_author(authors))
            if key in wanted:
                found[key] = record_id
    return found


def _new_record(draft: _RecordDraft) -> Record:
    return Record(
        isbn13=draft.isbn13,
        title=draft.title,
        subtitle=draft.subtitle,
        authors=draft.authors,
        publisher=draft.publisher,
        year=draft.year,
        clc_class=draft.clc_class,
        subjects=draft.subjects,
        language=draft.language,
        summary=draft.summary,
    )


def _apply(draft: _RecordDraft, record: Record) -> set[str]:
    """Bring an existing record up to the file's values; an empty value of the file keeps what the record has."""
    changed = set()
    for name in _RECORD_FIELDS:
        value = getattr(draft, name)
        if value not in ("", None, []) and getattr(record, name) != value:
            setattr(record, name, value)
            changed.add(name)
    return changed


def _first_author(authors: list[dict[str, str]]) -> str:
    return authors[0].get("name", "") if authors else ""


# --- ISO 2709 -----------------------------------------------------------------------------------------------------


def _count_iso2709_records(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        while block := stream.read(_READ_SIZE):
            count += block.count(_END_OF_RECORD)
    return count


def _read_iso2709(path: Path) -> Generator[_Item, None, None]:
    """Records split at their end-of-record mark, not by the length their leader declares: a damaged record (bytes
    lost or inserted, a cut leader) then costs that record only, where pymarc's MARCReader stops reading."""
    position = 0
    offset = 0  # of `buffer` in the file
    with path.open("rb") as stream:
        buffer = b""
        while block := stream.read(_READ_SIZE):
            buffer += block
            *chunks, buffer = buffer.split(_END_OF_RECORD)
            for chunk in chunks:
                data = chunk + _END_OF_RECORD
                for start, end in _record_spans(data):
                    position += 1
                    yield from _iso2709_item(position, offset + start, data[start:end])
                offset += len(data)
        if buffer.strip():
            position += 1
            start = offset + len(buffer) - len(buffer.lstrip())
            yield ImportProblem(position, f"at byte {start}: the file ends before the end of this record (truncated)")


def _record_spans(data: bytes) -> list[tuple[int, int]]:
    """The parts of the bytes up to an end-of-record mark that are one record each: usually all of them; a damaged
    record or garbage before a good one is a part of its own."""
    start = len(data) - len(data.lstrip())  # line breaks some tools put between records
    if start == len(data) - 1:
        return []  # nothing but blanks before the mark
    if _declared_length(data, start) == len(data) - start:
        return [(start, len(data))]
    # A record whose declared length ends exactly at this mark, after a damaged one: keep the good one.
    for candidate in range(start + 1, len(data) - _LEADER_LENGTH):
        if _declared_length(data, candidate) == len(data) - candidate:
            return [(start, candidate), (candidate, len(data))]
    return [(start, len(data))]


def _declared_length(data: bytes, start: int) -> int | None:
    head = data[start : start + 5]
    return int(head) if len(head) == 5 and head.isdigit() else None


def _iso2709_item(position: int, offset: int, data: bytes) -> Iterator[_Item]:
    declared = _declared_length(data, 0)
    if declared is None:
        reason = "is not a MARC record (it does not start with a 5-digit record length: a cut leader or stray bytes)"
        yield ImportProblem(position, f"at byte {offset}: {len(data)} bytes skipped: {reason}")
        return
    if declared != len(data):
        reason = f"the leader declares {declared} bytes but the record has {len(data)} (bytes lost or inserted)"
        yield ImportProblem(position, f"at byte {offset}: record skipped: {reason}")
        return
    try:
        marc = pymarc.Record(data, to_unicode=True, **_encoding_of(data))
    except Exception as exc:  # pymarc raises whatever the damage provokes: IndexError, ValueError, its own errors
        yield ImportProblem(position, f"at byte {offset}: record skipped: pymarc cannot parse it ({_describe(exc)})")
        return
    yield from _from_marc(position, marc)


def _encoding_of(data: bytes) -> dict[str, Any]:
    """How to decode the record: leader/09 "a" says UTF-8, but many exports (CNMARC above all) leave it blank."""
    if data[9:10] == b"a":
        return {"force_utf8": True}
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # MARC-8 text with diacritics is almost never valid UTF-8, and ASCII is the same in both.
        return {"force_utf8": True}
    if _is_cnmarc_directory(data):
        return {"file_encoding": "gb18030"}  # what Chinese library systems write when they do not write UTF-8
    return {}  # MARC-8, pymarc's default for MARC21


def _is_cnmarc_directory(data: bytes) -> bool:
    try:
        base = int(data[12:17])
    except ValueError:
        return False
    directory = data[_LEADER_LENGTH : base - 1]
    tags = {directory[i : i + 3] for i in range(0, len(directory), 12)}
    return b"200" in tags and b"245" not in tags


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- MARCXML ------------------------------------------------------------------------------------------------------


class _Collector(pymarc.XmlHandler):
    """Collects the records as they are completed; a record whose elements pymarc cannot take (a datafield
    without a tag, a subfield without a code) is collected as the error instead, and the next one is read."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pymarc's XmlHandler is untyped
        self.parsed: list[pymarc.Record | Exception] = []
        self._broken: Exception | None = None

    def startElementNS(self, name: tuple[str | None, str], qname: str | None, attrs: Any) -> None:
        if name[1] == "record":
            self._broken = None
        if self._broken is None:
            try:
                super().startElementNS(name, qname, attrs)  # type: ignore[no-untyped-call]
            except Exception as exc:  # whatever pymarc raises on the element: KeyError, ValueError...
                self._broken = exc

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        if name[1] == "record" and self._broken is not None:
            self.parsed.append(self._broken)
            self._broken = None
            return
        if self._broken is None:
            try:
                super().endElementNS(name, qname)  # type: ignore[no-untyped-call]
            except Exception as exc:
                self._broken = exc

    def process_record(self, record: pymarc.Record) -> None:
        self.parsed.append(record)


def _read_marcxml(path: Path) -> Generator[_Item, None, None]:
    """pymarc's SAX handler fed block by block: records come out as their closing tag is read."""
    collector = _Collector()
    parser = xml.sax.make_parser()
    parser.setContentHandler(collector)
    parser.setFeature(feature_namespaces, True)
    parser.setFeature(feature_external_ges, False)  # a catalogue file has no business reading other files
    position = 0
    failure: Exception | None = None
    with path.open("rb") as stream:
        while True:
            block = stream.read(_READ_SIZE)
            try:
                if block:
                    parser.feed(block)  # type: ignore[attr-defined]  # expat's reader is incremental
                else:
                    parser.close()  # type: ignore[attr-defined]
            except Exception as exc:  # not well-formed XML, or an element pymarc cannot make a field of
                failure = exc
            for marc in collector.parsed:
                position += 1
                if isinstance(marc, Exception):
                    yield ImportProblem(position, f"record skipped: pymarc cannot read it ({_describe(marc)})")
                else:
                    yield from _from_marc(position, marc)
            collector.parsed.clear()
            if failure is not None:
                reason = f"the XML cannot be read from here on ({_describe(failure)}); the rest of the file is skipped"
                yield ImportProblem(position + 1, reason)
                return
            if not block:
                return


# --- MARC fields --------------------------------------------------------------------------------------------------


def _from_marc(position: int, marc: pymarc.Record) -> Iterator[_Item]:
    cnmarc = _is_cnmarc(marc)
    try:
        entry = _cnmarc_entry(position, marc) if cnmarc else _marc21_entry(position, marc)
    except Exception as exc:  # a record pymarc accepted with fields shaped unlike MARC (missing data, odd tags)
        yield ImportProblem(position, f"record skipped: its fields cannot be read ({_describe(exc)})")
        return
    if not entry.record.title:
        yield ImportProblem(position, f"record skipped: it has no title ({'200$a' if cnmarc else '245$a'} is empty)")
        return
    yield entry


def _is_cnmarc(marc: pymarc.Record) -> bool:
    return not marc.get_fields("245") and any(f.get_subfields("a") for f in marc.get_fields("200"))


def _marc21_entry(position: int, marc: pymarc.Record) -> _Entry:
    notes: list[ImportProblem] = []
    authors = [
        {"name": name, "role": _role(f.get_subfields("e", "4"))}
        for f in marc.get_fields("100", "700")
        if (name := _name(_first(f.get_subfields("a"))))
    ]
    published = sorted(marc.get_fields("260", "264"), key=lambda f: (f.tag == "264" and f.indicator2 != "1", f.tag))
    fixed = _control(marc, "008")
    clc = _first(_subfields(marc, "093", "a")) or _first(
        v for f in marc.get_fields("084") if f.get("2", "").lower().startswith("clc") for v in f.get_subfields("a")
    )
    record = _draft(
        isbn13=_isbn(position, _subfields(marc, "020", "a"), notes),
        title=_isbd(_first(_subfields(marc, "245", "a"))),
        subtitle=_isbd(_first(_subfields(marc, "245", "b"))),
        authors=authors,
        publisher=_isbd(_first(v for f in published for v in f.get_subfields("b"))),
        year=_year(_first(v for f in published for v in f.get_subfields("c"))) or _year(fixed[7:11]),
        clc_class=clc,
        subjects=_subfields(marc, "650", "a"),
        language=_language(_first(_subfields(marc, "041", "a"))) or _language(fixed[35:38]),
        summary="\n".join(_subfields(marc, "520", "a")),
    )
    default_type = _leader_item_type(marc)
    copies: list[_CopyDraft] = []
    for number, f in enumerate(marc.get_fields("952", "852"), start=1):
        label = f"copy {number} ({f.tag})"
        if f.tag == "952":  # Koha: $a home library, $b where it is, $o call number, $c shelving location, $y type
            home, current = _first(f.get_subfields("a")), _first(f.get_subfields("b"))
            shelf = _first(f.get_subfields("o")) or _first(f.get_subfields("c"))
            item_type = _item_type(_first(f.get_subfields("y")), default_type)
        else:  # 852: $b location, $h classification part and $i item part of the call number
            home, current = _first(f.get_subfields("b")), ""
            shelf = " ".join(f.get_subfields("h", "i"))
            item_type = default_type
        barcode = _first(f.get_subfields("p"))
        copies.append(_copy(position, label, barcode, home or current, current, shelf, item_type))
    return _Entry(position, record, copies, notes)


def _cnmarc_entry(position: int, marc: pymarc.Record) -> _Entry:
    notes: list[ImportProblem] = []
    added = [
        {"name": name, "role": "author" if f.tag == "701" else _role(f.get_subfields("4"))}
        for f in marc.get_fields("701", "702")
        if (name := _unimarc_name(f))
    ]
    # 701 is the catalogued main author; 200$f only repeats it as printed, so it stands in when 701 is absent.
    if not marc.get_fields("701"):
        first = _first(_NAME_SEPARATORS.split(_first(_subfields(marc, "200", "f")))[:1])
        name = _RESPONSIBILITY_WORD.sub("", first).strip()
        if name:
            added.insert(0, {"name": name, "role": "author"})
    general = _first(_subfields(marc, "100", "a"))  # 100$a/09-12: the first publication date
    record = _draft(
        isbn13=_isbn(position, _subfields(marc, "010", "a"), notes),
        title=_isbd(_first(_subfields(marc, "200", "a"))),
        subtitle=_isbd(_first(_subfields(marc, "200", "e"))),
        authors=added,
        publisher=_isbd(_first(_subfields(marc, "210", "c") + _subfields(marc, "214", "c"))),
        year=_year(_first(_subfields(marc, "210", "d") + _subfields(marc, "214", "d"))) or _year(general[9:13]),
        clc_class=_first(_subfields(marc, "690", "a")),
        subjects=_subfields(marc, "606", "a"),
        language=_language(_first(_subfields(marc, "101", "a"))),
        summary="\n".join(_subfields(marc, "330", "a")),
    )
    default_type = _leader_item_type(marc)
    copies: list[_CopyDraft] = []
    for number, f in enumerate(marc.get_fields("905"), start=1):
        # $d class number and $e book number make the call number (索书号), written "I247.55/12".
        shelf = "/".join(f.get_subfields("d", "e"))
        label = f"copy {number} (905)"
        barcode = _first(f.get_subfields("b"))
        copies.append(_copy(position, label, barcode, _first(f.get_subfields("a")), "", shelf, default_type))
    return _Entry(position, record, copies, notes)


def _subfields(marc: pymarc.Record, tag: str, code: str) -> list[str]:
    return [value.strip() for f in marc.get_fields(tag) for value in f.get_subfields(code) if value.strip()]


def _control(marc: pymarc.Record, tag: str) -> str:
    fields = marc.get_fields(tag)
    return (fields[0].data or "") if fields else ""


def _first(values: Iterable[str]) -> str:
    return next((value.strip() for value in values if value.strip()), "")


def _unimarc_name(f: pymarc.Field) -> str:
    # $a is the entry element; $b the rest of a Western name ("Liu" + "Ken"); Chinese names are whole in $a.
    surname, forename = _first(f.get_subfields("a")), _first(f.get_subfields("b"))
    return _name(f"{surname}, {forename}" if surname and forename else surname)


# --- values -------------------------------------------------------------------------------------------------------


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
) -> _RecordDraft:
    return _RecordDraft(
        isbn13=isbn13,
        title=title[:_TITLE_MAX],
        subtitle=subtitle[:_TITLE_MAX],
        authors=authors,
        publisher=publisher[:_PUBLISHER_MAX],
        year=year,
        clc_class=clc_class.replace(" ", "")[:_CLC_MAX],
        subjects=list(dict.fromkeys(s for s in (_isbd(s) for s in subjects) if s)),
        language=language[:_LANGUAGE_MAX],
        summary=summary.strip(),
    )


def _copy(position: int, label: str, barcode: str, home: str, current: str, shelf: str, item: ItemType) -> _CopyDraft:
    return _CopyDraft(barcode.strip(), home.strip(), current.strip(), shelf.strip()[:_SHELF_MAX], item, position, label)


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


def _leader_item_type(marc: pymarc.Record) -> ItemType:
    # Leader/06 type of record and /07 bibliographic level mean the same in MARC21 and UNIMARC.
    leader = str(marc.leader)
    if leader[6:7] in ("g", "i", "j"):  # projected medium, sound recordings
        return ItemType.AUDIOVISUAL
    if leader[7:8] == "s":
        return ItemType.PERIODICAL
    return ItemType.BOOK


# --- CSV ----------------------------------------------------------------------------------------------------------


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


_READERS: dict[str, Callable[[Path], Generator[_Item, None, None]]] = {
    "marc": _read_iso2709,
    "marcxml": _read_marcxml,
    "csv": _read_csv,
}
