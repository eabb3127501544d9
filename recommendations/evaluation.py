"""Offline evaluation with a time split: train before each cutoff, test on what readers borrowed for the first time
in the horizon after it, and compare methods by Recall@k and NDCG@k, warm and cold readers apart."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from recommendations.blend import (
    CO_BORROW,
    CONTENT,
    POPULARITY,
    RECENT,
    SHIPPED,
    WARM_LOANS,
    Blend,
    Model,
    TrainingSettings,
    train,
)
from recommendations.data import Item, LoanLog, ReaderSegments, days_of
from recommendations.sources import Source

SHIPPED_METHOD = "shipped"

MoreSources = Callable[[Model, LoanLog], Mapping[str, Source]]
"""Sources trained at each cutoff beside the model's own, from the model and the loans before the cutoff, added to
the model under their names so that blends can weigh them: how a bench measures a source production does not train
(bench/recs_als.py: ALS and BPR) by the very same protocol."""


def default_methods(segmentations: Iterable[str] = ()) -> dict[str, Blend]:
    """Each source alone, recent popularity per reader segment, and the blend production serves."""
    methods = {name: Blend.alone(name) for name in (POPULARITY, RECENT, CO_BORROW, CONTENT)}
    methods |= {f"{RECENT}-by-{column}": Blend.alone(f"{RECENT}-by-{column}") for column in segmentations}
    methods[SHIPPED_METHOD] = SHIPPED
    return methods


@dataclass
class _Totals:
    readers: int = 0
    recall: float = 0.0
    ndcg: float = 0.0

    def add(self, recall: float, ndcg: float) -> None:
        self.readers += 1
        self.recall += recall
        self.ndcg += ndcg

    def merged(self, other: _Totals) -> _Totals:
        return _Totals(self.readers + other.readers, self.recall + other.recall, self.ndcg + other.ndcg)

    def as_json(self, k: int) -> dict[str, Any]:
        readers = max(self.readers, 1)
        return {f"recall@{k}": self.recall / readers, f"ndcg@{k}": self.ndcg / readers, "readers": self.readers}


@dataclass
class MethodScores:
    """One method's results over one or more cutoffs."""

    warm: _Totals = field(default_factory=_Totals)
    cold: _Totals = field(default_factory=_Totals)
    coverages: list[float] = field(default_factory=list)  # per cutoff: share of candidates in someone's top k

    def merged(self, other: MethodScores) -> MethodScores:
        return MethodScores(
            self.warm.merged(other.warm), self.cold.merged(other.cold), self.coverages + other.coverages
        )

    def as_json(self, k: int) -> dict[str, Any]:
        return {
            **self.warm.merged(self.cold).as_json(k),
            "warm": self.warm.as_json(k),
            "cold": self.cold.as_json(k),
            "coverage": sum(self.coverages) / max(len(self.coverages), 1),
        }


@dataclass
class CutoffResult:
    cutoff: date
    train_loans: int
    candidates: int
    methods: dict[str, MethodScores]


@dataclass
class Evaluation:
    """Results per cutoff and over all cutoffs (every tested reader of every cutoff counts once per cutoff)."""

    k: int
    horizon_days: int
    cutoffs: list[CutoffResult]

    def overall(self) -> dict[str, MethodScores]:
        total: dict[str, MethodScores] = {}
        for result in self.cutoffs:
            for name, scores in result.methods.items():
                total[name] = total[name].merged(scores) if name in total else scores
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "horizon_days": self.horizon_days,
            "warm_readers_have_loans": WARM_LOANS,
            "cutoffs": [result.cutoff.isoformat() for result in self.cutoffs],
            "methods": {name: scores.as_json(self.k) for name, scores in self.overall().items()},
            "per_cutoff": {
                result.cutoff.isoformat(): {
                    "train_loans": result.train_loans,
                    "candidates": result.candidates,
                    "methods": {name: scores.as_json(self.k) for name, scores in result.methods.items()},
                }
                for result in self.cutoffs
            },
        }

    def table(self) -> str:
        k = self.k
        header = (
            "method",
            f"recall@{k}",
            f"ndcg@{k}",
            "warm recall",
            "warm ndcg",
            "cold recall",
            "cold ndcg",
            "coverage",
        )
        rows: list[tuple[str, ...]] = [header]
        overall = self.overall()
        for name, scores in overall.items():
            whole, warm, cold = (
                scores.warm.merged(scores.cold).as_json(k),
                scores.warm.as_json(k),
                scores.cold.as_json(k),
            )
            rows.append(
                (
                    name,
                    *(f"{part[f'{metric}@{k}']:.4f}" for part in (whole, warm, cold) for metric in ("recall", "ndcg")),
                    f"{scores.as_json(k)['coverage']:.3f}",
                )
            )
        widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
        lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
        any_method = next(iter(overall.values()), MethodScores())
        cutoffs = ", ".join(result.cutoff.isoformat() for result in self.cutoffs)
        lines.append(
            f"cutoffs {cutoffs}; horizon {self.horizon_days} days; tested readers: {any_method.warm.readers} warm "
            f"(>= {WARM_LOANS} loans before the cutoff), {any_method.cold.readers} cold"
        )
        return "\n".join(lines)


def first_time_borrows(log: LoanLog, train_log: LoanLog) -> dict[str, set[str]]:
    """Per reader, the items borrowed in `log` that the reader had not borrowed in `train_log`."""
    seen = set(zip(train_log.readers.tolist(), train_log.items.tolist(), strict=True))
    tests: dict[str, set[str]] = {}
    for reader, item in zip(log.readers.tolist(), log.items.tolist(), strict=True):
        if (reader, item) not in seen:
            tests.setdefault(log.reader_keys[reader], set()).add(log.item_keys[item])
    return tests


def recall_and_ndcg(picked: Sequence[str], relevant: set[str], k: int) -> tuple[float, float]:
    """Recall@k (hits over everything the reader borrowed) and binary NDCG@k."""
    hits = [rank for rank, item in enumerate(picked[:k]) if item in relevant]
    dcg = sum(1.0 / math.log2(rank + 2) for rank in hits)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return len(hits) / len(relevant), dcg / ideal


def evaluate(
    log: LoanLog,
    items: Mapping[str, Item],
    readers: ReaderSegments,
    cutoffs: Sequence[date],
    horizon_days: int,
    *,
    methods: Mapping[str, Blend] | None = None,
    settings: TrainingSettings | None = None,
    k: int = 10,
    more_sources: MoreSources | None = None,
) -> Evaluation:
    """Train at each cutoff on the loans before it; recommend `k` items to every reader who borrowed something new in
    the `horizon_days` after it (candidates: the items borrowed before the cutoff); score each method."""
    segmentations = sorted({column for values in readers.values() for column in values})
    settings = settings or TrainingSettings(segmentations=tuple(segmentations))
    methods = methods if methods is not None else default_methods(settings.segmentations)
    results = []
    for cutoff in cutoffs:
        start, end = days_of(cutoff), days_of(cutoff + timedelta(days=horizon_days))
        train_log = log.where(log.days < start)
        model = train(train_log, items, readers, start, settings)
        if more_sources is not None:
            model.sources.update(more_sources(model, train_log))
        tests = first_time_borrows(log.between(start, end), train_log)
        results.append(
            CutoffResult(
                cutoff,
                len(train_log),
                int(model.candidates.sum()),
                {name: _score(model, blend, tests, readers, k) for name, blend in methods.items()},
            )
        )
    return Evaluation(k, horizon_days, results)


def _score(model: Model, blend: Blend, tests: Mapping[str, set[str]], readers: ReaderSegments, k: int) -> MethodScores:
    scores = MethodScores()
    shown: set[str] = set()
    for reader in sorted(tests):
        history = model.history_of(reader, readers.get(reader))
        picked = [pick.item for pick in model.recommend(history, blend, k)]
        shown.update(picked)
        recall, ndcg = recall_and_ndcg(picked, tests[reader], k)
        (scores.warm if history.loans >= WARM_LOANS else scores.cold).add(recall, ndcg)
    scores.coverages.append(len(shown) / max(int(np.count_nonzero(model.candidates)), 1))
    return scores
