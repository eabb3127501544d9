"""Catalogue search (统一检索) over every library of the network.

Chinese has no spaces, so words are segmented before indexing (backend/catalog/terms.py) and PostgreSQL gets the
tokens ready-made: its parser never sees raw Chinese. They go into a tsvector with a GIN index (ts_rank, prefix
queries with `:*`). A trigram index (pg_trgm) was the alternative: it needs no segmentation but cannot match
pinyin or initials, ranks poorly on two-character Chinese words, and grows several times larger.

Field weights: a title word counts most, then an author, then pinyin and subjects, then the summary.

A search reads one table, `record_search`: a row per record with the fields it filters and sorts on and the
libraries and item types of its copies on the shelves, kept by index_records and refresh_holdings. Joining records
and copies instead made every search probe the copies of each match, and a browse of a million records take a
second (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from backend.catalog import terms
from backend.catalog.isbn import looks_like_isbn, normalise_isbn
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.network import geo
from backend.network.models import Library
from backend.network.services import get_library, nearest_libraries

# A search looks at no more than this many matches: it counts and facets them and pages through them. Beyond it a
# search says "2,000 or more" instead of counting every match of a two-letter word among a million records, the
# way Evergreen bounds the hits it ranks; a reader narrows the search long before paging that far.
CONSIDERED = 2000
# tsvector weights by field.
_WEIGHTS = {"title": "A", "authors": "B", "pinyin": "C", "subjects": "C", "summary": "D"}
_FIELDS = ("title", "authors", "subjects", "summary", "pinyin")
# "Near me" looks at the libraries within the radius, nearest first; beyond this many the nearest suffice.
MAX_NEARBY_LIBRARIES = 50
# Latin words this short match whole: as prefixes, two letters would match a good part of every English title,
# pinyin syllable and set of initials. Initials are indexed whole, so `st` still finds 三体.
_MIN_PREFIX_LENGTH = 3
_REBUILD_BATCH = 1000


class Sort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str = ""
    author: str = ""
    clc_prefix: str = ""
    year_from: int | None = None
    year_to: int | None = None
    language: str = ""
    item_type: ItemType | None = None
    library_code: str = ""
    audience_age: int | None = None
    available_within_m: float | None = None
    """With latitude and longitude: only records with a copy on the shelf at a library this close."""
    sort: Sort = Sort.RELEVANCE
    limit: int = 20
    offset: int = 0
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    record: Record
    available: int
    libraries_with_available: int
    nearest_available: tuple[Library, float] | None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    total: int
    total_exact: bool = True
    """False when there are more than CONSIDERED matches: total is then CONSIDERED, and the facets count those."""
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


async def index_records(
    record_ids: Sequence[int],
    connection: BaseDBAsyncClient | None = None,
    *,
    documents: Mapping[int, terms.SearchDocument] | None = None,
) -> None:
    """Bring the search rows of these records up to date: after cataloguing or correcting them. `documents` may
    give records' search tokens already made (the importer segments in a process of its own)."""
    if record_ids:
        async with _writing(connection) as conn:
            await _index(conn, sorted(set(record_ids)), documents)


async def refresh_holdings(record_ids: Sequence[int], connection: BaseDBAsyncClient | None = None) -> None:
    """Bring the libraries and item types of these records' search rows up to date: after adding a copy, moving
    it to another library or withdrawing it (a change of status on the shelf does not matter to them)."""
    if record_ids:
        async with _writing(connection) as conn:
            await _refresh_holdings(conn, sorted(set(record_ids)))


async def rebuild_index(connection: BaseDBAsyncClient) -> None:
    """Index every record again, in batches (after a migration that changes the search rows)."""
    rows = await connection.execute_query_dict("SELECT id FROM record ORDER BY id")
    ids = [row["id"] for row in rows]
    for start in range(0, len(ids), _REBUILD_BATCH):
        await _index(connection, ids[start : start + _REBUILD_BATCH])


@contextlib.asynccontextmanager
async def _writing(connection: BaseDBAsyncClient | None) -> AsyncIterator[BaseDBAsyncClient]:
    if connection is not None:
        yield connection
    else:
        async with in_transaction() as conn:
            yield conn


async def _index(
    conn: BaseDBAsyncClient, ids: list[int], documents: Mapping[int, terms.SearchDocument] | None = None
) -> None:
    records = await conn.execute_query_dict(
        "SELECT id, title, subtitle, authors, subjects, summary, year, clc_class, language, audience_min_age, "
        "audience_max_age FROM record WHERE id = ANY($1::int[])",
        [ids],
    )
    given = documents or {}
    tokens = await asyncio.to_thread(  # jieba is CPU-bound
        lambda: [(given.get(r["id"]) or _document(r)).tokens() for r in records]
    )
    rows = [
        [r["id"], r["year"], r["clc_class"], r["language"], r["audience_min_age"], r["audience_max_age"]]
        for r in records
    ]
    columns = "record_id, year, clc_class, language, audience_min_age, audience_max_age, libraries, item_types"
    await _lock_rows(conn, ids)
    holdings = _holdings("r.id")
    changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns.split(", ")[1:])
    # One statement for the batch, the record's fields and its holdings read in it: one write of each row and its
    # indexes, planned once (row by row, the importer's thousands of records a second were planned one by one).
    await conn.execute_query(
        f"INSERT INTO record_search ({columns}, document) "
        "SELECT r.id, r.year, r.clc_class, r.language, r.audience_min_age, r.audience_max_age, "
        f"{holdings['libraries']}, {holdings['item_types']}, d.document::tsvector "
        "FROM unnest($1::int[], $2::text[]) AS d (id, document) JOIN record r ON r.id = d.id "
        f"ON CONFLICT (record_id) DO UPDATE SET {changed}, document = EXCLUDED.document",
        [[row[0] for row in rows], [_tsvector(doc) for doc in tokens]],
    )


def _tsvector(tokens: dict[str, list[str]]) -> str:
    """A tsvector's text: each field's tokens at a position of its own with the field's weight. Positions are
    what carry weights (array_to_tsvector makes lexemes without them, which no weight can mark); tokens are letters
    and digits only (terms.py), so they need no escaping."""
    return " ".join(
        f"'{token}':{position}{_WEIGHTS[name]}"
        for position, name in enumerate(_FIELDS, start=1)
        for token in tokens[name]
    )


async def _refresh_holdings(conn: BaseDBAsyncClient, ids: list[int]) -> None:
    await _lock_rows(conn, ids)
    lists = _holdings("record_search.record_id")
    assignments = ", ".join(f"{column} = {expression}" for column, expression in lists.items())
    await conn.execute_query(f"UPDATE record_search SET {assignments} WHERE record_id = ANY($1::int[])", [ids])


async def _lock_rows(conn: BaseDBAsyncClient, ids: list[int]) -> None:
    # Locking the rows first makes the write, a statement of its own, see the copies as committed by whoever held
    # them: two librarians moving copies of one title at once leave the row as both left the copies.
    await conn.execute_query("SELECT 1 FROM record_search WHERE record_id = ANY($1::int[]) FOR UPDATE", [ids])


def _holdings(record_id: str) -> dict[str, str]:
    """SQL for the libraries and item types of a record's copies on the shelves (all but withdrawn ones)."""
    shelved = f"c.record_id = {record_id} AND c.status <> '{CopyStatus.WITHDRAWN.value}'"
    return {
        column: f"ARRAY(SELECT DISTINCT c.{value} FROM copy c WHERE {shelved} ORDER BY 1)"
        for column, value in (("libraries", "current_library_id"), ("item_types", "item_type"))
    }


def _document(record: dict[str, Any]) -> terms.SearchDocument:
    return terms.document_of(
        title=record["title"],
        subtitle=record["subtitle"],
        authors=[a["name"] for a in _json(record["authors"])],
        subjects=_json(record["subjects"]),
        summary=record["summary"],
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def search(query: SearchQuery) -> SearchResult:
    """Records matching the words (Chinese, English, pinyin or initials; the last word may be unfinished) or the
    ISBN, and the filters; with facet counts over the matches and per-record availability across the network."""
    if looks_like_isbn(query.text):
        records = await Record.filter(isbn13=normalise_isbn(query.text))  # an invalid ISBN is a clear error
        return SearchResult(await _hits(records, query), len(records))
    sql = _Sql()
    library = await get_library(query.library_code) if query.library_code else None
    nearby = None
    if query.available_within_m is not None and query.latitude is not None and query.longitude is not None:
        nearby = [
            lib.id
            for lib, _ in (
                await nearest_libraries(
                    query.latitude, query.longitude, limit=MAX_NEARBY_LIBRARIES, radius_m=query.available_within_m
                )
            )[0]
        ]
    where = sql.where(query, library, nearby)
    if where is None:  # words that cannot match anything, or no library within reach
        return SearchResult([], 0)
    ranked = query.sort is Sort.RELEVANCE and sql.has_text
    # Ranked matches are scored as they are found, up to the limit, then sorted here; any other order is the
    # index's (newest first, then the latest catalogued), so the first CONSIDERED are the right ones.
    order = "" if ranked else "ORDER BY s.year DESC NULLS LAST, s.record_id DESC"
    candidates = (
        f"SELECT s.record_id, s.year, s.clc_class, s.language, {sql.score if ranked else '0'} AS score "
        f"FROM record_search s WHERE {where} {order} LIMIT {CONSIDERED + 1}"
    )
    async with in_transaction() as tx:
        # A prepared statement reused with a generic plan cannot see how many records a year range or a word
        # matches, and once drove a 7 ms search from the wrong index for 3 s.
        await tx.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await tx.execute_query_dict(candidates, sql.values)
    exact = len(rows) <= CONSIDERED
    rows = rows[:CONSIDERED]
    if ranked:
        rows.sort(key=lambda row: (-row["score"], row["record_id"]))
    ids = [row["record_id"] for row in rows[query.offset : query.offset + query.limit]]
    by_id = {r.id: r for r in await Record.filter(id__in=ids)} if ids else {}
    hits = await _hits([by_id[i] for i in ids], query)
    return SearchResult(hits, len(rows), exact, _facets(rows))


def _facets(rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """The CLC main class (its first letter), the language and the decade of the matches, the commonest first."""
    counters: dict[str, Counter[str]] = {"clc_class": Counter(), "language": Counter(), "decade": Counter()}
    for row in rows:
        if row["clc_class"]:
            counters["clc_class"][row["clc_class"][0]] += 1
        if row["language"]:
            counters["language"][row["language"]] += 1
        if row["year"] is not None:
            counters["decade"][str(row["year"] // 10 * 10)] += 1
    return {name: sorted(found.items(), key=lambda item: (-item[1], item[0]))[:20] for name, found in counters.items()}


class _Sql:
    """The WHERE clause of a search over the search rows `s`, with its parameters."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.has_text = False
        self.score = ""

    def param(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"

    def where(self, query: SearchQuery, library: Library | None, nearby: list[int] | None) -> str | None:
        clauses: list[str] = []
        words = terms.query_tokens(query.text)
        author_words = terms.query_tokens(query.author)
        if (query.text.strip() and not words) or (query.author.strip() and not author_words):
            return None
        if words or author_words:
            self.has_text = True
            clauses.append(self._match(words, author_words))
        if query.clc_prefix:
            clauses.append(f"s.clc_class LIKE {self.param(_like_prefix(query.clc_prefix))} ESCAPE '\\'")
        if query.year_from is not None:
            clauses.append(f"s.year >= {self.param(query.year_from)}")
        if query.year_to is not None:
            clauses.append(f"s.year <= {self.param(query.year_to)}")
        if query.language:
            clauses.append(f"s.language = {self.param(query.language)}")
        if query.audience_age is not None:
            age = query.audience_age
            clauses.append(f"s.audience_min_age <= {self.param(age)} AND s.audience_max_age >= {self.param(age)}")
        if query.item_type is not None:
            clauses.append(self._contains("item_types", [query.item_type.value]))
        if library is not None:
            clauses.append(self._contains("libraries", [library.id]))
        if nearby is not None:  # "on the shelf near me": available now, at one of the libraries within reach
            if not nearby:
                return None
            clauses.append(self._contains("libraries", nearby))
            clauses.append(
                f"EXISTS (SELECT 1 FROM copy c WHERE c.record_id = s.record_id "
                f"AND c.status = {self.param(CopyStatus.AVAILABLE.value)} "
                f"AND c.current_library_id IN ({', '.join(self.param(i) for i in nearby)}))"
            )
        # Readers search what the network holds: a record whose copies are all withdrawn is no longer found.
        clauses.append("s.libraries <> '{}'")
        return " AND ".join(clauses)

    def _contains(self, column: str, any_of: list[Any]) -> str:
        """The row's list in `column` holds one of `any_of`."""
        cast = "int[]" if column == "libraries" else "varchar[]"
        return f"s.{column} && {self.param(any_of)}::{cast}"

    def _match(self, words: list[terms.QueryToken], author_words: list[terms.QueryToken]) -> str:
        # Every word must match (AND); Latin words match as prefixes, so "sant" finds 三体 while it is typed.
        parts = [_tsquery_term(w, "") for w in words] + [_tsquery_term(w, "B") for w in author_words]
        tsquery = f"{self.param(' & '.join(parts))}::tsquery"
        self.score = f"ts_rank(s.document, {tsquery})"
        return f"s.document @@ {tsquery}"


def _prefix(word: terms.QueryToken) -> bool:
    return word.latin and len(word.text) >= _MIN_PREFIX_LENGTH


def _tsquery_term(word: terms.QueryToken, weight: str) -> str:
    # Tokens are letters and digits only (terms.py), so quoting cannot be broken out of.
    marks = ("*" if _prefix(word) else "") + weight
    return f"'{word.text}'" + (f":{marks}" if marks else "")


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped.upper()}%"


async def _hits(records: Sequence[Record], query: SearchQuery) -> list[Hit]:
    return await availability(records, query.latitude, query.longitude)


async def availability(records: Sequence[Record], latitude: float | None, longitude: float | None) -> list[Hit]:
    """Availability of each record across the network, and the nearest library with a copy on the shelf (given the
    reader's position): what a search result shows of each record, for any list of records."""
    available = (
        await Copy.filter(record_id__in=[r.id for r in records], status=CopyStatus.AVAILABLE)
        .select_related("current_library")
        .all()
    )
    by_record: dict[int, list[Library]] = {}
    for copy in available:
        by_record.setdefault(copy.record_id, []).append(copy.current_library)
    hits = []
    for record in records:
        libraries = by_record.get(record.id, [])
        nearest = None
        if libraries and latitude is not None and longitude is not None:
            nearest = min(
                ((lib, geo.distance_m(latitude, longitude, lib.latitude, lib.longitude)) for lib in libraries),
                key=lambda pair: pair[1],
            )
        hits.append(Hit(record, len(libraries), len({lib.id for lib in libraries}), nearest))
    return hits
