"""The trained model and the blend of its sources: the one code path behind served picks and the evaluation.

Each source's scores are standardised per reader (z-scores over the reader's candidate pool: the union of every
weighted source's own best items) and added with the blend's weights, which depend on how much the reader has
borrowed: readers with no loans get recent popularity alone, readers with one or two recent popularity and content,
warm readers (three loans or more) everything. The weights were chosen on the Shakespeare and Company loans
(docs/benchmarks.md: the grid point whose worse period of 1925-30 and 1931-35 was best).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt

from recommendations.data import Days, Item, LoanLog, ReaderSegments
from recommendations.reasons import Pick, Reason
from recommendations.sources import (
    CoBorrow,
    Content,
    FloatArray,
    History,
    Popularity,
    Ranked,
    SegmentPopularity,
    Source,
    contained,
    distinct,
)

WARM_LOANS = 3
"""Readers with at least this many loans get the collaborative sources; fewer is cold."""

POPULARITY = "popularity"
RECENT = "recent-popularity"
CO_BORROW = "co-borrow"
CONTENT = "content"


@dataclass(frozen=True, slots=True)
class Blend:
    """Weights per source name for readers with no loans, with one or two, and with `WARM_LOANS` or more."""

    warm: Mapping[str, float]
    few: Mapping[str, float]
    none: Mapping[str, float]
    pool: int = 200  # each weighted source's best items that enter the reader's pool

    @classmethod
    def alone(cls, source: str) -> Blend:
        """One source for every reader: how a source is measured on its own."""
        return cls(warm={source: 1.0}, few={source: 1.0}, none={source: 1.0})

    def weights_for(self, history: History) -> Mapping[str, float]:
        if history.loans >= WARM_LOANS:
            return self.warm
        return self.few if history.loans > 0 else self.none


SHIPPED = Blend(
    warm={RECENT: 1.0, CO_BORROW: 1.0, CONTENT: 0.5, POPULARITY: 0.5},
    few={RECENT: 1.0, CONTENT: 0.5, POPULARITY: 0.5},
    none={RECENT: 1.0},
)
"""What production serves; the evaluation's `shipped` method."""


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Segments within one segment of another segmentation (age bands within children's cards): a reader in one reads
    its recent popularity, and a reader of none (or of a value no loan was lent in) the broader segment's."""

    segmentation: str
    within: tuple[str, str]
    """The broader segment: one of `TrainingSettings.segmentations`, and its value."""


@dataclass(frozen=True, slots=True)
class TrainingSettings:
    recent_half_life: float = 30.0  # days: popularity "now"
    profile_half_life: float = 365.0  # days: how fast a reader's older loans fade from their profile
    neighbours: int = 100  # co-borrowed items kept per item
    max_items_per_reader: int = 500  # a reader's most recent distinct items counted in co-borrows
    # Distinct readers who borrowed both items before a pair is shown in the record page's public "also borrowed":
    # fewer would let it reveal what one identifiable reader borrowed. Personal picks use every pair (their reason
    # names only the reader's own book).
    public_min_co_borrowers: int = 5
    segmentations: tuple[str, ...] = ()  # reader columns with a recent-popularity list per value (library, age band)
    narrowings: tuple[Narrowing, ...] = ()


@dataclass
class Model:
    """Everything learned from the loans before `as_of`; ask it for any reader's picks, given their history."""

    as_of: Days
    item_keys: tuple[str, ...]
    candidates: np.ndarray  # bool per item position: seen in the loans the model learned from
    sources: dict[str, Source]
    histories: dict[str, History] = field(repr=False)
    settings: TrainingSettings = field(default_factory=TrainingSettings)
    _positions: dict[str, int] = field(default_factory=dict, repr=False)

    def history_of(self, reader: str, segments: Mapping[str, str] | None = None) -> History:
        """The reader's history as learned (empty for a reader with no loans before `as_of`)."""
        history = self.histories.get(reader)
        if history is None:
            return History.empty(segments)
        return history

    def history_from(self, loans: list[tuple[str, Days]], segments: Mapping[str, str] | None = None) -> History:
        """A history from (item key, day) loans, e.g. read fresh after a checkout; unknown items are left out."""
        if not self._positions:
            self._positions.update((key, position) for position, key in enumerate(self.item_keys))
        latest: dict[int, Days] = {}
        for key, day in loans:
            position = self._positions.get(key)
            if position is not None:
                latest[position] = max(day, latest.get(position, day))
        ordered = sorted(latest.items(), key=lambda pair: (-pair[1], pair[0]))
        return History(
            np.array([position for position, _ in ordered], dtype=np.int32),
            np.array([day for _, day in ordered], dtype=np.float64),
            len(loans),
            segments or {},
        )

    def recommend(self, history: History, blend: Blend = SHIPPED, n: int = 10) -> list[Pick]:
        """The reader's `n` best items not in their history, each with the reason of the source that weighed most."""
        return self.recommend_many([history], blend, n)[0]

    def recommend_many(self, histories: Sequence[History], blend: Blend = SHIPPED, n: int = 10) -> list[list[Pick]]:
        """`recommend` for each of many readers, the same picks, with each source's sparse work done for all of them
        at once (the readers of each weighting of the blend together)."""
        picks: list[list[Pick]] = [[] for _ in histories]
        by_weights: dict[int, list[int]] = {}
        for index, history in enumerate(histories):
            by_weights.setdefault(id(blend.weights_for(history)), []).append(index)
        for indices in by_weights.values():
            group = [histories[index] for index in indices]
            chosen = self._recommend_alike(group, blend.weights_for(group[0]), blend.pool, n)
            for index, reader_picks in zip(indices, chosen, strict=True):
                picks[index] = reader_picks
        return picks

    def _recommend_alike(
        self, histories: list[History], blend_weights: Mapping[str, float], pool_size: int, n: int
    ) -> list[list[Pick]]:
        weights = {name: weight for name, weight in blend_weights.items() if weight and name in self.sources}
        if not weights:
            return [[] for _ in histories]
        scored = {name: self.sources[name].for_readers(histories) for name in weights}
        # Each reader's pool: every weighted source's best items, less the reader's own and unseen ones; as
        # (reader, item) keys, sorted by reader, then item.
        width = np.int64(len(self.item_keys))
        depths = np.array([pool_size + len(history.items) for history in histories], dtype=np.int64)
        keys = [_pairs(scores.top(depths), width) for scores in scored.values()]
        own = [np.zeros(0, np.int64)] + [reader * width + history.items for reader, history in enumerate(histories)]
        pool = distinct(np.concatenate(keys))
        pool = pool[self.candidates[pool % width] & ~contained(pool, distinct(np.concatenate(own)))]
        readers, items = (pool // width).astype(np.int32), (pool % width).astype(np.int32)
        raw = {name: scores.at(readers, items) for name, scores in scored.items()}
        bounds = np.searchsorted(readers, np.arange(len(histories) + 1))
        names = list(weights)
        # Per reader (a few array operations each): standardise, add up, order, and which source led each pick.
        chosen: list[tuple[Positions, Positions, FloatArray]] = []
        for lo, hi in itertools.pairwise(bounds.tolist()):
            if lo == hi:
                chosen.append((np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)))
                continue
            if len(names) == 1:  # one source: its own order, exactly (standardising could only create ties)
                contributions = [raw[names[0]][lo:hi]]
            else:
                contributions = [weights[name] * _standardised(raw[name][lo:hi]) for name in names]
            total = np.sum(contributions, axis=0)
            order = np.argsort(-total, kind="stable")[:n]
            if len(names) == 1:
                order = order[total[order] > 0]  # a source alone that has nothing more to say
            leading = np.argmax(np.vstack(contributions)[:, order], axis=0) if len(order) else order
            chosen.append((lo + order, leading, total[order]))
        picked = np.concatenate([np.zeros(0, np.int64), *(entries for entries, _, _ in chosen)])
        led_by = np.concatenate([np.zeros(0, np.int64), *(leading for _, leading, _ in chosen)])
        reasons: list[Reason | None] = [None] * len(picked)
        for source, name in enumerate(names):
            mine = np.flatnonzero(led_by == source)
            led = scored[name].reasons(readers[picked[mine]], items[picked[mine]])
            for at, reason in zip(mine.tolist(), led, strict=True):
                reasons[at] = reason
        picks: list[list[Pick]] = []
        start = 0
        for entries, _, totals in chosen:
            picks.append(
                [
                    Pick(self.item_keys[item], score, cast("Reason", reason))
                    for item, score, reason in zip(
                        items[entries].tolist(), totals.tolist(), reasons[start : start + len(entries)], strict=True
                    )
                ]
            )
            start += len(entries)
        return picks

    def also_borrowed(self, n: int = 10) -> Ranked:
        """Every record page's "readers who borrowed this also borrowed" (by item position): public, so only pairs
        at least `settings.public_min_co_borrowers` distinct readers borrowed both of."""
        co_borrow = self.sources.get(CO_BORROW)
        if not isinstance(co_borrow, CoBorrow):
            return Ranked(np.zeros(len(self.item_keys) + 1, np.int64), np.zeros(0, np.int32))
        return co_borrow.also_borrowed(n, self.settings.public_min_co_borrowers)


Positions = npt.NDArray[np.int64]


def _pairs(ranked: Ranked, width: np.int64) -> Positions:
    """A batch's ranked items as (reader, item) keys: reader * width + item."""
    readers = np.repeat(np.arange(len(ranked.indptr) - 1, dtype=np.int64), np.diff(ranked.indptr))
    return readers * width + ranked.items


def _standardised(scores: FloatArray) -> FloatArray:
    spread = scores.std()
    if spread == 0:
        return np.zeros_like(scores)
    return np.asarray((scores - scores.mean()) / spread, dtype=np.float64)


def train(
    log: LoanLog,
    items: Mapping[str, Item],
    readers: ReaderSegments,
    as_of: Days,
    settings: TrainingSettings = TrainingSettings(),
) -> Model:
    """Learn every source from the loans before `as_of` (pure computation: run it in a process of its own)."""
    log = log.where(log.days < as_of)
    popularity = Popularity(log, as_of, half_life=None)
    recent = Popularity(log, as_of, half_life=settings.recent_half_life)
    sources: dict[str, Source] = {
        POPULARITY: popularity,
        RECENT: recent,
        CO_BORROW: CoBorrow(
            log,
            neighbours=settings.neighbours,
            max_items_per_reader=settings.max_items_per_reader,
            half_life=settings.profile_half_life,
        ),
        CONTENT: Content(log, items, half_life=settings.profile_half_life),
    }
    reader_positions = {key: position for position, key in enumerate(log.reader_keys)}

    def by_reader(segmentation: str) -> dict[int, str]:
        return {
            reader_positions[reader]: values[segmentation]
            for reader, values in readers.items()
            if reader in reader_positions and segmentation in values
        }

    for segmentation in settings.segmentations:
        sources[segment_source(segmentation)] = SegmentPopularity(
            log, as_of, settings.recent_half_life, segmentation, by_reader(segmentation), recent.fixed
        )
    for narrowing in settings.narrowings:
        broader = cast("SegmentPopularity", sources[segment_source(narrowing.within[0])]).list_of(narrowing.within[1])
        sources[segment_source(narrowing.segmentation)] = SegmentPopularity(
            log,
            as_of,
            settings.recent_half_life,
            narrowing.segmentation,
            by_reader(narrowing.segmentation),
            broader or recent.fixed,
        )
    candidates = np.bincount(log.items, minlength=len(log.item_keys)) > 0
    return Model(as_of, log.item_keys, candidates, sources, _histories(log, readers), settings)


def segment_source(segmentation: str) -> str:
    """The name of the source of recent popularity per value of a segmentation."""
    return f"{RECENT}-by-{segmentation}"


def _histories(log: LoanLog, readers: ReaderSegments) -> dict[str, History]:
    histories: dict[str, History] = {}
    order = np.lexsort((log.items, -log.days, log.readers))  # per reader, newest first
    readers_sorted, items_sorted, days_sorted = log.readers[order], log.items[order], log.days[order]
    boundaries = np.flatnonzero(np.diff(readers_sorted)) + 1
    starts: list[int] = [0, *boundaries.tolist(), len(order)] if len(order) else []
    for lo, hi in itertools.pairwise(starts):
        reader_items, reader_days = items_sorted[lo:hi], days_sorted[lo:hi]
        _, first = np.unique(reader_items, return_index=True)  # the newest loan of each item
        first.sort()
        key = log.reader_keys[int(readers_sorted[lo])]
        histories[key] = History(reader_items[first], reader_days[first], int(hi - lo), readers.get(key, {}))
    return histories
