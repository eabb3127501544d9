"""Picks for a reader and neighbours of a record, as served: from Redis, filtered at request time, and recent
popularity when Redis has no picks for the reader (or their personal picks are off): the lists the training run
counted, kept in the process for a minute, else counted in PostgreSQL and kept in Redis for a minute."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

import msgspec
from tortoise import connections

from backend.accounts.models import Reader, ReaderType
from backend.catalog.errors import RecordNotFound
from backend.catalog.models import CopyStatus, Record
from backend.catalog.search import MAX_NEARBY_LIBRARIES, Hit
from backend.circulation.models import ReaderCategory
from backend.network.geo import distance_m
from backend.network.models import Library
from backend.network.services import get_library, nearest_libraries
from backend.outages import is_outage
from recommendations.consent import RefreshQueue, personal_by_default
from recommendations.data import AgeBand
from recommendations.errors import PlaceInvalid
from recommendations.reasons import Pick, Reason, ReasonKind
from recommendations.store import PickStore
from recommendations.training import (
    AGE_BAND,
    CHILD,
    NETWORK,
    POPULAR_LIST,
    POPULAR_WINDOW_DAYS,
    TRAINING,
    band_list_name,
    band_of,
    child_bands,
    with_children,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

POPULAR_HALF_LIFE_DAYS = TRAINING.recent_half_life
POPULAR_KEPT_SECONDS = 60.0
_GONE = (CopyStatus.WITHDRAWN, CopyStatus.LOST)


@dataclass(frozen=True, slots=True)
class Recommended:
    hit: Hit
    """The record with its availability, as search results show it."""
    reason: Reason


@dataclass(frozen=True, slots=True)
class Recommendations:
    items: list[Recommended]
    total: int
    personal: bool
    """Whether these are the reader's personal picks (else recent popularity, with non-personal reasons)."""
    titles: dict[int, str]
    """Titles of the records the reasons cite."""


class PopularLists:
    """The recent-popularity lists this process has read lately, for a minute: every card without personal picks
    (every child's card by default, every new reader) reads one, and they change once a night (trained) or are
    counted at most once a minute per process (without a model, or with Redis unreachable)."""

    def __init__(self, seconds: float = POPULAR_KEPT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[tuple[str, str], tuple[float, list[Pick] | None]] = {}

    async def get(self, key: tuple[str, str], load: Callable[[], Awaitable[list[Pick] | None]]) -> list[Pick] | None:
        """The list under `key` (a version and a list's name, or `counted` and its name), loaded when not kept."""
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            return kept[1]
        picks = await load()
        if len(self._kept) > 10_000:  # versions go by: never let old ones pile up
            self._kept.clear()
        self._kept[key] = (now + self._seconds, picks)
        return picks


@dataclass(frozen=True, slots=True)
class Near:
    """Where the reader is, and (given `within_m`) how far a library may be to count as near."""

    latitude: float
    longitude: float
    within_m: float | None = None


def near_of(
    latitude: float | None, longitude: float | None, within_m: float | None, library: str | None
) -> Near | None:
    """The reader's place as asked: both coordinates or neither, a distance only with them, and not with a library."""
    if (latitude is None) != (longitude is None):
        raise PlaceInvalid(problem="lat and lng go together")
    if within_m is not None and latitude is None:
        raise PlaceInvalid(problem="within_m needs lat and lng")
    if within_m is not None and library is not None:
        raise PlaceInvalid(problem="library or within_m, not both")
    return Near(latitude, longitude, within_m) if latitude is not None and longitude is not None else None


async def recommendations_for(
    reader: Reader,
    store: PickStore,
    queue: RefreshQueue,
    now: datetime,
    today: date,
    *,
    lists: PopularLists,
    available_at: str | None = None,
    near: Near | None = None,
    limit: int,
    offset: int,
) -> Recommendations:
    """The card's picks: personal ones when switched on and trained, else what its readers' kind borrows lately
    (a child's card: its age band's children's loans, its age on `today`, the network's calendar day of `now`; an
    adult's: their library's, else the network's). Leaves out
    what the card has on loan or in its kept history, records with no copy left, and (given a library's code, or a
    position and a distance) what is not on the shelves there now.

    One Redis round trip (the version served and the picks) and one PostgreSQL query (the switch, the filters, the
    page and its availability) on the way of most requests: a reader's home screen calls it on every visit."""
    version, picks = await _unless_down(store.served(reader.id), (None, None))
    shelves, nearby = await _shelves(available_at, near)
    candidates = picks or await popular_for(reader, now, today, store, lists, version)
    shelved = await _shelved(*_cited(candidates), reader.id, shelves, limit, offset)
    switched_on = shelved.chosen if shelved.chosen is not None else personal_by_default(reader.reader_type)
    # Not personal after all: switched off while Redis was unreachable (so the picks are still there), or none of them
    # left by the filters (then what the card's kind borrows lately, rather than nothing).
    personal = bool(picks) and switched_on and shelved.total > 0
    if picks and not personal:
        candidates = await popular_for(reader, now, today, store, lists, version)
        shelved = await _shelved(*_cited(candidates), reader.id, shelves, limit, offset)
    if switched_on and picks is None and version is not None:  # not picked by the nightly run: picked on demand
        await _unless_down(queue.enqueue_recommendation_refresh(reader.id), None)
    reasons = {int(pick.item): pick.reason for pick in candidates}
    items = [Recommended(hit, reasons[hit.record.id]) for hit in await _hits(shelved, near, nearby)]
    return Recommendations(items, shelved.total, personal, shelved.titles)


async def also_borrowed(store: PickStore, record_id: int, *, limit: int, offset: int) -> tuple[list[Hit], int]:
    """Readers who borrowed this record also borrowed these (records with no copy left are left out)."""
    if not await Record.exists(id=record_id):
        raise RecordNotFound()
    neighbours = await _unless_down(store.also_borrowed(record_id), [])
    shelved = await _shelved(neighbours, [None] * len(neighbours), None, None, limit, offset)
    return await _hits(shelved, None, {}), shelved.total


class _Row(msgspec.Struct):
    """A record of the page as the query answers it, with the copies on the shelf (their libraries)."""

    id: int
    isbn13: str | None
    title: str
    authors: list[dict[str, str]]
    publisher: str
    year: int | None
    clc_class: str
    language: str
    cover_url: str
    shelves: list[int]
    cited: int | None
    cited_title: str | None


@dataclass(frozen=True, slots=True)
class _Shelved:
    chosen: bool | None
    """The reader's own switch (None: never chosen, so the default of the card's kind)."""
    total: int
    rows: list[_Row]
    titles: dict[int, str]


# The candidates in their order, less what the reader has borrowed and what has no copy left (or, given shelves,
# none on them now); the page of them with each record's copies on the shelf; how many there are; the reader's
# switch. One statement, one round trip, in place of the seven ORM queries it replaced (measured in bench/).
_SHELVED = """
WITH candidate AS (
  SELECT p.record_id, p.cited, p.ord FROM unnest($1::int[], $2::int[]) WITH ORDINALITY AS p(record_id, cited, ord)
  WHERE EXISTS (SELECT 1 FROM copy c WHERE c.record_id = p.record_id AND {lendable})
    AND NOT EXISTS (
      SELECT 1 FROM loan l JOIN copy c ON c.id = l.copy_id WHERE l.reader_id = $3 AND c.record_id = p.record_id)
), page AS (
  SELECT * FROM candidate ORDER BY ord LIMIT $4 OFFSET $5
)
SELECT (SELECT personal FROM recommendation_setting WHERE reader_id = $3) AS chosen,
       (SELECT count(*) FROM candidate) AS total,
       (SELECT json_agg(json_build_object(
          'id', r.id, 'isbn13', r.isbn13, 'title', r.title, 'authors', r.authors, 'publisher', r.publisher,
          'year', r.year, 'clc_class', r.clc_class, 'language', r.language, 'cover_url', r.cover_url,
          'shelves', ARRAY(SELECT c.current_library_id FROM copy c WHERE c.record_id = r.id AND c.status = 'available'),
          'cited', p.cited, 'cited_title', cited.title) ORDER BY p.ord)
        FROM page p JOIN record r ON r.id = p.record_id LEFT JOIN record cited ON cited.id = p.cited) AS page
"""
_ANYWHERE = _SHELVED.format(lendable="c.status <> ALL($6::text[])")
_ON_SHELVES = _SHELVED.format(lendable="c.status = 'available' AND c.current_library_id = ANY($6::int[])")
_ROWS = msgspec.json.Decoder(list[_Row] | None)


def _cited(picks: list[Pick]) -> tuple[list[int], list[int | None]]:
    """The picks' records, and the record of the reader's history each one's reason names, if any."""
    cited = [int(p.reason.record) if p.reason.kind == ReasonKind.BORROWED and p.reason.record else None for p in picks]
    return [int(pick.item) for pick in picks], cited


async def _shelved(
    records: list[int],
    cited: list[int | None],
    reader_id: int | None,
    shelves: list[int] | None,
    limit: int,
    offset: int,
) -> _Shelved:
    sql, where = (_ANYWHERE, [s.value for s in _GONE]) if shelves is None else (_ON_SHELVES, shelves)
    chosen, total, page = (
        await connections.get("default").execute_query(sql, [records, cited, reader_id, limit, offset, where])
    )[1][0]
    rows = _ROWS.decode(page or "null") or []
    titles = {row.cited: row.cited_title for row in rows if row.cited is not None and row.cited_title is not None}
    return _Shelved(chosen, total, rows, titles)


async def _shelves(available_at: str | None, near: Near | None) -> tuple[list[int] | None, dict[int, Library]]:
    """The libraries whose shelves count (None: anywhere), and those libraries when they are the ones near the
    reader."""
    if available_at is not None:
        return [(await get_library(available_at)).id], {}
    if near is None or near.within_m is None:
        return None, {}
    nearby, _ = await nearest_libraries(
        near.latitude, near.longitude, limit=MAX_NEARBY_LIBRARIES, radius_m=near.within_m
    )
    return [library.id for library, _ in nearby], {library.id: library for library, _ in nearby}


async def _hits(shelved: _Shelved, near: Near | None, nearby: dict[int, Library]) -> list[Hit]:
    """The page as search results show records: availability, and (given a position) the nearest library with one on
    the shelf: among the libraries near the reader when only those count, else among all with one."""
    places = nearby
    if near is not None and near.within_m is None:
        on_shelves = {library for row in shelved.rows for library in row.shelves}
        places = {library.id: library for library in await Library.filter(id__in=on_shelves)}
    hits = []
    for row in shelved.rows:
        nearest = None
        here = [places[i] for i in set(row.shelves) if i in places]
        if near is not None and here:
            nearest = min(
                ((lib, distance_m(near.latitude, near.longitude, lib.latitude, lib.longitude)) for lib in here),
                key=lambda pair: pair[1],
            )
        record = Record(
            id=row.id,
            isbn13=row.isbn13,
            title=row.title,
            authors=row.authors,
            publisher=row.publisher,
            year=row.year,
            clc_class=row.clc_class,
            language=row.language,
            cover_url=row.cover_url,
        )
        hits.append(Hit(record, len(row.shelves), len(set(row.shelves)), nearest))
    return hits


async def _unless_down(call: Awaitable[T], otherwise: T) -> T:
    """Redis unreachable: serve what PostgreSQL alone can (recent popularity counted there) rather than fail; the
    picks come back with Redis."""
    try:
        return await call
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("recommendations without Redis (%s): recent popularity from PostgreSQL", type(exc).__name__)
        return otherwise


async def popular_for(
    reader: Reader, now: datetime, today: date, store: PickStore, lists: PopularLists, version: str | None
) -> list[Pick]:
    """Recent popularity for the card's kind of reader: for a child's card its age band's loans (topped up with all
    children's, `training.with_children`), all children's without a birth month; for an adult, their home library's
    loans, or the network's when it has none lately. The lists the training run of the `version` served counted;
    without one, counted in PostgreSQL (a minute's worth of requests share one count)."""
    band = band_of(reader, today)
    if version is not None:
        trained = await _trained_popular_for(reader, band, store, lists, version)
        if trained is not None:
            return trained
    if reader.reader_type == ReaderType.CHILD:
        children = [ReaderCategory.CHILD.value, ReaderCategory.LITTLE_READER.value]
        reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=("card", "child"))
        all_children = await _counted(store, lists, CHILD, lambda: _popular(now, reason, categories=children))
        if band is None:
            return all_children
        return await _counted(store, lists, band_list_name(band), lambda: _band_popular(now, today, band, all_children))
    library = reader.home_library_id
    if library is not None:
        reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=("library", str(library)))
        local = await _counted(store, lists, f"library:{library}", lambda: _popular(now, reason, library_id=library))
        if local:
            return local
    return await _counted(store, lists, NETWORK, lambda: _popular(now, Reason(ReasonKind.POPULAR_RECENTLY)))


async def _trained_popular_for(
    reader: Reader, band: AgeBand | None, store: PickStore, lists: PopularLists, version: str
) -> list[Pick] | None:
    if reader.reader_type == ReaderType.CHILD:
        return await _trained(store, lists, version, CHILD if band is None else band_list_name(band))
    if reader.home_library_id is not None:
        local = await _trained(store, lists, version, f"library:{reader.home_library_id}")
        if local:
            return local
    return await _trained(store, lists, version, NETWORK)


async def _trained(store: PickStore, lists: PopularLists, version: str, name: str) -> list[Pick] | None:
    return await _unless_down(lists.get((version, name), lambda: store.popular(version, name)), None)


async def _counted(
    store: PickStore, lists: PopularLists, name: str, count: Callable[[], Awaitable[list[Pick]]]
) -> list[Pick]:
    """Counted in PostgreSQL once a minute, the count shared by every process through Redis; with Redis unreachable,
    once a minute per process (rather than on every request while it is down)."""
    try:
        kept = await store.counted_popular(name)
    except Exception as exc:
        if not is_outage(exc):
            raise
        return await lists.get(("counted", name), count) or []
    if kept is not None:
        return kept
    counted = await count()
    await _unless_down(store.keep_counted_popular(name, counted), None)
    return counted


# The children's cards that borrowed in the window, whose age band decides whose loans count.
_CHILDREN_LATELY = """
SELECT DISTINCT r.id, r.date_of_birth, r.birth_month FROM loan l JOIN reader r ON r.id = l.reader_id
WHERE r.reader_type = 'child' AND l.checked_out_at > $1::timestamptz - make_interval(days => $2)
  AND l.checked_out_at <= $1
"""


async def _band_popular(now: datetime, today: date, band: AgeBand, all_children: list[Pick]) -> list[Pick]:
    """An age band's list as training counts it: the loans that name a child's card of the band (`today`), topped up
    with all children's; all children's when too few of the band's cards borrowed (`training.with_children`)."""
    rows = await connections.get("default").execute_query_dict(_CHILDREN_LATELY, [now, POPULAR_WINDOW_DAYS])
    readers = [child for child, its in child_bands(rows, today) if its == band]
    reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=(AGE_BAND, band.name))
    return with_children(await _popular(now, reason, reader_ids=readers), len(readers), all_children)


async def _popular(
    now: datetime,
    reason: Reason,
    *,
    library_id: int | None = None,
    categories: list[str] | None = None,
    reader_ids: list[int] | None = None,
) -> list[Pick]:
    # Each loan weighs half as much every 30 days back, like the model's recent popularity.
    conditions = ["l.checked_out_at > $1::timestamptz - make_interval(days => $2)", "l.checked_out_at <= $1"]
    parameters: list[object] = [now, POPULAR_WINDOW_DAYS]
    if library_id is not None:
        parameters.append(library_id)
        conditions.append(f"l.library_id = ${len(parameters)}")
    if categories is not None:
        parameters.append(categories)
        conditions.append(f"l.reader_category = ANY(${len(parameters)}::text[])")
    if reader_ids is not None:
        parameters.append(reader_ids)
        conditions.append(f"l.reader_id = ANY(${len(parameters)}::int[])")
    rows = await connections.get("default").execute_query_dict(
        "SELECT c.record_id, SUM(power(2, -EXTRACT(EPOCH FROM ($1 - l.checked_out_at)) / 86400 / "
        f"{POPULAR_HALF_LIFE_DAYS})) AS score FROM loan l JOIN copy c ON c.id = l.copy_id "
        f"WHERE {' AND '.join(conditions)} GROUP BY c.record_id ORDER BY score DESC, c.record_id LIMIT {POPULAR_LIST}",
        parameters,
    )
    return [Pick(str(row["record_id"]), float(row["score"]), reason) for row in rows]
