"""Loading records and their copies into the union catalogue from MARC (ISO 2709, MARCXML; MARC21, CNMARC) and CSV.

Files are read as a stream and written in batches, one transaction each, so a million-record file needs neither a
million-record memory nor one transaction that a single bad row could roll back. Re-running a file is safe: a
record is found again by its ISBN-13 (without one, by exact title and first author) and a copy by its barcode, and
both are updated instead of duplicated. A large file is read, and its records' words segmented for search, in a
process of its own while this one writes: each has a core.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import gc
import json
import multiprocessing
import queue
import re
import traceback
import xml.sax
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast
from xml.sax.handler import feature_external_ges, feature_namespaces

import asyncpg
import pymarc
from tortoise import connections, timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend.catalog import search, terms
from backend.catalog.cataloguing import RecordDraft
from backend.catalog.errors import ImportFileUnreadable, InvalidIsbn
from backend.catalog.isbn import normalise_isbn, pad_isbn10
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.errors import DomainError
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
class _Entry:
    """One record read from the file, with its copies and the notes (ISBN ignored, copy skipped) about it."""

    position: int
    record: RecordDraft
    copies: list[_CopyDraft]
    notes: list[ImportProblem] = field(default_factory=list)
    key: tuple[str, ...] = field(init=False)  # the record's identity, worked out once

    def __post_init__(self) -> None:
        self.key = self.record.identity()


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

    A large file is read in a process of its own (started with multiprocessing's spawn method): a script calling
    this must keep its top level behind `if __name__ == "__main__":`.
    """
    kind = _format_of(path, format)
    if not await asyncio.to_thread(path.is_file):
        raise ImportFileUnreadable(path=str(path), reason="no such file")
    total = await asyncio.to_thread(_count_iso2709_records, path) if kind == "marc" else None
    libraries = await _Libraries.load()
    size = (await asyncio.to_thread(path.stat)).st_size
    reader = (
        _ReaderProcess(path, kind, libraries) if size >= _READER_PROCESS_MIN_BYTES else _Reader(path, kind, libraries)
    )
    writer = _Writer()
    # What the process holds already lives on (pypinyin's dictionaries above all): set aside for the import, it is not
    # walked again at every full collection of the garbage the batches leave, a third of this process's work.
    gc.freeze()
    try:
        while (read := await reader.next()) is not None:
            batch, documents = read
            await writer.write(batch, documents)
            if progress is not None:
                progress(batch.read, total)
    finally:
        gc.unfreeze()
        await reader.close()
    return writer.summary("line" if kind == "csv" else "record")


# Reading a file (parsing MARC or CSV, segmenting the records' words for search with jieba and pypinyin) costs more
# CPU than writing it, and both need the GIL. From this size on, the start of a process of its own
# (about a second: imports and jieba's dictionary) is repaid: the reading runs on another core, the writing here.
_READER_PROCESS_MIN_BYTES = 256 * 1024
# Batches the reading process may be ahead of the writing: enough to keep both busy, few enough to bound memory.
_BATCHES_AHEAD = 4

# A batch read, and the search tokens of its records (in the order of batch.groups), once segmented.
_Read = tuple["_Batch", "Awaitable[list[terms.SearchDocument]]"]


class _Reader:
    """Reads the file in a thread, a batch ahead of the writing (the thread has the GIL while the database works),
    and segments each batch's words in another."""

    def __init__(self, path: Path, kind: str, libraries: _Libraries) -> None:
        self._items = _READERS[kind](path)
        self._batches = _Batches(self._items, libraries)
        self._ahead: asyncio.Task[_Read | None] | None = None

    async def next(self) -> _Read | None:
        read = await (self._ahead or self._read())
        self._ahead = asyncio.create_task(self._read()) if read is not None else None
        return read

    async def _read(self) -> _Read | None:
        batch = await asyncio.to_thread(self._batches.next)
        if batch is None:
            return None
        return batch, asyncio.ensure_future(asyncio.to_thread(_search_documents, batch))

    async def close(self) -> None:
        if self._ahead is not None:
            await asyncio.wait([self._ahead])  # the thread must be done with the file before it is closed
            if not self._ahead.cancelled():
                self._ahead.exception()  # the writing's error is the one to report
        self._items.close()


class _ReaderProcess:
    """Reads the file, and segments each batch's words, in a process of its own, up to _BATCHES_AHEAD batches ahead
    of the writing."""

    def __init__(self, path: Path, kind: str, libraries: _Libraries) -> None:
        # spawn, not fork: this process has threads (the database driver's, asyncio's) a fork would copy in the
        # middle of whatever they hold.
        context = multiprocessing.get_context("spawn")
        self._queue: multiprocessing.Queue[_Message] = context.Queue(maxsize=_BATCHES_AHEAD)
        self._process = context.Process(
            target=_read_in_process, args=(path, kind, libraries.ids, self._queue), name="shuxiang-import-reader"
        )
        self._process.start()

    async def next(self) -> _Read | None:
        message = await asyncio.to_thread(self._receive)
        if message[0] == "batch":
            batch, documents = message[1], message[2]
            done: asyncio.Future[list[terms.SearchDocument]] = asyncio.get_running_loop().create_future()
            done.set_result(documents)
            return batch, done
        if message[0] == "end":
            return None
        if message[0] == "refused":  # a domain error (the file cannot be read): raised here as it would have been
            raise message[1](**message[2])
        raise RuntimeError(f"reading the file failed:\n{message[1]}")

    def _receive(self) -> _Message:
        while True:
            try:
                return self._queue.get(timeout=1.0)
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(
                        f"the process reading the file ended unexpectedly (exit code {self._process.exitcode})"
                    ) from None

    async def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()  # the writing stopped early: what it read ahead is not wanted
        await asyncio.to_thread(self._process.join)
        self._queue.close()


# What the reading process sends: a batch with its search tokens, the end, a domain error (its class and
# parameters: domain errors are made from keywords, which pickle cannot do), or any other error's traceback.
_Message = (
    tuple[Literal["batch"], "_Batch", list[terms.SearchDocument]]
    | tuple[Literal["end"]]
    | tuple[Literal["refused"], type[DomainError], dict[str, Any]]
    | tuple[Literal["failed"], str]
)


def _read_in_process(path: Path, kind: str, libraries: dict[str, int], out: multiprocessing.Queue[_Message]) -> None:
    """The reading process: the batches of the file, each with its search tokens, then the end."""
    try:
        batches = _Batches(_READERS[kind](path), _Libraries(libraries))
        while (batch := batches.next()) is not None:
            out.put(("batch", batch, _search_documents(batch)))
        out.put(("end",))
    except DomainError as exc:
        out.put(("refused", type(exc), exc.params))
    except BaseException as exc:
        out.put(("failed", "".join(traceback.format_exception(exc))))
    out.close()
    out.join_thread()  # everything put is sent before the process ends


def _search_documents(batch: _Batch) -> list[terms.SearchDocument]:
    """The search tokens of the batch's records, in the order of batch.groups, made from the fields
    backend.catalog.search makes them from."""
    return [
        terms.document_of(
            title=draft.title or "",
            subtitle=draft.subtitle or "",
            authors=[author["name"] for author in draft.authors or []],
            subjects=draft.subjects or [],
            summary=draft.summary or "",
        )
        for draft in (group.draft for group in batch.groups.values())
    ]


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
        self.ids = ids
        self._folded = {code.casefold(): library_id for code, library_id in ids.items()}

    @classmethod
    async def load(cls) -> _Libraries:
        # A network has hundreds of libraries at most: one query, then every code of the file is a dictionary lookup.
        return cls({code: library_id for code, library_id in await Library.all().values_list("code", "id")})

    def id_of(self, code: str) -> int | None:
        found = self.ids.get(code)
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
    groups: dict[tuple[str, ...], _Group] = field(default_factory=dict)


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
            if len(batch.entries) >= BATCH_SIZE and isinstance(item, _Entry) and item.key != batch.entries[-1].key:
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
        batch.groups = _groups(batch.entries)
        return batch if batch.entries or batch.skipped else None


@dataclass(slots=True)
class _Group:
    """The entries of one record within a batch."""

    draft: RecordDraft
    copies: list[_CopyDraft]
    record_id: int | None = None  # once matched or created


def _groups(entries: list[_Entry]) -> dict[tuple[str, ...], _Group]:
    """The entries of each record, their drafts merged in the order of the file."""
    groups: dict[tuple[str, ...], _Group] = {}
    for entry in entries:
        group = groups.get(entry.key)
        if group is None:
            # A copy to merge into: should the batch fail and be retried entry by entry, each still has its own.
            groups[entry.key] = _Group(replace(entry.record), list(entry.copies))
        else:
            group.draft.merge(entry.record)
            group.copies += entry.copies
    return groups


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


class _Writer:
    def __init__(self) -> None:
        self._totals = _Outcome()
        self._analyze_at = _FIRST_ANALYZE_AT

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

    async def write(self, batch: _Batch, documents: Awaitable[list[terms.SearchDocument]]) -> None:
        """Write a batch; `documents` are the search tokens of its records, in the order of batch.groups."""
        self._totals.problems += batch.skipped
        for entry in batch.entries:
            self._totals.problems += entry.notes
        try:
            self._add(await self._write(batch.groups, documents))
        except IntegrityError:
            # Someone else wrote the same ISBN or barcode meanwhile: one by one, the others still get in.
            for entry in batch.entries:
                try:
                    self._add(await self._write(_groups([entry]), None))
                except IntegrityError as exc:
                    reason = f"not imported, the database refused it: {exc}"
                    self._totals.problems.append(ImportProblem(entry.position, reason))
        if self._totals.records_created >= self._analyze_at:
            self._analyze_at *= 2
            await _analyze_records()

    def _add(self, outcome: _Outcome) -> None:
        totals = self._totals
        totals.records_created += outcome.records_created
        totals.records_updated += outcome.records_updated
        totals.copies_created += outcome.copies_created
        totals.copies_updated += outcome.copies_updated
        totals.problems += outcome.problems
        totals.touched_records |= outcome.touched_records
        totals.touched_copies |= outcome.touched_copies

    async def _write(
        self, groups: dict[tuple[str, ...], _Group], documents: Awaitable[list[terms.SearchDocument]] | None
    ) -> _Outcome:
        outcome = _Outcome()
        async with in_transaction() as connection:
            postgres = _is_postgres(connection)
            if postgres:
                # The lookups of every batch are the same prepared statements; PostgreSQL would keep the plan it
                # chose while the tables were nearly empty (a sequential scan matched against 500 parameters)
                # until autovacuum next analyzes them, while an import grows them by thousands of rows a second.
                await connection.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
            records = await _existing_records(connection, list(groups))
            barcodes = list({draft.barcode for group in groups.values() for draft in group.copies})
            copies = await _existing_copies(connection, barcodes) if barcodes else {}
            if postgres:
                # The checks of the foreign keys of the rows COPYed in (three a copy) are the same lookup by primary
                # key every time: planned once, instead of once a row, a fifth of the database's work in an import.
                await connection.execute_script("SET LOCAL plan_cache_mode = force_generic_plan")
            created, changed = await self._write_records(connection, groups, records, outcome)
            stale_holdings = await self._write_copies(groups.values(), copies, connection, outcome)
            if postgres:  # the search rows' statements are planned as the lookups are
                await connection.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
            tokens: dict[int, terms.SearchDocument] = {}
            if documents is not None:
                for group, document in zip(groups.values(), await documents, strict=True):
                    if group.record_id in created:
                        tokens[group.record_id] = document
            await _index(connection, created | changed, tokens)
            # The rows just indexed have their holdings already; the others only have copies added or moved.
            await search.refresh_holdings(sorted(stale_holdings - created - changed), connection)
        return outcome

    async def _write_records(
        self,
        connection: BaseDBAsyncClient,
        groups: dict[tuple[str, ...], _Group],
        existing: dict[tuple[str, ...], Record],
        outcome: _Outcome,
    ) -> tuple[set[int], set[int]]:
        """Create and update the records of the batch, `existing` those found by their identity; returns the ids of
        those created and of those changed."""
        new: dict[tuple[str, ...], _Group] = {}
        changed: list[Record] = []
        changed_fields: set[str] = set()
        for key, group in groups.items():
            record = existing.get(key)
            if record is None:
                new[key] = group
                continue
            group.record_id = record.id
            fields = _apply(group.draft, record)
            if fields:
                changed.append(record)
                changed_fields |= fields
            if record.id not in self._totals.touched_records and record.id not in outcome.touched_records:
                outcome.records_updated += 1
                outcome.touched_records.add(record.id)
        created: set[int] = set()
        if new:
            await _insert_records(connection, new)
            for group in new.values():
                assert group.record_id is not None  # _insert_records gave every new record its id
                created.add(group.record_id)
            outcome.records_created += len(new)
            outcome.touched_records |= created
        if changed:
            now = timezone.now()
            for record in changed:
                record.updated_at = now
            await Record.bulk_update(changed, fields=[*sorted(changed_fields), "updated_at"])
        return created, {record.id for record in changed}

    async def _write_copies(
        self,
        groups: Iterable[_Group],
        existing: dict[str, Copy],
        connection: BaseDBAsyncClient,
        outcome: _Outcome,
    ) -> set[int]:
        """Create and update the copies of the batch, `existing` those found by their barcode; returns the ids of
        the records whose copies on the shelves changed (added, moved between records or libraries, of another
        type)."""
        wanted: dict[str, tuple[_CopyDraft, int]] = {}
        for group in groups:
            assert group.record_id is not None  # _write_records matched or created every group's record
            for draft in group.copies:
                if draft.barcode in wanted:
                    outcome.problems.append(_duplicate_barcode(draft))
                else:
                    wanted[draft.barcode] = (draft, group.record_id)
        new: list[tuple[_CopyDraft, int]] = []
        changed: list[Copy] = []
        changed_fields: set[str] = set()
        stale_holdings: set[int] = set()
        for barcode, (draft, record_id) in wanted.items():
            home, current = draft.home_library_id, draft.current_library_id
            copy = existing.get(barcode)
            if copy is None:
                new.append((draft, record_id))
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
            if fields & _HOLDINGS_FIELDS:
                stale_holdings |= {copy.record_id, record_id}
            for name in fields:
                setattr(copy, name, values[name])
            if fields:
                changed.append(copy)
                changed_fields |= fields
            outcome.copies_updated += 1
            outcome.touched_copies.add(copy.id)
        if new:
            outcome.touched_copies.update(await _insert_copies(connection, new))
            outcome.copies_created += len(new)
            stale_holdings.update(record_id for _, record_id in new)
        if changed:
            now = timezone.now()
            for copy in changed:
                copy.updated_at = now
            await Copy.bulk_update(changed, fields=[*sorted(changed_fields), "updated_at"])
        return stale_holdings


# PostgreSQL plans by the tables' statistics: until it knows how many records have no ISBN, it finds those by title
# by walking them all with the index on isbn13, not with the index made for it, and it misjudges the lookups of a
# record's copies. Autovacuum refreshes them about once a minute at best, while an import doubles a small catalogue
# in seconds: the import refreshes them itself each time the records it created double, from this many (a million
# records: eight times, a few seconds in all).
_FIRST_ANALYZE_AT = 5_000


async def _analyze_records() -> None:
    connection = connections.get("default")
    if _is_postgres(connection):  # SQLite is told which index to use (_without_isbn_by_title)
        await connection.execute_script("ANALYZE record, copy")


# What the search rows keep of a record's copies (backend.catalog.search): which libraries have it, of which types.
_HOLDINGS_FIELDS = frozenset({"record_id", "current_library_id", "item_type"})


async def _index(
    connection: BaseDBAsyncClient, record_ids: set[int], documents: dict[int, terms.SearchDocument]
) -> None:
    """Write the search rows of the records a batch created or changed; `documents` has the search tokens of the
    records created, segmented while earlier batches were written (by the reading process, for a large file)."""
    if record_ids:
        await search.index_records(sorted(record_ids), connection, documents=documents)


def _duplicate_barcode(draft: _CopyDraft) -> ImportProblem:
    reason = f"{draft.label} skipped: barcode {draft.barcode!r} was already given to a copy earlier in this file"
    return ImportProblem(draft.position, reason)


async def _existing_records(
    connection: BaseDBAsyncClient, keys: list[tuple[str, ...]]
) -> dict[tuple[str, ...], Record]:
    """The records of the database with these identities; without an ISBN the oldest with that title and first
    author wins."""
    # Ids first, in plain SQL: a fresh import matches nothing, and models are only made of what matched.
    matched: dict[tuple[str, ...], int] = {}
    isbns = [key[1] for key in keys if key[0] == "isbn"]
    if isbns:
        where, values = _any_of(connection, "isbn13", isbns)
        for row in await connection.execute_query_dict(f"SELECT id, isbn13 FROM record WHERE {where}", values):
            matched[("isbn", row["isbn13"])] = row["id"]
    titles = list({key[1] for key in keys if key[0] == "title"})
    if titles:
        wanted = set(keys)
        for row in await connection.execute_query_dict(*_without_isbn_by_title(connection, titles)):
            key = _identity(None, row["title"], _json_value(row["authors"]))
            if key in wanted and key not in matched:
                matched[key] = row["id"]
    if not matched:
        return {}
    by_id = {record.id: record for record in await Record.filter(id__in=list(matched.values()))}
    return {key: by_id[record_id] for key, record_id in matched.items()}


async def _existing_copies(connection: BaseDBAsyncClient, barcodes: list[str]) -> dict[str, Copy]:
    where, values = _any_of(connection, "barcode", barcodes)
    rows = await connection.execute_query_dict(f'SELECT id FROM "copy" WHERE {where}', values)
    if not rows:
        return {}
    return {copy.barcode: copy for copy in await Copy.filter(id__in=[row["id"] for row in rows])}


def _any_of(connection: BaseDBAsyncClient, column: str, values: list[Any]) -> tuple[str, list[Any]]:
    """`column` equal to one of the values, as a condition and its parameters in the style of the database."""
    if _is_postgres(connection):
        return f"{column} = ANY($1)", [values]
    return f"{column} IN ({', '.join('?' for _ in values)})", list(values)


def _without_isbn_by_title(connection: BaseDBAsyncClient, titles: list[str]) -> tuple[str, list[Any]]:
    """The records without an ISBN that have one of these titles, oldest first, through the partial index of
    migration 0006. SQLite has to be told to use it: it takes `isbn13 IS NULL` for a lookup of the unique index on
    isbn13, one row at most, and would walk every record without an ISBN instead."""
    if _is_postgres(connection):
        return "SELECT id, title, authors FROM record WHERE isbn13 IS NULL AND title = ANY($1) ORDER BY id", [titles]
    sql = (
        'SELECT id, title, authors FROM "record" INDEXED BY record_title_without_isbn '
        f"WHERE isbn13 IS NULL AND title IN ({', '.join('?' for _ in titles)}) ORDER BY id"
    )
    return sql, list(titles)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value  # asyncpg returns jsonb as text, SQLite as well


def _identity(isbn13: str | None, title: str, authors: list[dict[str, str]]) -> tuple[str, ...]:
    return RecordDraft(isbn=isbn13, title=title, authors=authors).identity()


def _apply(draft: RecordDraft, record: Record) -> set[str]:
    """Bring an existing record up to the file's values; what the file leaves empty keeps what the record has."""
    changed = set()
    for name, value in draft.fields().items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed.add(name)
    return changed


# New rows are written without the ORM: its bulk_create cannot say which id each row got, and reading them back
# by their keys cost more than the inserts. PostgreSQL takes its ids from the table's sequence first and COPYs the
# rows in; SQLite returns the ids with INSERT ... RETURNING.
_RECORD_COLUMNS = (
    "isbn13",
    "title",
    "subtitle",
    "authors",
    "publisher",
    "year",
    "clc_class",
    "subjects",
    "language",
    "summary",
    "cover_url",
    "audience_min_age",
    "audience_max_age",
    "created_at",
    "updated_at",
)
_COPY_COLUMNS = (
    "barcode",
    "record_id",
    "home_library_id",
    "current_library_id",
    "shelf_location",
    "item_type",
    "status",
    "floating",
    "created_at",
    "updated_at",
)
_json_text = functools.partial(json.dumps, separators=(",", ":"))  # as the ORM writes its JSON fields
# Rows per INSERT on SQLite: 15 columns of 500 rows stay far below its limit of bound parameters.
_SQLITE_ROWS_PER_INSERT = 500


async def _insert_records(connection: BaseDBAsyncClient, groups: dict[tuple[str, ...], _Group]) -> None:
    """Create the records of these groups (keyed by identity), with the model's defaults for what a draft leaves
    out, and give each group its record's id."""
    now = timezone.now()
    rows = [
        (
            key[1] if key[0] == "isbn" else None,  # the identity has the ISBN-13 already (RecordDraft.fields)
            draft.title or "",
            draft.subtitle or "",
            _json_text(draft.authors) if draft.authors else "[]",
            draft.publisher or "",
            draft.year,
            draft.clc_class or "",
            _json_text(draft.subjects) if draft.subjects else "[]",
            draft.language or "",
            draft.summary or "",
            draft.cover_url or "",
            draft.audience_min_age,
            draft.audience_max_age,
            now,
            now,
        )
        for key, draft in ((key, group.draft) for key, group in groups.items())
    ]
    if _is_postgres(connection):
        ids = await _copy_in(connection, "record", _RECORD_COLUMNS, rows)
        for group, record_id in zip(groups.values(), ids, strict=True):
            group.record_id = record_id
        return
    # SQLite does not promise the RETURNING rows in the order of the VALUES: each says which record it is.
    for row in await _insert_returning(connection, "record", _RECORD_COLUMNS, rows, "id, isbn13, title, authors"):
        groups[_identity(row["isbn13"], row["title"], _json_value(row["authors"]))].record_id = row["id"]


async def _insert_copies(connection: BaseDBAsyncClient, copies: list[tuple[_CopyDraft, int]]) -> list[int]:
    """Create these copies (a draft and its record's id each), available on the shelf; returns their ids."""
    now = timezone.now()
    rows = [
        (
            draft.barcode,
            record_id,
            draft.home_library_id,
            draft.current_library_id if draft.current_library_id is not None else draft.home_library_id,
            draft.shelf_location,
            draft.item_type.value,
            CopyStatus.AVAILABLE.value,
            False,
            now,
            now,
        )
        for draft, record_id in copies
    ]
    if _is_postgres(connection):
        return await _copy_in(connection, "copy", _COPY_COLUMNS, rows)
    ids = {
        row["barcode"]: row["id"]
        for row in await _insert_returning(connection, "copy", _COPY_COLUMNS, rows, "id, barcode")
    }
    return [ids[row[0]] for row in rows]


async def _copy_in(
    connection: BaseDBAsyncClient, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> list[int]:
    """COPY the rows into the table (PostgreSQL) with ids taken from its sequence; returns them in row order."""
    allocated = await connection.execute_query_dict(
        f"SELECT array(SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)) AS ids",
        [len(rows)],
    )
    ids: list[int] = allocated[0]["ids"]
    async with connection.acquire_connection() as raw:
        try:
            await cast(asyncpg.Connection, raw).copy_records_to_table(
                table, records=[(i, *row) for i, row in zip(ids, rows, strict=True)], columns=("id", *columns)
            )
        except asyncpg.IntegrityConstraintViolationError as exc:  # the ORM's exception, as its own inserts raise
            raise IntegrityError(exc) from exc
    return ids


async def _insert_returning(
    connection: BaseDBAsyncClient, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], returning: str
) -> list[dict[str, Any]]:
    """INSERT the rows (SQLite), several to a statement; returns the columns named by `returning` of each."""
    returned: list[dict[str, Any]] = []
    row_placeholders = f"({', '.join('?' for _ in columns)})"
    for start in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
        chunk = rows[start : start + _SQLITE_ROWS_PER_INSERT]
        returned += await connection.execute_query_dict(
            f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES {", ".join([row_placeholders] * len(chunk))} '
            f"RETURNING {returning}",
            [value for row in chunk for value in row],
        )
    return returned


def _is_postgres(connection: BaseDBAsyncClient) -> bool:
    return bool(connection.capabilities.dialect == "postgres")


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
