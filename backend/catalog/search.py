"""Catalogue search (统一检索) over every library of the network, on SQLite and on PostgreSQL.

Chinese has no spaces, so words are segmented before indexing (backend/catalog/terms.py) and each database gets
the tokens ready-made: no parser of the database ever sees raw Chinese. SQLite indexes them with FTS5 (bm25
ranking, prefix queries); PostgreSQL with a tsvector built by array_to_tsvector and a GIN index (ts_rank, prefix
queries with `:*`). A trigram index (pg_trgm) was the alternative: it needs no segmentation but cannot match
pinyin or initials, ranks poorly on two-character Chinese words, and grows several times larger.

Field weights: a title word counts most, then an author, then pinyin and subjects, then the summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from backend.catalog import terms
from backend.catalog.isbn import looks_like_isbn, normalise_isbn
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.network import geo
from backend.network.models import Library
from backend.network.services import get_library, nearest_libraries

# PostgreSQL tsvector weights by field (SQLite FTS5 uses the column weights in _BM25 instead).
_PG_WEIGHTS = {"title": "A", "authors": "B", "pinyin": "C", "subjects": "C", "summary": "D"}
_FIELDS = ("title", "authors", "subjects", "summary", "pinyin")
_BM25 = "bm25(record_search, 10.0, 6.0, 3.0, 1.0, 3.0)"
# "Near me" looks at the libraries within the radius, nearest first; beyond this many the nearest suffice.
_MAX_NEARBY_LIBRARIES = 50


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
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


async def index_records(record_ids: Sequence[int]) -> None:
    """(Re)build the search entries of these records; call after creating or changing them."""
    if not record_ids:
        return
    conn = connections.get("default")
    records = await Record.filter(id__in=list(record_ids))
    documents = await asyncio.to_thread(lambda: [(r.id, _document(r)) for r in records])  # jieba is CPU-bound
    if _is_sqlite(conn):
        placeholders = ", ".join("?" for _ in record_ids)
        await conn.execute_query(f"DELETE FROM record_search WHERE rowid IN ({placeholders})", list(record_ids))
        await conn.execute_many(
            "INSERT INTO record_search (rowid, title, authors, subjects, summary, pinyin) VALUES (?, ?, ?, ?, ?, ?)",
            [[rid, *(" ".join(doc[f]) for f in _FIELDS)] for rid, doc in documents],
        )
    else:
        vector = " || ".join(
            f"setweight(array_to_tsvector(${i}::text[]), '{_PG_WEIGHTS[f]}')" for i, f in enumerate(_FIELDS, start=2)
        )
        await conn.execute_many(
            f"INSERT INTO record_search (record_id, document) VALUES ($1, {vector}) "
            "ON CONFLICT (record_id) DO UPDATE SET document = EXCLUDED.document",
            [[rid, *(doc[f] for f in _FIELDS)] for rid, doc in documents],
        )


def _document(record: Record) -> dict[str, list[str]]:
    return terms.document_of(
        title=record.title,
        subtitle=record.subtitle,
        authors=[a["name"] for a in record.authors],
        subjects=record.subjects,
        summary=record.summary,
    ).tokens()


async def search(query: SearchQuery) -> SearchResult:
    """Records matching the words (Chinese, English, pinyin or initials; the last word may be unfinished) or the
    ISBN, and the filters; with facet counts over all matches and per-record availability across the network."""
    if looks_like_isbn(query.text):
        records = await Record.filter(isbn13=normalise_isbn(query.text))  # an invalid ISBN is a clear error
        return SearchResult(await _hits(records, query), len(records))
    conn = connections.get("default")
    sql = _Sql(_is_sqlite(conn))
    library = await get_library(query.library_code) if query.library_code else None
    nearby = None
    if query.available_within_m is not None and query.latitude is not None and query.longitude is not None:
        nearby = [
            lib.id
            for lib, _ in await nearest_libraries(
                query.latitude, query.longitude, limit=_MAX_NEARBY_LIBRARIES, radius_m=query.available_within_m
            )
        ]
    where = sql.where(query, library, nearby)
    if where is None:  # words that cannot match anything (only stop words or separators)
        return SearchResult([], 0)
    base = f"FROM record r {sql.join} WHERE {where}"
    order = (
        f"{sql.rank} , r.id"
        if query.sort is Sort.RELEVANCE and sql.has_text
        else "CASE WHEN r.year IS NULL THEN 1 ELSE 0 END, r.year DESC, r.id DESC"
    )
    page_sql = f"SELECT r.id {base} ORDER BY {order} LIMIT {int(query.limit)} OFFSET {int(query.offset)}"
    rows = await conn.execute_query_dict(page_sql, sql.values)
    total = (await conn.execute_query_dict(f"SELECT count(*) AS n {base}", sql.values))[0]["n"]
    facets = {
        name: [
            (str(row["value"]), int(row["n"]))
            for row in await conn.execute_query_dict(
                f"SELECT {expression} AS value, count(*) AS n {base} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 20",
                sql.values,
            )
            if row["value"] not in (None, "")
        ]
        for name, expression in _FACETS.items()
    }
    ids = [row["id"] for row in rows]
    by_id = {r.id: r for r in await Record.filter(id__in=ids)}
    return SearchResult(await _hits([by_id[i] for i in ids], query), int(total), facets)


# Facets over the matching records: the CLC main class (its first letter), the language, the decade.
_FACETS = {
    "clc_class": "substr(r.clc_class, 1, 1)",
    "language": "r.language",
    "decade": "(r.year / 10) * 10",
}


class _Sql:
    """The WHERE clause of a search with its parameters, in the placeholder style of the database."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.values: list[Any] = []
        self.has_text = False
        self.join = ""
        self.rank = ""

    def param(self, value: Any) -> str:
        self.values.append(value)
        return "?" if self.sqlite else f"${len(self.values)}"

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
            clauses.append(f"r.clc_class LIKE {self.param(_like_prefix(query.clc_prefix))} ESCAPE '\\'")
        if query.year_from is not None:
            clauses.append(f"r.year >= {self.param(query.year_from)}")
        if query.year_to is not None:
            clauses.append(f"r.year <= {self.param(query.year_to)}")
        if query.language:
            clauses.append(f"r.language = {self.param(query.language)}")
        if query.audience_age is not None:
            age = query.audience_age
            clauses.append(f"r.audience_min_age <= {self.param(age)} AND r.audience_max_age >= {self.param(age)}")
        # Readers search what the network holds: a record whose every copy is withdrawn is no longer found.
        copy_clauses = ["c.record_id = r.id", f"c.status <> {self.param(CopyStatus.WITHDRAWN.value)}"]
        if query.item_type is not None:
            copy_clauses.append(f"c.item_type = {self.param(query.item_type.value)}")
        if library is not None:
            copy_clauses.append(f"c.current_library_id = {self.param(library.id)}")
        if nearby is not None:  # "on the shelf near me": available now, at one of the libraries within reach
            if not nearby:
                return None
            copy_clauses.append(f"c.status = {self.param(CopyStatus.AVAILABLE.value)}")
            copy_clauses.append(f"c.current_library_id IN ({', '.join(self.param(i) for i in nearby)})")
        clauses.append(f"EXISTS (SELECT 1 FROM copy c WHERE {' AND '.join(copy_clauses)})")
        return " AND ".join(clauses)

    def _match(self, words: list[terms.QueryToken], author_words: list[terms.QueryToken]) -> str:
        # Every word must match (AND); Latin words match as prefixes, so "sant" finds 三体 while it is typed.
        if self.sqlite:
            parts = [_fts5_term(w) for w in words] + [f"authors : {_fts5_term(w)}" for w in author_words]
            self.join = "JOIN record_search ON record_search.rowid = r.id"  # FTS5 wants its own name, no alias
            self.rank = _BM25
            return f"record_search MATCH {self.param(' AND '.join(parts))}"
        parts = [_tsquery_term(w, "") for w in words] + [_tsquery_term(w, "B") for w in author_words]
        self.join = "JOIN record_search s ON s.record_id = r.id"
        tsquery = f"{self.param(' & '.join(parts))}::tsquery"
        self.rank = f"ts_rank(s.document, {tsquery}) DESC"
        return f"s.document @@ {tsquery}"


def _fts5_term(word: terms.QueryToken) -> str:
    return f'"{word.text}"*' if word.latin else f'"{word.text}"'


def _tsquery_term(word: terms.QueryToken, weight: str) -> str:
    # Tokens are letters and digits only (terms.py), so quoting cannot be broken out of.
    return f"'{word.text}':*{weight}" if word.latin else f"'{word.text}'" + (f":{weight}" if weight else "")


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped.upper()}%"


def _is_sqlite(conn: BaseDBAsyncClient) -> bool:
    return bool(conn.capabilities.dialect == "sqlite")


async def _hits(records: Sequence[Record], query: SearchQuery) -> list[Hit]:
    """Availability of each record across the network, and the nearest library with a copy on the shelf."""
    available = (
        await Copy.filter(record_id__in=[r.id for r in records], status=CopyStatus.AVAILABLE)
        .select_related("current_library")
        .all()
    )
    by_record: dict[int, list[Library]] = {}
    for copy in available:
        by_record.setdefault(copy.record_id, []).append(copy.current_library)  # type: ignore[attr-defined]
    hits = []
    for record in records:
        libraries = by_record.get(record.id, [])
        nearest = None
        if libraries and query.latitude is not None and query.longitude is not None:
            nearest = min(
                (
                    (lib, geo.distance_m(query.latitude, query.longitude, lib.latitude, lib.longitude))
                    for lib in libraries
                ),
                key=lambda pair: pair[1],
            )
        hits.append(Hit(record, len(libraries), len({lib.id for lib in libraries}), nearest))
    return hits
