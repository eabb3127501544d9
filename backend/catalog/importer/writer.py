"""Writing the batches: records matched or created, copies by barcode, search rows, one transaction a batch."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
from tortoise import connections, timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend.catalog import search, terms
from backend.catalog.cataloguing import RecordDraft
from backend.catalog.importer.batches import _Batch, _Group, _groups, _Libraries
from backend.catalog.importer.entries import ImportProblem, _CopyDraft
from backend.catalog.models import Copy, CopyStatus, Record


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


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Where an import stands after a batch: its counts so far (as in the summary), and the problems found since the
    previous batch, in the order they were found."""

    read: int  # records (CSV: rows) read from the start of the file
    total: int | None  # records in the file, when it is cheap to know (MARC)
    records_created: int
    records_updated: int
    copies_created: int
    copies_updated: int
    problems: int  # found so far
    new_problems: list[ImportProblem]


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
    def __init__(self, libraries: _Libraries) -> None:
        self._libraries = libraries
        self._totals = _Outcome()
        self._analyze_at = _FIRST_ANALYZE_AT
        self._problems_told = 0  # how many of the problems `progress` has handed out

    def progress(self, read: int, total: int | None) -> ImportProgress:
        """The counts so far, with the problems found since the previous call."""
        totals = self._totals
        new_problems = totals.problems[self._problems_told :]
        self._problems_told = len(totals.problems)
        return ImportProgress(
            read,
            total,
            totals.records_created,
            totals.records_updated,
            totals.copies_created,
            totals.copies_updated,
            len(totals.problems),
            new_problems,
        )

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
            # The lookups of every batch are the same prepared statements; PostgreSQL would keep the plan it chose
            # while the tables were nearly empty (a sequential scan matched against 500 parameters) until autovacuum
            # next analyzes them, while an import grows them by thousands of rows a second.
            await connection.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
            records = await _existing_records(connection, list(groups))
            barcodes = list({draft.barcode for group in groups.values() for draft in group.copies})
            copies = await _existing_copies(connection, barcodes) if barcodes else {}
            # The checks of the foreign keys of the rows COPYed in (three a copy) are the same lookup by primary key
            # every time: planned once, instead of once a row, a fifth of the database's work in an import.
            await connection.execute_script("SET LOCAL plan_cache_mode = force_generic_plan")
            created, changed = await self._write_records(connection, groups, records, outcome)
            stale_holdings = await self._write_copies(groups.values(), copies, connection, outcome)
            # The search rows' statements are planned as the lookups are.
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
            # A file saying again what the copy is changes nothing and needs no leave: a re-upload of last week's
            # export reports only the copies it would move back on paper, or that are now another library's.
            if fields and (refusal := self._libraries.refusal_to_change(copy)) is not None:
                outcome.problems.append(ImportProblem(draft.position, f"{draft.label} skipped: {refusal}"))
                continue
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
    await connections.get("default").execute_script("ANALYZE record, copy")


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
        for row in await connection.execute_query_dict("SELECT id, isbn13 FROM record WHERE isbn13 = ANY($1)", [isbns]):
            matched[("isbn", row["isbn13"])] = row["id"]
    titles = list({key[1] for key in keys if key[0] == "title"})
    if titles:
        wanted = set(keys)
        for row in await connection.execute_query_dict(*without_isbn_by_title(titles)):
            key = _identity(None, row["title"], json.loads(row["authors"]))  # asyncpg returns jsonb as text
            if key in wanted and key not in matched:
                matched[key] = row["id"]
    if not matched:
        return {}
    by_id = {record.id: record for record in await Record.filter(id__in=list(matched.values()))}
    return {key: by_id[record_id] for key, record_id in matched.items()}


async def _existing_copies(connection: BaseDBAsyncClient, barcodes: list[str]) -> dict[str, Copy]:
    """The copies of the database with these barcodes, locked until the batch commits: a checkout or a move at the
    counter waits, so that the status and library they were judged by (refusal_to_change) are still theirs when the
    batch writes (in the order of their ids, as another import's batch locks them: no deadlock between the two)."""
    rows = await connection.execute_query_dict(
        'SELECT id FROM "copy" WHERE barcode = ANY($1) ORDER BY id FOR UPDATE', [barcodes]
    )
    if not rows:
        return {}
    return {copy.barcode: copy for copy in await Copy.filter(id__in=[row["id"] for row in rows])}


def without_isbn_by_title(titles: list[str]) -> tuple[str, list[Any]]:
    """The statement (and its values) that finds the records without an ISBN that have one of these titles, oldest
    first; the partial index of migration 0006 serves it, so an import does not slow down as the catalogue grows."""
    return "SELECT id, title, authors FROM record WHERE isbn13 IS NULL AND title = ANY($1) ORDER BY id", [titles]


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
# by their keys cost more than the inserts. Their ids are taken from the table's sequence first, then the rows are
# COPYed in.
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
    ids = await _copy_in(connection, "record", _RECORD_COLUMNS, rows)
    for group, record_id in zip(groups.values(), ids, strict=True):
        group.record_id = record_id


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
    return await _copy_in(connection, "copy", _COPY_COLUMNS, rows)


async def _copy_in(
    connection: BaseDBAsyncClient, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> list[int]:
    """COPY the rows into the table with ids taken from its sequence; returns them in row order."""
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
