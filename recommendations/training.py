"""Training from PostgreSQL (nightly, and `shuxiang recs train`) and the per-reader refresh after a checkout.

What the models may learn from is what readers agreed to keep linked to them: a loan names its reader while it is
open and, once returned, only if the reader keeps a reading history (then until the retention job unlinks it).
Those loans, of readers whose personal picks are on, are each reader's history. Every other loan (returned loans
that lost their reader, and every loan of a card whose personal picks are off) counts only as an anonymous loan of
its own: it adds to how popular its record is, lately and in its card's kind (adult or child), and to nothing
personal: no history, no co-borrow pair, no picks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import Any, cast

from tortoise import connections

from backend.circulation.models import Loan, ReaderCategory
from recommendations.blend import RECENT, SHIPPED, Blend, Model, TrainingSettings, train
from recommendations.consent import RefreshQueue, personal_on_id
from recommendations.data import Days, Item, LoanLog, days_of
from recommendations.reasons import Pick
from recommendations.store import ModelCache, PickStore, pack_model

log = logging.getLogger(__name__)

PICKS_PER_READER = 50
"""Picks stored per reader: a reader's screens show a page of them after the request-time filters."""
ALSO_BORROWED = 20
"""Neighbours stored per record."""
CARD = "card"
"""The segmentation of readers by card kind: recent popularity among children's loans is a child's age list."""
CHILD = "child"
ADULT = "adult"
TRAINING = TrainingSettings(segmentations=(CARD,))
_CHILD_POPULARITY = f"{RECENT}-by-{CARD}"


def blend_for(segments: Mapping[str, str]) -> Blend:
    """The shipped blend; on a child's card its recent popularity is the children's (the age list), not everyone's."""
    if segments.get(CARD) != CHILD:
        return SHIPPED

    def swapped(weights: Mapping[str, float]) -> dict[str, float]:
        return {(_CHILD_POPULARITY if name == RECENT else name): weight for name, weight in weights.items()}

    return Blend(warm=swapped(SHIPPED.warm), few=swapped(SHIPPED.few), none=swapped(SHIPPED.none), pool=SHIPPED.pool)


def _days(moment: datetime) -> Days:
    return days_of(moment.astimezone(UTC).replace(tzinfo=None))


def _card_of(category: str) -> str:
    return ADULT if category == ReaderCategory.ADULT else CHILD


@dataclass(frozen=True, slots=True)
class TrainingData:
    log: LoanLog
    items: dict[str, Item]
    segments: dict[str, dict[str, str]]
    personal: frozenset[str]
    """Reader keys (ids as text) whose picks are computed: cards with personal picks on."""


@dataclass(frozen=True, slots=True)
class Trained:
    model_blob: bytes
    picks: dict[int, list[Pick]]
    also_borrowed: dict[int, list[int]]


_LOANS = """
SELECT l.id, l.reader_id, c.record_id, l.checked_out_at, l.reader_category, r.reader_type,
       COALESCE(s.personal, r.reader_type = 'adult') AS personal
FROM loan l
JOIN copy c ON c.id = l.copy_id
LEFT JOIN reader r ON r.id = l.reader_id
LEFT JOIN recommendation_setting s ON s.reader_id = l.reader_id
"""
_ITEMS = """
SELECT id, title, authors, clc_class, year FROM record
WHERE id IN (SELECT DISTINCT c.record_id FROM loan l JOIN copy c ON c.id = l.copy_id)
"""


async def load_training_data() -> TrainingData:
    """The loans and records the models learn from (see the module's note for which loans name their reader)."""
    conn = connections.get("default")
    rows: list[tuple[str, str, Days]] = []
    segments: dict[str, dict[str, str]] = {}
    personal: set[str] = set()
    for loan in await conn.execute_query_dict(_LOANS):
        if loan["reader_id"] is not None and loan["personal"]:
            reader = str(loan["reader_id"])
            personal.add(reader)
            segments[reader] = {CARD: CHILD if loan["reader_type"] == "child" else ADULT}
        else:
            reader = f"~{loan['id']}"  # anonymous: a reader of one loan, who co-borrows nothing
            segments[reader] = {CARD: _card_of(loan["reader_category"])}
        rows.append((reader, str(loan["record_id"]), _days(loan["checked_out_at"])))
    items = {}
    for record in await conn.execute_query_dict(_ITEMS):
        authors = record["authors"]
        if isinstance(authors, str):  # jsonb as text, depending on the driver's codecs
            authors = json.loads(authors)
        names = ";".join(a.get("name", "") for a in authors if isinstance(a, dict))
        items[str(record["id"])] = Item(record["title"], names, record["clc_class"], record["year"])
    return TrainingData(LoanLog.from_rows(rows), items, segments, frozenset(personal))


def train_and_pick(data: TrainingData, as_of: Days) -> Trained:
    """Train, then every personal reader's picks and every record's neighbours: all CPU, run in a process."""
    model = train(data.log, data.items, data.segments, as_of, TRAINING)
    picks = {}
    for reader in sorted(data.personal):
        segments = data.segments.get(reader, {})
        picks[int(reader)] = model.recommend(model.history_of(reader, segments), blend_for(segments), PICKS_PER_READER)
    also = {}
    for key in model.item_keys:
        neighbours = model.also_borrowed(key, ALSO_BORROWED)
        if neighbours:
            also[int(key)] = [int(other) for other in neighbours]
    return Trained(pack_model(model), picks, also)


async def run_training(store: PickStore, queue: RefreshQueue, now: datetime) -> int:
    """Learn from the loans, write the picks and neighbours as a new version, serve it, and refresh the readers
    who borrowed while it trained. Returns the readers with picks."""
    data = await load_training_data()
    if len(data.log) == 0:
        log.info("no loans to learn from")
        return 0
    # A process of its own: tokenising titles and the per-reader loops hold the GIL; spawned, not forked, so no
    # open connection or lock of this process is copied into it.
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        trained = await asyncio.get_running_loop().run_in_executor(pool, train_and_pick, data, _days(now))
    version = await store.begin(trained.model_blob)
    await store.write_picks(version, trained.picks)
    await store.write_also_borrowed(version, trained.also_borrowed)
    # Cards switched off while this ran: their picks must not come back with the new version.
    switched_off = await _switched_off(list(trained.picks))
    for reader_id in switched_off:
        await store.forget_reader(reader_id)
    await store.publish(version)
    for reader_id in switched_off:  # and in case one switched off between the deletion and the flip
        await store.forget_reader(reader_id)
    # Readers who borrowed while this trained (the loans it read ended about `now`): their picks again, with those.
    borrowed_since = await Loan.filter(checked_out_at__gte=now, reader_id__not_isnull=True).values_list(
        "reader_id", flat=True
    )
    for borrower in set(cast("list[int]", borrowed_since)):
        await queue.enqueue_recommendation_refresh(borrower)
    log.info(
        "trained on %d loans: picks for %d readers, %d records",
        len(data.log),
        len(trained.picks),
        len(trained.also_borrowed),
    )
    return len(trained.picks)


async def _switched_off(reader_ids: list[int]) -> list[int]:
    if not reader_ids:
        return []
    rows = await connections.get("default").execute_query_dict(
        "SELECT reader_id FROM recommendation_setting WHERE NOT personal AND reader_id = ANY($1::int[])", [reader_ids]
    )
    return [int(row["reader_id"]) for row in rows]


async def loan_visible(loan_id: int) -> bool:
    """Whether a loan a checkout reported has committed (a refresh queued from inside it may run first)."""
    return await Loan.exists(id=loan_id)


async def refresh_reader(store: PickStore, models: ModelCache, reader_id: int) -> bool:
    """Recompute one reader's picks with the model served and their loans as they are now (after a checkout).
    False when there is nothing to do: personal picks off (their picks are deleted), or no model yet."""
    if not await personal_on_id(reader_id):
        await store.forget_reader(reader_id)
        return False
    loaded = await models.model(store)
    if loaded is None:
        return False
    version, model = loaded
    picks = await _picks_now(model, reader_id)
    await store.write_picks(version, {reader_id: picks})
    if not await personal_on_id(reader_id):  # switched off meanwhile: what was just written goes too
        await store.forget_reader(reader_id)
        return False
    return True


async def _picks_now(model: Model, reader_id: int) -> list[Pick]:
    conn = connections.get("default")
    rows: list[dict[str, Any]] = await conn.execute_query_dict(
        "SELECT c.record_id, l.checked_out_at FROM loan l JOIN copy c ON c.id = l.copy_id WHERE l.reader_id = $1",
        [reader_id],
    )
    kind = await conn.execute_query_dict("SELECT reader_type FROM reader WHERE id = $1", [reader_id])
    segments = {CARD: CHILD if kind and kind[0]["reader_type"] == "child" else ADULT}
    history = model.history_from([(str(row["record_id"]), _days(row["checked_out_at"])) for row in rows], segments)
    return model.recommend(history, blend_for(segments), PICKS_PER_READER)
