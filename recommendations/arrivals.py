"""New arrivals at my libraries: copies added lately where I borrow, my interests first (the content source's own
scoring over my loans), or newest first when personal picks are off or I have borrowed nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
from tortoise import connections

from backend.accounts.models import Reader
from backend.catalog.models import CopyStatus, Record
from backend.circulation.models import Loan
from backend.network.models import Library
from backend.paging import page_of
from recommendations.consent import personal_on
from recommendations.data import Days, Item, LoanLog, days_of
from recommendations.explain import cited_records
from recommendations.reasons import Reason
from recommendations.sources import Content, History

ARRIVAL_CANDIDATES = 300
"""The newest records with new copies at my libraries that are ranked: a page is read from these (the catalogue's
search bounds its candidates the same way); the count says when it stopped there."""
MY_LIBRARY_LOAN_DAYS = 365
"""A library where the card borrowed within this many days is one of "my libraries" (with its home library)."""

_NEW_COPIES = """
SELECT c.record_id, MAX(c.created_at) AS added_at, array_agg(DISTINCT c.current_library_id) AS libraries
FROM copy c
WHERE c.created_at > $1::timestamptz - make_interval(days => $2) AND c.created_at <= $1
  AND c.current_library_id = ANY($3::int[]) AND c.status <> ALL($4::text[]) AND NOT (c.record_id = ANY($5::int[]))
GROUP BY c.record_id
ORDER BY added_at DESC, c.record_id DESC
LIMIT $6
"""


@dataclass(frozen=True, slots=True)
class Arrival:
    record: Record
    added_at: datetime
    """When the newest of its copies at my libraries was added."""
    libraries: list[Library]
    """My libraries where a new copy of it is now."""
    reason: Reason | None
    """Why it matches my reading (the content source's reason); None: only new."""


@dataclass(frozen=True, slots=True)
class Arrivals:
    items: list[Arrival]
    total: int
    personal: bool
    """Whether my reading ranked them (else newest first, and no reason cites my reading)."""
    titles: dict[int, str]
    """Titles of the records the reasons cite."""


async def new_arrivals_for(reader: Reader, now: datetime, *, days: int, limit: int, offset: int) -> Arrivals:
    """Records with copies added in the last `days` days at the card's libraries (its home library and where it
    borrowed in the last year), what the card has borrowed left out; ranked by the content source's score over the
    card's own loans when its personal picks are on, newest first otherwise and for what matches nothing."""
    loans, lent_at = await _own_loans(reader, now - timedelta(days=MY_LIBRARY_LOAN_DAYS))
    libraries = _libraries_of(reader, lent_at)
    if not libraries:
        return Arrivals([], 0, False, {})
    own = sorted({record_id for record_id, _ in loans})
    rows: list[dict[str, Any]] = await connections.get("default").execute_query_dict(
        _NEW_COPIES,
        [now, days, libraries, [CopyStatus.WITHDRAWN.value, CopyStatus.LOST.value], own, ARRIVAL_CANDIDATES],
    )
    personal = bool(loans) and bool(rows) and await personal_on(reader)
    ranked: list[tuple[int, Reason | None]] = [(int(row["record_id"]), None) for row in rows]
    if personal:
        ranked = await _by_interest(loans, own, [record_id for record_id, _ in ranked])
        personal = any(reason is not None for _, reason in ranked)
    page, total = page_of(ranked, limit, offset)
    by_record = {int(row["record_id"]): row for row in rows}
    records = {r.id: r for r in await Record.filter(id__in=[record_id for record_id, _ in page])}
    shown_libraries = {lib for record_id, _ in page for lib in by_record[record_id]["libraries"]}
    places = {lib.id: lib for lib in await Library.filter(id__in=shown_libraries).order_by("id")}
    items = [
        Arrival(
            records[record_id],
            by_record[record_id]["added_at"],
            [places[lib] for lib in sorted(by_record[record_id]["libraries"]) if lib in places],
            reason,
        )
        for record_id, reason in page
        if record_id in records
    ]
    cited = cited_records([item.reason for item in items if item.reason is not None])
    titles = dict(await Record.filter(id__in=cited).values_list("id", "title")) if cited else {}
    return Arrivals(items, total, personal, titles)


async def _own_loans(reader: Reader, since: datetime) -> tuple[list[tuple[int, datetime]], set[int]]:
    """The card's own loans that still name it (open, or kept in its opted-in reading history): (record, when); and
    the libraries that lent to it `since`."""
    rows = await Loan.filter(reader_id=reader.id).values_list("copy__record_id", "checked_out_at", "library_id")
    loans = [(int(record_id), cast("datetime", at)) for record_id, at, _ in rows]
    return loans, {int(library) for _, at, library in rows if cast("datetime", at) >= since}


def _libraries_of(reader: Reader, lent_at: set[int]) -> list[int]:
    # Where the card goes, not what it reads: the same with personal picks on or off.
    found = set(lent_at)
    if reader.home_library_id is not None:
        found.add(reader.home_library_id)
    return sorted(found)


async def _by_interest(
    loans: list[tuple[int, datetime]], own: list[int], candidates: list[int]
) -> list[tuple[int, Reason | None]]:
    """The candidates (newest first) scored by the content source, as picks are, over the card's loans (`own`: their
    records): matches first by score, the rest after them newest first."""
    items = await _items_of(own + candidates)
    # Segmenting the titles and scoring is CPU work: in a thread, so the event loop goes on answering others.
    return await asyncio.to_thread(_rank, loans, own, candidates, items)


def _rank(
    loans: list[tuple[int, datetime]], own: list[int], candidates: list[int], items: dict[int, Item]
) -> list[tuple[int, Reason | None]]:
    keys = tuple(str(record_id) for record_id in own + candidates)
    positions = {record_id: position for position, record_id in enumerate(own + candidates)}
    latest: dict[int, Days] = {}
    for record_id, at in loans:
        day = days_of(at.replace(tzinfo=None) - (at.utcoffset() or timedelta()))
        latest[positions[record_id]] = max(day, latest.get(positions[record_id], day))
    # A log of the card's loans over a vocabulary that also holds the new arrivals, so they get feature vectors.
    log = LoanLog(
        ("reader",),
        keys,
        np.zeros(len(latest), np.int32),
        np.array(list(latest), np.int32),
        np.array(list(latest.values()), np.float64),
    )
    content = Content(log, {str(key): item for key, item in items.items()})
    newest_first = sorted(latest.items(), key=lambda pair: (-pair[1], pair[0]))
    history = History(
        np.array([position for position, _ in newest_first], np.int32),
        np.array([day for _, day in newest_first], np.float64),
        len(loans),
    )
    scores = content.for_reader(history)
    wanted = np.array([positions[record_id] for record_id in candidates], np.int32)
    matched = scores.at(wanted)
    order = np.argsort(-matched, kind="stable")  # ties (and every non-match) keep the newest-first order
    ranked: list[tuple[int, Reason | None]] = []
    for index in order.tolist():
        position = int(wanted[index])
        reason = scores.reason(position) if matched[index] > 0 else None
        ranked.append((candidates[index], reason))
    return ranked


async def _items_of(record_ids: list[int]) -> dict[int, Item]:
    """What the content source knows of each record, read as training reads it."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT id, title, authors, clc_class, year FROM record WHERE id = ANY($1::int[])", [record_ids]
    )
    return {int(record["id"]): Item.of_record(record) for record in rows}
