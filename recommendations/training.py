"""Training from PostgreSQL (nightly, and `shuxiang recs train`) and the per-reader refresh after a checkout.

What the models may learn from is what readers agreed to keep linked to them: a loan names its reader while it is
open and, once returned, only if the reader keeps a reading history (then until the retention job unlinks it).
Those loans, of readers whose personal picks are on, are each reader's history. Every other loan (returned loans
that lost their reader, and every loan of a card whose personal picks are off) counts only as an anonymous loan of
its own: it adds to how popular its record is, lately and in its card's kind (adult or child) and, while it names a
child's card, that card's age band, and to nothing personal: no history, no co-borrow pair, no picks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from tortoise import connections

from backend.accounts.ages import age_in_months, birth_of
from backend.accounts.models import Reader, ReaderType
from backend.circulation.models import Loan
from backend.clock import NetworkTime
from recommendations.blend import RECENT, SHIPPED, Blend, Model, Narrowing, TrainingSettings, segment_source, train
from recommendations.consent import RefreshQueue, personal_on_id
from recommendations.data import AGE_BANDS, AgeBand, Days, Item, LoanLog, age_band, days_of, numbered
from recommendations.models import RecommendationSetting
from recommendations.process import run_in_process
from recommendations.reasons import Pick, Reason, ReasonKind
from recommendations.sources import Ranked, best_first, decay
from recommendations.store import ModelCache, PickStore, encode_picks, pack_model

log = logging.getLogger(__name__)

PICKS_PER_READER = 50
"""Picks stored per reader: a reader's screens show a page of them after the request-time filters."""
NIGHTLY_PICKS_DAYS = 90
"""The nightly run computes picks only for readers with personal picks on who borrowed in the last 90 days: a loan
period and its renewals, so readers with books out or just back, the ones likely to open the app. At city scale
(docs/benchmarks.md: 10M loans) that is about a quarter of them: 7 minutes of CPU and 1.1 GB of picks in Redis, where
everyone's would be about half an hour and 5 GB, mostly for readers who do not come. A reader left out gets picks
when they first open them (serving queues the refresh, `RefreshQueue.enqueue_recommendation_refresh`, when it finds
none) or when they next borrow."""
PICK_BATCH = 200
"""Readers scored together (`Model.recommend_many`): at 1M loans batches of 100 to 1,000 cost about the same, about
half the CPU per reader of one at a time; larger ones only grow the matrices (docs/benchmarks.md)."""
LOAD_BATCH = 50_000
"""Rows read from PostgreSQL at a time while loading (a cursor): ten million loans never become rows at once."""
ALSO_BORROWED = 20
"""Neighbours stored per record."""
CARD = "card"
"""The segmentation of readers by card kind: recent popularity among children's loans is the list of a child's card
without an age band (`AGE_BAND`)."""
CHILD = "child"
ADULT = "adult"
AGE_BAND = "age_band"
"""The segmentation of children's cards by age band (`data.AGE_BANDS`, the card's age now, on the network's calendar):
a child's recent popularity is its band's children's loans', else (no birth month, or a band in which fewer than
`public_min_co_borrowers` children's cards borrowed: its list would tell what one or two children read) all
children's."""
TRAINING = TrainingSettings(segmentations=(CARD,), narrowings=(Narrowing(AGE_BAND, (CARD, CHILD)),))
TRAINING_LOCK_SECONDS = 4 * 3600
"""How long a training run holds the lock at most: longer than the worker's timeout of the job (3 h)."""
POPULAR_WINDOW_DAYS = 180
"""Recent popularity as served when a card has no personal picks: loans of the last 180 days, each halving every
30 (the model's recent popularity), the best `POPULAR_LIST`."""
POPULAR_LIST = 100
NETWORK = "network"
"""Names of the recent-popularity lists: the network's, children's loans' (`CHILD`), each age band's
(`band_list_name`), and `library:<id>`."""

_NO_BAND = -1
# Per (child's card, age band): shared, as one small dict per reader would add up.
_SEGMENTS = {
    (False, _NO_BAND): {CARD: ADULT},
    (True, _NO_BAND): {CARD: CHILD},
    **{(True, code): {CARD: CHILD, AGE_BAND: band.name} for code, band in enumerate(AGE_BANDS)},
}


def band_list_name(band: AgeBand) -> str:
    return f"{AGE_BAND}:{band.name}"


def band_of(reader: Reader, today: date) -> AgeBand | None:
    """A child's card's age band on `today`, a day of the network's calendar (None: an adult's card, or a child's
    without a birth month)."""
    return _band_at(birth_of(reader), today) if reader.reader_type == ReaderType.CHILD else None


def _band_at(born: date | str | None, today: date) -> AgeBand | None:
    return age_band(age_in_months(born, today)) if born else None


def child_bands(rows: Iterable[Mapping[str, Any]], today: date) -> Iterator[tuple[int, AgeBand]]:
    """(id, age band on `today`) of each child's card read as a row (`id`, `date_of_birth`, `birth_month`) that has
    one (its birth as `ages.birth_of` reads a card's)."""
    for row in rows:
        band = _band_at(row["date_of_birth"] or row["birth_month"], today)
        if band is not None:
            yield row["id"], band


def card_segments(reader: Reader, today: date) -> Mapping[str, str]:
    """The card's segments as training gives them: its kind and, a child's, its age band on `today`."""
    band = band_of(reader, today)
    return _SEGMENTS[reader.reader_type == ReaderType.CHILD, _NO_BAND if band is None else AGE_BANDS.index(band)]


def with_children(band: list[Pick], cards: int, children: list[Pick]) -> list[Pick]:
    """An age band's recent-popularity list as served: its records, best first, then all children's others, so a band
    of few readers still fills a page; all children's when fewer than `public_min_co_borrowers` children's `cards`
    borrowed them (the list of one child's loans would tell what that child reads)."""
    if cards < TRAINING.public_min_co_borrowers:
        return children
    own = {pick.item for pick in band}
    return [*band, *(pick for pick in children if pick.item not in own)][:POPULAR_LIST]


def blend_for(segments: Mapping[str, str]) -> Blend:
    """The shipped blend; on a child's card its recent popularity is its age band's (the age list; all children's
    without a band), not everyone's."""
    if segments.get(CARD) != CHILD:
        return SHIPPED
    children = segment_source(AGE_BAND if AGE_BAND in segments else CARD)

    def swapped(weights: Mapping[str, float]) -> dict[str, float]:
        return {(children if name == RECENT else name): weight for name, weight in weights.items()}

    return Blend(warm=swapped(SHIPPED.warm), few=swapped(SHIPPED.few), none=swapped(SHIPPED.none), pool=SHIPPED.pool)


def _blend_kind(segments: Mapping[str, str]) -> tuple[str, bool]:
    """Readers of one kind share a blend (`blend_for`)."""
    return segments[CARD], AGE_BAND in segments


def _days(moment: datetime) -> Days:
    return days_of(moment.astimezone(UTC).replace(tzinfo=None))


@dataclass(frozen=True, slots=True)
class TrainingData:
    log: LoanLog
    items: dict[str, Item]
    segments: dict[str, dict[str, str]]
    personal: frozenset[str]
    """Reader keys (ids as text) whose picks are computed: cards with personal picks on."""
    libraries: npt.NDArray[np.int64]
    """Per loan of the log (same order), the library that lent it."""
    children: npt.NDArray[np.bool_]
    """Per loan, whether it was lent on a child's card (its reader category then)."""
    cards: npt.NDArray[np.int64]
    """Per loan, the child's card it names; -1: none (an adult's card, a loan that no longer names its reader)."""
    bands: npt.NDArray[np.int8]
    """Per loan that names a child's card, the card's age band now (a position in `AGE_BANDS`); -1: none (a child's
    card without a birth month, a band in which too few cards borrowed, `with_children`, or no child's card)."""


@dataclass(frozen=True, slots=True)
class Trained:
    model: list[bytes]
    """The packed model's pieces (`pack_model`)."""
    picks: dict[int, bytes]
    """Per reader id, their picks as stored (`encode_picks`): bytes cross from the training process far more cheaply
    than millions of `Pick` objects."""
    record_ids: npt.NDArray[np.int64]
    """Per item position of the model, its record id."""
    also_borrowed: Ranked
    """Per item position, its public neighbours (positions)."""
    popular: dict[str, list[Pick]]

    def neighbour_lists(self) -> Iterator[tuple[int, list[int]]]:
        """(record id, neighbour record ids) for every record with neighbours."""
        for item in np.flatnonzero(np.diff(self.also_borrowed.indptr)).tolist():
            yield int(self.record_ids[item]), self.record_ids[self.also_borrowed.of(item)].tolist()


_LOANS = """
SELECT l.id, c.record_id, l.library_id, (EXTRACT(EPOCH FROM l.checked_out_at) * 1000000)::bigint AS lent_us,
       l.reader_category <> 'adult' AS child_loan,
       CASE WHEN l.reader_id IS NOT NULL AND COALESCE(s.personal, r.reader_type = 'adult') THEN l.reader_id END
           AS personal_reader,
       CASE WHEN r.reader_type = 'child' THEN l.reader_id END AS child_card
FROM loan l
JOIN copy c ON c.id = l.copy_id
LEFT JOIN reader r ON r.id = l.reader_id
LEFT JOIN recommendation_setting s ON s.reader_id = l.reader_id
"""
_ITEMS = """
SELECT id, title, authors, clc_class, year FROM record
WHERE id IN (SELECT DISTINCT c.record_id FROM loan l JOIN copy c ON c.id = l.copy_id)
"""
_CHILDREN = "SELECT id, date_of_birth, birth_month FROM reader WHERE reader_type = 'child' ORDER BY id"


async def _batches_of(query: str, size: int) -> AsyncIterator[Sequence[Any]]:
    """The query's rows, `size` at a time, through a cursor (in a transaction of its own, as cursors need)."""
    async with connections.get("default").acquire_connection() as connection, connection.transaction():
        cursor = await connection.cursor(query)
        while rows := await cursor.fetch(size):
            yield rows


async def load_training_data(today: date, batch: int = LOAD_BATCH) -> TrainingData:
    """The loans and records the models learn from (see the module's note for which loans name their reader), read
    in batches into arrays: 10M loans as Python rows would take several GB on their own. Children's cards are in
    their age band on `today`, a day of the network's calendar."""
    loan_ids, record_ids, libraries, lent_us, child_loans, personal_ids, child_cards = [], [], [], [], [], [], []
    async for rows in _batches_of(_LOANS, batch):
        loan_ids.append(np.fromiter((row[0] for row in rows), np.int64, len(rows)))
        record_ids.append(np.fromiter((row[1] for row in rows), np.int64, len(rows)))
        libraries.append(np.fromiter((row[2] for row in rows), np.int64, len(rows)))
        lent_us.append(np.fromiter((row[3] for row in rows), np.int64, len(rows)))
        child_loans.append(np.fromiter((row[4] for row in rows), np.bool_, len(rows)))
        personal_ids.append(np.fromiter((-1 if row[5] is None else row[5] for row in rows), np.int64, len(rows)))
        child_cards.append(np.fromiter((-1 if row[6] is None else row[6] for row in rows), np.int64, len(rows)))
    loans, personal_id, children = _joined(loan_ids), _joined(personal_ids), _joined(child_loans, np.bool_)
    named = personal_id >= 0
    # A personal reader's key is their id; every other loan is a reader of its own, `~<loan id>`, who co-borrows
    # nothing. Digits sort before "~": the personal readers come first, as `LoanLog.from_rows` would number them.
    personal_keys, personal_positions = numbered(personal_id[named])
    anonymous_keys, anonymous_positions = numbered(loans[~named], prefix="~")
    readers = np.zeros(len(loans), np.int32)
    readers[named] = personal_positions
    readers[~named] = len(personal_keys) + anonymous_positions
    item_keys, items = numbered(_joined(record_ids))
    # The card of a personal reader is theirs now; an anonymous loan's, the one it was lent on, in the age band of
    # the child's card it still names.
    child_card = _joined(child_cards)
    bands = await _bands_of(child_card, today, batch)
    # Microseconds since 1970 to days exactly as `days_of` divides a `timedelta`.
    days = _joined(lent_us).astype(np.float64) / 1e6 / 86400.0
    # A band in which too few cards borrowed lately (the served lists' window, which the model's decay also weighs
    # most) has no list of its own, in the model or served: its children read all children's (`with_children`).
    lately = days > days_of(today) - POPULAR_WINDOW_DAYS
    thin = np.flatnonzero(cards_per_band(bands, child_card, lately) < TRAINING.public_min_co_borrowers)
    bands[np.isin(bands, thin)] = _NO_BAND
    keys = personal_keys + anonymous_keys
    child_readers = np.zeros(len(keys), np.bool_)
    child_readers[personal_positions] = (child_card >= 0)[named]
    child_readers[len(personal_keys) + anonymous_positions] = children[~named]
    reader_bands = np.full(len(keys), _NO_BAND, np.int8)
    reader_bands[personal_positions] = bands[named]
    reader_bands[len(personal_keys) + anonymous_positions] = np.where(children[~named], bands[~named], _NO_BAND)
    segments = {
        key: _SEGMENTS[child, band]
        for key, child, band in zip(keys, child_readers.tolist(), reader_bands.tolist(), strict=True)
    }
    records: dict[str, Item] = {}
    async for rows in _batches_of(_ITEMS, batch):
        records.update((str(row["id"]), Item.of_record(row)) for row in rows)
    return TrainingData(
        LoanLog(keys, item_keys, readers, items, days),
        records,
        segments,
        frozenset(personal_keys),
        _joined(libraries),
        children,
        child_card,
        bands,
    )


def cards_per_band(
    bands: npt.NDArray[np.int8], cards: npt.NDArray[np.int64], among: npt.NDArray[np.bool_]
) -> npt.NDArray[np.int64]:
    """Per age band (a position in `AGE_BANDS`), the distinct children's cards of the loans `among` (`bands` and
    `cards` per loan, -1: none)."""
    banded = among & (bands >= 0)
    pairs = np.unique(np.stack([bands[banded].astype(np.int64), cards[banded]]), axis=1)
    return np.bincount(pairs[0], minlength=len(AGE_BANDS))


async def _bands_of(child_cards: npt.NDArray[np.int64], today: date, batch: int) -> npt.NDArray[np.int8]:
    """Per loan, the age band on `today` of the child's card it names (`child_cards`: the card's id, -1: none)."""
    ids: list[int] = []
    codes: list[int] = []
    async for rows in _batches_of(_CHILDREN, batch):
        for child, band in child_bands(rows, today):
            ids.append(child)
            codes.append(AGE_BANDS.index(band))
    if not ids:
        return np.full(len(child_cards), _NO_BAND, np.int8)
    known = np.array(ids, np.int64)  # sorted: the query orders them
    at = np.minimum(np.searchsorted(known, child_cards), len(known) - 1)
    return np.where(known[at] == child_cards, np.array(codes, np.int8)[at], _NO_BAND).astype(np.int8)


def _joined(batches: list[npt.NDArray[Any]], dtype: type = np.int64) -> npt.NDArray[Any]:
    return np.concatenate([np.zeros(0, dtype), *batches])


def train_and_pick(data: TrainingData, as_of: Days) -> Trained:
    """Train, then the picks of the readers who borrowed lately (`NIGHTLY_PICKS_DAYS`) and every record's neighbours:
    all CPU, run in a process."""
    model = train(data.log, data.items, data.segments, as_of, TRAINING)
    picks = pick_for(model, data.segments, readers_to_pick(data, as_of))
    record_ids = np.array(model.item_keys, dtype=np.int64)
    also = model.also_borrowed(ALSO_BORROWED)
    # Serving rebuilds a history from the card's loans when it needs one (`history_from`): the stored model keeps
    # nobody's, so a switch-off leaves no reading history behind in Redis, and the anonymous loans (a history of
    # one each: 10M loans made ~830 MB) do not make it larger.
    model.histories.clear()
    return Trained(pack_model(model), picks, record_ids, also, popular_lists(data, as_of))


def pick_for(model: Model, segments: Mapping[str, Mapping[str, str]], readers: Sequence[str]) -> dict[int, bytes]:
    """The readers' picks as stored, by reader id; `readers` by kind of card (`readers_to_pick`), whose readers share
    a blend and are scored together, `PICK_BATCH` at a time."""
    picks: dict[int, bytes] = {}
    for _, kind in itertools.groupby(readers, key=lambda reader: _blend_kind(segments[reader])):
        alike = list(kind)
        blend = blend_for(segments[alike[0]])
        for start in range(0, len(alike), PICK_BATCH):
            batch = alike[start : start + PICK_BATCH]
            histories = [model.history_of(reader, segments[reader]) for reader in batch]
            chosen = model.recommend_many(histories, blend, PICKS_PER_READER)
            picks.update((int(reader), encode_picks(mine)) for reader, mine in zip(batch, chosen, strict=True))
    return picks


def readers_to_pick(data: TrainingData, as_of: Days) -> list[str]:
    """The readers the nightly run picks for: personal picks on and a loan in the last `NIGHTLY_PICKS_DAYS`, by
    kind of card."""
    log = data.log
    lately = np.unique(log.readers[(log.days > as_of - NIGHTLY_PICKS_DAYS) & (log.days < as_of)])
    readers = [key for key in (log.reader_keys[position] for position in lately.tolist()) if key in data.personal]
    return sorted(readers, key=lambda reader: (_blend_kind(data.segments[reader]), reader))


def popular_lists(data: TrainingData, as_of: Days) -> dict[str, list[Pick]]:
    """Recent popularity as serving shows it to cards without personal picks: the network's, children's loans', each
    age band's (`with_children`), each library's (only lists with loans in the window)."""
    log = data.log
    recent = (log.days <= as_of) & (log.days > as_of - POPULAR_WINDOW_DAYS)
    weights = decay(as_of - log.days, TRAINING.recent_half_life)

    def best(mask: npt.NDArray[np.bool_], reason: Reason) -> list[Pick]:
        scores = np.bincount(log.items[mask], weights=weights[mask], minlength=len(log.item_keys)).astype(np.float64)
        return [Pick(log.item_keys[item], float(scores[item]), reason) for item in best_first(scores, POPULAR_LIST)]

    children = best(recent & data.children, Reason(ReasonKind.POPULAR_RECENTLY, segment=(CARD, CHILD)))
    lists = {NETWORK: best(recent, Reason(ReasonKind.POPULAR_RECENTLY)), CHILD: children}
    borrowed = cards_per_band(data.bands, data.cards, recent)
    for code, band in enumerate(AGE_BANDS):
        reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=(AGE_BAND, band.name))
        own = best(recent & (data.bands == code), reason)
        lists[band_list_name(band)] = with_children(own, int(borrowed[code]), children)
    for library in np.unique(data.libraries[recent]).tolist():
        reason = Reason(ReasonKind.POPULAR_RECENTLY, segment=("library", str(library)))
        lists[f"library:{library}"] = best(recent & (data.libraries == library), reason)
    return {name: picks for name, picks in lists.items() if picks}


async def run_training(store: PickStore, queue: RefreshQueue, now: datetime, network_time: NetworkTime) -> int:
    """Learn from the loans, write the picks, neighbours and popular lists as a new version, serve it, and refresh
    the readers who borrowed or changed their switch while it trained. Returns the readers with picks (0 when
    another run holds the lock: the nightly cron and `shuxiang recs train` never train at once)."""
    token = uuid.uuid4().hex
    if not await store.lock_training(token, TRAINING_LOCK_SECONDS):
        log.warning("recommendations not trained: another training run is under way")
        return 0
    try:
        return await _train_locked(store, queue, now, network_time)
    finally:
        await store.unlock_training(token)


async def _train_locked(store: PickStore, queue: RefreshQueue, now: datetime, network_time: NetworkTime) -> int:
    data = await load_training_data(network_time.day(now))
    if len(data.log) == 0:
        log.info("no loans to learn from")
        return 0
    # A process of its own: tokenising titles and the per-reader loops hold the GIL.
    trained = await run_in_process(train_and_pick, data, _days(now))
    version = await store.begin(trained.model)
    try:
        await store.write_encoded_picks(version, trained.picks.items())
        await store.write_also_borrowed(version, trained.neighbour_lists())
        await store.write_popular(version, trained.popular)
        # Cards switched off while this ran: their picks must not come back with the new version. A switch-off from
        # here on deletes in this version too (it is listed among the versions since `begin`).
        for reader_id in await _switched_off(list(trained.picks)):
            await store.forget_reader(reader_id)
        await store.publish(version)
    except BaseException:
        await store.delete_version(version)  # a failed run leaves no version of picks behind
        raise
    # Readers who borrowed, or switched their picks, while this trained (the loans it read ended about `now`):
    # their picks again, as they are now (a refresh deletes the picks of a card switched off).
    borrowed_since = await Loan.filter(checked_out_at__gte=now, reader_id__not_isnull=True).values_list(
        "reader_id", flat=True
    )
    switched_since = await RecommendationSetting.filter(changed_at__gte=now).values_list("reader_id", flat=True)
    for reader_id in sorted(set(cast("list[int]", borrowed_since)) | set(cast("list[int]", switched_since))):
        await queue.enqueue_recommendation_refresh(reader_id)
    log.info(
        "trained on %d loans: picks for %d readers, %d records",
        len(data.log),
        len(trained.picks),
        int(np.count_nonzero(np.diff(trained.also_borrowed.indptr))),
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


async def refresh_reader(store: PickStore, models: ModelCache, reader_id: int, today: date) -> bool:
    """Recompute one reader's picks with the model served and their loans as they are now (after a checkout), a
    child's card in its age band on `today` (a day of the network's calendar). False when there is nothing to do:
    personal picks off (their picks are deleted), or no model yet."""
    if not await personal_on_id(reader_id):
        await store.forget_reader(reader_id)
        return False
    for _ in range(2):  # a training run may flip the version served while this computed: then once again
        loaded = await models.model(store)
        if loaded is None:
            return False
        version, model = loaded
        picks = await _picks_now(model, reader_id, today)
        if await store.write_reader_picks(version, reader_id, picks):
            break
    else:
        return False
    if not await personal_on_id(reader_id):  # switched off meanwhile: what was just written goes too
        await store.forget_reader(reader_id)
        return False
    return True


async def _picks_now(model: Model, reader_id: int, today: date) -> list[Pick]:
    conn = connections.get("default")
    rows: list[dict[str, Any]] = await conn.execute_query_dict(
        "SELECT c.record_id, l.checked_out_at FROM loan l JOIN copy c ON c.id = l.copy_id WHERE l.reader_id = $1",
        [reader_id],
    )
    if not rows:  # nothing of theirs to learn from: no picks, so serving shows their kind's lists, not "personal"
        return []
    reader = await Reader.get_or_none(id=reader_id)
    if reader is None:  # the card was removed meanwhile
        return []
    segments = card_segments(reader, today)
    loans = [(str(row["record_id"]), _days(row["checked_out_at"])) for row in rows]
    # Scoring is CPU work: in a thread, so the worker's other jobs (the notice sender) go on meanwhile.
    return await asyncio.to_thread(_score, model, loans, segments)


def _score(model: Model, loans: list[tuple[str, Days]], segments: Mapping[str, str]) -> list[Pick]:
    return model.recommend(model.history_from(loans, segments), blend_for(segments), PICKS_PER_READER)
