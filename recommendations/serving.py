"""Picks for a reader and neighbours of a record, as served: from Redis, filtered at request time, and recent
popularity when Redis has no picks for the reader (or their personal picks are off): the lists the training run
counted, kept in the process for a minute, else counted in PostgreSQL and kept in Redis for a minute."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from tortoise import connections

from backend.accounts.models import Reader, ReaderType
from backend.catalog.errors import RecordNotFound
from backend.catalog.models import Copy, CopyStatus, Record
from backend.circulation.models import Loan, ReaderCategory
from backend.network.services import get_library
from backend.paging import page_of
from recommendations.consent import personal_on
from recommendations.explain import cited_records
from recommendations.reasons import Pick, Reason, ReasonKind
from recommendations.store import PickStore
from recommendations.training import CHILD, NETWORK, POPULAR_LIST, POPULAR_WINDOW_DAYS, TRAINING

POPULAR_HALF_LIFE_DAYS = TRAINING.recent_half_life
POPULAR_KEPT_SECONDS = 60.0
_GONE = (CopyStatus.WITHDRAWN, CopyStatus.LOST)


@dataclass(frozen=True, slots=True)
class Recommended:
    record: Record
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
    """The trained recent-popularity lists this process has read, per version, for a minute: every card without
    personal picks (every child's card by default, every new reader) reads one, and they change once a night."""

    def __init__(self, seconds: float = POPULAR_KEPT_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[tuple[str, str], tuple[float, list[Pick] | None]] = {}

    async def get(self, store: PickStore, version: str, name: str) -> list[Pick] | None:
        now = self._clock()
        kept = self._kept.get((version, name))
        if kept is not None and kept[0] > now:
            return kept[1]
        picks = await store.popular(version, name)
        if len(self._kept) > 10_000:  # versions go by: never let old ones pile up
            self._kept.clear()
        self._kept[(version, name)] = (now + self._seconds, picks)
        return picks


async def recommendations_for(
    reader: Reader,
    store: PickStore,
    now: datetime,
    *,
    lists: PopularLists,
    available_at: str | None = None,
    limit: int,
    offset: int,
) -> Recommendations:
    """The card's picks: personal ones when switched on and trained, else what its readers' kind borrows lately
    (a child's card: children's loans; an adult's: their library's, else the network's). Leaves out what the card
    has on loan or in its kept history, records with no copy left, and (given a library's code) what is not on
    its shelves now."""
    personal = await personal_on(reader)
    picks = await store.picks(reader.id) if personal else None
    if not picks:
        personal = False
        picks = await popular_for(reader, now, store, lists)
    library = (await get_library(available_at)).id if available_at is not None else None
    own = set(cast("list[int]", await Loan.filter(reader_id=reader.id).values_list("copy__record_id", flat=True)))
    candidates = [pick for pick in picks if int(pick.item) not in own]
    kept = await _still_lendable([int(pick.item) for pick in candidates], library)
    candidates = [pick for pick in candidates if int(pick.item) in kept]
    page, total = page_of(candidates, limit, offset)
    records = {r.id: r for r in await Record.filter(id__in=[int(pick.item) for pick in page])}
    cited = cited_records([pick.reason for pick in page])
    titles = dict(await Record.filter(id__in=cited).values_list("id", "title")) if cited else {}
    items = [Recommended(records[int(pick.item)], pick.reason) for pick in page if int(pick.item) in records]
    return Recommendations(items, total, personal, titles)


async def also_borrowed(store: PickStore, record_id: int, *, limit: int, offset: int) -> tuple[list[Record], int]:
    """Readers who borrowed this record also borrowed these (records with no copy left are left out)."""
    if not await Record.exists(id=record_id):
        raise RecordNotFound()
    neighbours = await store.also_borrowed(record_id)
    kept = await _still_lendable(neighbours, None)
    listed = [other for other in neighbours if other in kept]
    page, total = page_of(listed, limit, offset)
    records = {r.id: r for r in await Record.filter(id__in=page)}
    return [records[other] for other in page if other in records], total


async def _still_lendable(record_ids: list[int], available_at: int | None) -> set[int]:
    if not record_ids:
        return set()
    copies = Copy.filter(record_id__in=record_ids)
    if available_at is not None:
        copies = copies.filter(status=CopyStatus.AVAILABLE, current_library_id=available_at)
    else:
        copies = copies.exclude(status__in=_GONE)
    return set(cast("list[int]", await copies.distinct().values_list("record_id", flat=True)))


async def popular_for(reader: Reader, now: datetime, store: PickStore, lists: PopularLists) -> list[Pick]:
    """Recent popularity for the card's kind of reader: children's loans for a child's card; for an adult, their home
    library's loans, or the network's when it has none lately. The lists the training run counted; without a model
    in Redis, counted in PostgreSQL (a minute's worth of requests share one count)."""
    version = await store.current()
    if version is not None:
        trained = await _trained_popular_for(reader, store, lists, version)
        if trained is not None:
            return trained
    if reader.reader_type == ReaderType.CHILD:
        children = [ReaderCategory.CHILD.value, ReaderCategory.LITTLE_READER.value]
        reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=("card", "child"))
        return await _counted(store, CHILD, now, reason, categories=children)
    library = reader.home_library_id
    if library is not None:
        reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=("library", str(library)))
        local = await _counted(store, f"library:{library}", now, reason, library)
        if local:
            return local
    return await _counted(store, NETWORK, now, Reason(ReasonKind.POPULAR_RECENTLY))


async def _trained_popular_for(
    reader: Reader, store: PickStore, lists: PopularLists, version: str
) -> list[Pick] | None:
    if reader.reader_type == ReaderType.CHILD:
        return await lists.get(store, version, CHILD)
    if reader.home_library_id is not None:
        local = await lists.get(store, version, f"library:{reader.home_library_id}")
        if local:
            return local
    return await lists.get(store, version, NETWORK)


async def _counted(
    store: PickStore,
    name: str,
    now: datetime,
    reason: Reason,
    library_id: int | None = None,
    categories: list[str] | None = None,
) -> list[Pick]:
    kept = await store.counted_popular(name)
    if kept is not None:
        return kept
    counted = await _popular(now, reason, library_id, categories)
    await store.keep_counted_popular(name, counted)
    return counted


async def _popular(
    now: datetime, reason: Reason, library_id: int | None = None, categories: list[str] | None = None
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
    rows = await connections.get("default").execute_query_dict(
        "SELECT c.record_id, SUM(power(2, -EXTRACT(EPOCH FROM ($1 - l.checked_out_at)) / 86400 / "
        f"{POPULAR_HALF_LIFE_DAYS})) AS score FROM loan l JOIN copy c ON c.id = l.copy_id "
        f"WHERE {' AND '.join(conditions)} GROUP BY c.record_id ORDER BY score DESC, c.record_id LIMIT {POPULAR_LIST}",
        parameters,
    )
    return [Pick(str(row["record_id"]), float(row["score"]), reason) for row in rows]
