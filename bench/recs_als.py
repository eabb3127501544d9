"""ALS and BPR (the `implicit` package) against co-borrow, by the protocol of `shuxiang recs evaluate` (issue 13).

    .venv/bin/pip install implicit==0.7.3         # bench only: not a dependency of the service
    nice .venv/bin/python -m bench.recs_als [--data ../shared/data/shakespeare-and-co-to-1935] \
        [--periods 1925-1930,1931-1935] [--seeds 5] [--json out.json]

The loans, cutoffs and horizon of docs/benchmarks.md ("Recommendations offline"): two periods of yearly cutoffs,
1925-1930 and 1931-1935, 365 days each. `recommendations.evaluation.evaluate` trains the production model at each
cutoff and this script adds ALS and BPR sources trained on the same loans (its `more_sources` hook), so every method
is scored on the same readers, candidates and first-time borrows, and the blends are the production blend's code.

1. Each factor model alone over a small grid (factors, regularisation, confidence or learning rate), next to the
   production sources alone and the shipped blend. A configuration is chosen the way the shipped weights were: the
   best warm Recall@10 in the worse period.
2. The chosen ALS and BPR in the blend: in place of co-borrow (the shipped weights, then the blend's own grid again
   with ALS for co-borrow: ALS 0/0.25/0.5/1, content 0/0.25/0.5/1, popularity 0/0.25/0.5, chosen the same way), and
   beside co-borrow (0.25/0.5/1 added to the shipped weights).
3. The chosen models and blends again with other random starts (`--seeds`): how much of a difference is the
   seed's; and reader by reader against shipped (warm readers of every cutoff, the recall averaged over the starts):
   how many it served better and worse, a sign test and a bootstrap interval of the mean difference. Both ignore that
   the configuration and the weights were chosen on these very readers, which flatters them.

Readers' factors are the ones trained (every tested reader with loans before the cutoff was trained on; a reader
with none gets no ALS scores, as co-borrow gives none). Each source's scores are shifted per reader to be positive
(standardising per reader, as the blend does, is unchanged by it), so a factor model alone always fills the top 10.
One BLAS and one implicit thread: the machines are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import product
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from recommendations.blend import CO_BORROW, CONTENT, POPULARITY, RECENT, SHIPPED, WARM_LOANS, Blend, Model
from recommendations.data import Item, LoanLog, ReaderSegments
from recommendations.evaluation import (
    SHIPPED_METHOD,
    Evaluation,
    MoreSources,
    default_methods,
    evaluate,
    first_time_borrows,
    recall_and_ndcg,
)
from recommendations.loans_csv import read_items, read_loans, read_readers
from recommendations.reasons import Reason, ReasonKind
from recommendations.sources import (
    BatchScores,
    FloatArray,
    History,
    IntArray,
    Offsets,
    Ranked,
    Source,
    best_first,
    reader_item_matrix,
)

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "shakespeare-and-co-to-1935"
PERIODS = "1925-1930,1931-1935"  # docs/benchmarks.md's: each a run of yearly cutoffs on 1 January
HORIZON_DAYS = 365
K = 10  # evaluate's default
MAX_ITEMS_PER_READER = 500  # the cap co-borrow counts with (TrainingSettings.max_items_per_reader)
WARM_RECALL = ("warm", "recall@10")

ALS_GRID = [
    {"factors": f, "regularization": r, "alpha": a}
    for f, r, a in product((16, 32, 64, 128), (0.01, 0.1, 1.0), (1.0, 10.0, 40.0))
]
BPR_GRID = [
    {"factors": f, "learning_rate": lr, "regularization": r}
    for f, lr, r in product((32, 64, 128), (0.01, 0.05), (0.01, 0.1))
]


class _FactorModel(Protocol):
    user_factors: npt.NDArray[np.float32]
    item_factors: npt.NDArray[np.float32]

    def fit(self, user_items: Any, show_progress: bool = ...) -> None: ...


# --- a factor model as a source of the production blend --------------------------------------------------------


def _history_key(history: History) -> bytes:
    return history.items.tobytes() + history.days.tobytes()


@dataclass(frozen=True, slots=True)
class _FactorScores:
    """A batch's scores (readers x items, dense: a small library's catalogue), shifted per reader to be positive
    on the candidates and 0 elsewhere."""

    scores: FloatArray
    item_factors: npt.NDArray[np.float32]
    histories: Sequence[History]
    item_keys: tuple[str, ...]

    def top(self, k: Offsets) -> Ranked:
        rows = [best_first(row, int(depth)) for row, depth in zip(self.scores, k.tolist(), strict=True)]
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return Ranked(indptr, np.concatenate([np.zeros(0, np.int32), *rows]).astype(np.int32))

    def at(self, readers: IntArray, items: IntArray) -> FloatArray:
        return np.asarray(self.scores[readers, items], dtype=np.float64)

    def reasons(self, readers: IntArray, items: IntArray) -> list[Reason]:
        """The reader's own book nearest the pick in the factor space (the reason a served ALS pick would give)."""
        reasons = []
        for reader, item in zip(readers.tolist(), items.tolist(), strict=True):
            own = self.histories[reader].items
            if len(own) == 0:
                reasons.append(Reason(ReasonKind.POPULAR_RECENTLY))
                continue
            nearest = own[int(np.argmax(self.item_factors[own] @ self.item_factors[item]))]
            reasons.append(Reason(ReasonKind.BORROWED, record=self.item_keys[int(nearest)]))
        return reasons


class FactorSource:
    """Scores from a factor model trained on the loans before the cutoff: a reader's trained factors against every
    item's. Readers are found by their history (the evaluation hands the model's own histories back)."""

    def __init__(
        self,
        model: _FactorModel,
        rows: Mapping[bytes, int],
        candidates: npt.NDArray[np.bool_],
        item_keys: tuple[str, ...],
    ) -> None:
        self.user_factors = np.asarray(model.user_factors)
        self.item_factors = np.asarray(model.item_factors)
        self.rows = rows
        self.candidates = candidates
        self.item_keys = item_keys

    def for_readers(self, histories: Sequence[History]) -> BatchScores:
        scores = np.zeros((len(histories), len(self.item_keys)))
        for at, history in enumerate(histories):
            row = self.rows.get(_history_key(history))
            if row is None:
                continue  # no loans before the cutoff: nothing to say
            raw = (self.item_factors @ self.user_factors[row]).astype(np.float64)
            shifted = raw - raw[self.candidates].min() + 1e-9
            scores[at] = np.where(self.candidates, shifted, 0.0)
        return _FactorScores(scores, self.item_factors, histories, self.item_keys)


def _fit(kind: str, config: Mapping[str, float], seed: int, user_items: Any) -> tuple[_FactorModel, float]:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    model: _FactorModel
    if kind == "als":
        model = AlternatingLeastSquares(
            factors=int(config["factors"]),
            regularization=config["regularization"],
            alpha=config["alpha"],
            iterations=15,
            num_threads=1,
            random_state=seed,
        )
    else:
        model = BayesianPersonalizedRanking(
            factors=int(config["factors"]),
            learning_rate=config["learning_rate"],
            regularization=config["regularization"],
            iterations=100,
            num_threads=1,
            random_state=seed,
        )
    started = time.perf_counter()
    model.fit(user_items, show_progress=False)
    return model, time.perf_counter() - started


@dataclass
class FactorSources:
    """The `more_sources` hook: trains every (name, kind, configuration, seed) asked for at each cutoff."""

    wanted: Mapping[str, tuple[str, Mapping[str, float], int]]
    fit_seconds: dict[str, list[float]]

    def __call__(self, model: Model, train_log: LoanLog) -> dict[str, Source]:
        user_items = reader_item_matrix(train_log, MAX_ITEMS_PER_READER).astype(np.float32)
        position = {key: row for row, key in enumerate(train_log.reader_keys)}
        rows = {_history_key(history): position[reader] for reader, history in model.histories.items()}
        sources: dict[str, Source] = {}
        for name, (kind, config, seed) in self.wanted.items():
            fitted, seconds = _fit(kind, config, seed, user_items)
            self.fit_seconds.setdefault(name, []).append(seconds)
            sources[name] = FactorSource(fitted, rows, model.candidates, model.item_keys)
        return sources


@dataclass
class PairedRecall:
    """The `more_sources` hook that also keeps each warm tested reader's Recall@10 under some blends, cutoff by cutoff,
    to compare two blends reader by reader. The same readers, tests, picks and metric as `evaluate` scores, by its own
    functions (`first_time_borrows`, `Model.recommend`, `recall_and_ndcg`)."""

    factors: FactorSources
    data: Data
    blends: Mapping[str, Blend]
    recalls: dict[str, dict[tuple[float, str], float]]

    def __call__(self, model: Model, train_log: LoanLog) -> dict[str, Source]:
        sources = self.factors(model, train_log)
        model.sources.update(sources)
        tests = first_time_borrows(self.data.log.between(model.as_of, model.as_of + HORIZON_DAYS), train_log)
        for reader in sorted(tests):
            history = model.history_of(reader, self.data.readers.get(reader))
            if history.loans < WARM_LOANS:
                continue
            for label, blend in self.blends.items():
                picked = [pick.item for pick in model.recommend(history, blend, K)]
                self.recalls.setdefault(label, {})[(model.as_of, reader)] = recall_and_ndcg(picked, tests[reader], K)[0]
        return sources


def _name(kind: str, config: Mapping[str, float]) -> str:
    parts = ",".join(f"{key[0]}={value:g}" for key, value in config.items())
    return f"{kind}[{parts}]"


# --- running and reading ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    log: LoanLog
    items: dict[str, Item]
    readers: ReaderSegments
    periods: Mapping[str, list[date]]


def parse_periods(text: str) -> dict[str, list[date]]:
    """Per period of `text` ("1925-1930,1931-1935"), a cutoff on 1 January of each of its years."""
    periods = {}
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        periods[part.strip()] = [date(year, 1, 1) for year in range(int(first), int(last or first) + 1)]
    return periods


def _run(data: Data, methods: Mapping[str, Blend], hook: MoreSources) -> dict[str, Evaluation]:
    return {
        period: evaluate(data.log, data.items, data.readers, cutoffs, HORIZON_DAYS, methods=methods, more_sources=hook)
        for period, cutoffs in data.periods.items()
    }


def _metric(evaluation: Evaluation, method: str, part: str, metric: str) -> float:
    scores = evaluation.overall()[method].as_json(evaluation.k)
    return float(scores[part][metric] if part in scores else scores[metric])


def _worse(results: Mapping[str, Evaluation], method: str) -> float:
    return min(_metric(evaluation, method, *WARM_RECALL) for evaluation in results.values())


def _rows(results: Mapping[str, Evaluation], methods: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for method in methods:
        row: dict[str, Any] = {"method": method}
        for period, evaluation in results.items():
            json_scores = evaluation.overall()[method].as_json(evaluation.k)
            row[period] = {
                "warm recall@10": json_scores["warm"]["recall@10"],
                "warm ndcg@10": json_scores["warm"]["ndcg@10"],
                "cold recall@10": json_scores["cold"]["recall@10"],
                "coverage": json_scores["coverage"],
            }
        rows.append(row)
    return rows


def _print(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    periods = [key for key in rows[0] if key != "method"]
    head = "| method | " + " | ".join(f"{p} warm R@10 | {p} warm NDCG@10 | {p} cold R@10 | {p} cov" for p in periods)
    print(head + " |")
    print("|---" * (1 + 4 * len(periods)) + "|")
    for row in rows:
        cells = []
        for period in periods:
            s = row[period]
            cells += [f"{s['warm recall@10']:.4f}", f"{s['warm ndcg@10']:.4f}", f"{s['cold recall@10']:.4f}"]
            cells.append(f"{s['coverage']:.3f}")
        print(f"| {row['method']} | " + " | ".join(cells) + " |")
    sys.stdout.flush()


def _with_cf(cf: str, weight: float, content: float, popularity: float) -> Blend:
    """The shipped blend's shape with collaborative filtering `cf` (co-borrow, ALS or BPR) at `weight`."""
    warm = {RECENT: 1.0, cf: weight, CONTENT: content, POPULARITY: popularity}
    return Blend(warm={k: v for k, v in warm.items() if v}, few=SHIPPED.few, none=SHIPPED.none)


def _plus(extra: str, weight: float) -> Blend:
    return Blend(warm={**SHIPPED.warm, extra: weight}, few=SHIPPED.few, none=SHIPPED.none)


def _baselines() -> dict[str, Blend]:
    return default_methods()  # popularity, recent-popularity, co-borrow, content, shipped


def _grid_stage(data: Data, seconds: dict[str, list[float]]) -> tuple[dict[str, Any], str, str]:
    wanted = {_name("als", c): ("als", c, 0) for c in ALS_GRID} | {_name("bpr", c): ("bpr", c, 0) for c in BPR_GRID}
    methods = _baselines() | {name: Blend.alone(name) for name in wanted}
    results = _run(data, methods, FactorSources(wanted, seconds))
    best_als = max((n for n in wanted if n.startswith("als")), key=lambda n: _worse(results, n))
    best_bpr = max((n for n in wanted if n.startswith("bpr")), key=lambda n: _worse(results, n))
    ranked = sorted(wanted, key=lambda n: -_worse(results, n))
    rows = _rows(results, [*_baselines(), *ranked])
    _print("1. alone (factor models ranked by their worse period's warm recall@10)", rows)
    return {"rows": rows, "best_als": best_als, "best_bpr": best_bpr}, best_als, best_bpr


@dataclass(frozen=True, slots=True)
class Recipe:
    """A blend with a factor model in it, for any trained instance of that model (another random start)."""

    model: str  # "als" or "bpr"
    weight: float | None  # None: the model alone
    beside_co_borrow: bool = False  # added to the shipped weights, rather than in co-borrow's place
    content: float = 0.5
    popularity: float = 0.5

    def blend(self, source: str) -> Blend:
        if self.weight is None:
            return Blend.alone(source)
        if self.beside_co_borrow:
            return _plus(source, self.weight)
        return _with_cf(source, self.weight, self.content, self.popularity)


RECIPES = {
    "als alone": Recipe("als", None),
    "bpr alone": Recipe("bpr", None),
    "shipped, ALS for co-borrow": Recipe("als", 1.0),
    "shipped, BPR for co-borrow": Recipe("bpr", 1.0),
    **{f"shipped + ALS {w:g}": Recipe("als", w, beside_co_borrow=True) for w in (0.25, 0.5, 1.0)},
    **{f"shipped + BPR {w:g}": Recipe("bpr", w, beside_co_borrow=True) for w in (0.25, 0.5, 1.0)},
}
GRID = {  # the grid the shipped weights were chosen on, with ALS in co-borrow's place
    f"grid: ALS {w:g}, content {c:g}, popularity {p:g}": Recipe("als", w, content=c, popularity=p)
    for w, c, p in product((0.0, 0.25, 0.5, 1.0), (0.0, 0.25, 0.5, 1.0), (0.0, 0.25, 0.5))
}


def _blend_stage(
    data: Data,
    configs: Mapping[str, tuple[str, Mapping[str, float]]],
    seconds: dict[str, list[float]],
) -> tuple[dict[str, Any], dict[str, Recipe]]:
    wanted = {kind: (kind, config, 0) for kind, (_, config) in configs.items()}
    references = {
        SHIPPED_METHOD: SHIPPED,
        "recent-popularity": Blend.alone(RECENT),
        "co-borrow alone": Blend.alone(CO_BORROW),
    }
    recipes = RECIPES | GRID
    methods = references | {label: recipe.blend(recipe.model) for label, recipe in recipes.items()}
    results = _run(data, methods, FactorSources(wanted, seconds))

    def best(labels: list[str]) -> str:
        return max(labels, key=lambda label: _worse(results, label))

    chosen = {
        label: recipes[label]
        for label in (
            "als alone",
            "shipped, ALS for co-borrow",
            best([label for label in RECIPES if label.startswith("shipped + ALS")]),
            best(list(GRID)),
            "bpr alone",
            best([label for label in RECIPES if label.startswith("shipped + BPR")]),
        )
    }
    rows = _rows(results, [*references, *RECIPES, *[label for label in chosen if label in GRID]])
    names = ", ".join(f"{kind.upper()} = {name}" for kind, (name, _) in configs.items())
    _print(f"2. in the blend ({names}; the grid's best shown)", rows)
    return {"rows": rows, "chosen": list(chosen), "grid": _rows(results, list(GRID))}, chosen


def _seed_stage(
    data: Data,
    configs: Mapping[str, tuple[str, Mapping[str, float]]],
    chosen: Mapping[str, Recipe],
    seeds: int,
    seconds: dict[str, list[float]],
) -> dict[str, Any]:
    wanted = {f"{kind}#{s}": (kind, config, s) for kind, (_, config) in configs.items() for s in range(seeds)}
    methods = {
        f"{label} #{s}": recipe.blend(f"{recipe.model}#{s}") for label, recipe in chosen.items() for s in range(seeds)
    }
    paired = PairedRecall(FactorSources(wanted, seconds), data, {SHIPPED_METHOD: SHIPPED, **methods}, {})
    results = _run(data, methods, paired)
    summary: dict[str, Any] = {}
    for label in chosen:
        for period, evaluation in results.items():
            values = [_metric(evaluation, f"{label} #{s}", *WARM_RECALL) for s in range(seeds)]
            summary.setdefault(label, {})[period] = {
                "mean": float(np.mean(values)),
                "min": min(values),
                "max": max(values),
            }
        summary[label]["against shipped"] = _against_shipped(paired.recalls, label, seeds)
    print(
        f"\n3. {seeds} random starts: warm recall@10 mean [min, max]; reader by reader against shipped (both periods)"
    )
    for label, periods in summary.items():
        cells = [
            f"{p}: {v['mean']:.4f} [{v['min']:.4f}, {v['max']:.4f}]" for p, v in periods.items() if p in data.periods
        ]
        versus = periods["against shipped"]
        print(
            f"  {label}: " + "; ".join(cells) + f"; better for {versus['better']}, worse for {versus['worse']}, "
            f"same for {versus['same']} reader-cutoffs, sign test p = {versus['sign_test_p']:.2f}, mean difference "
            f"{versus['mean_difference']:+.4f} (95% bootstrap {versus['ci95'][0]:+.4f} .. {versus['ci95'][1]:+.4f})"
        )
    return summary


def _against_shipped(
    recalls: Mapping[str, Mapping[tuple[float, str], float]], label: str, seeds: int
) -> dict[str, Any]:
    """Per warm reader and cutoff, the recipe's Recall@10 (averaged over the random starts) less shipped's: how many
    readers it served better and worse, a two-sided sign test, and a bootstrap interval of the mean difference."""
    from scipy.stats import binomtest

    shipped = recalls[SHIPPED_METHOD]
    keys = sorted(shipped)
    differences = np.array(
        [np.mean([recalls[f"{label} #{s}"][key] for s in range(seeds)]) - shipped[key] for key in keys]
    )
    better, worse = int((differences > 1e-12).sum()), int((differences < -1e-12).sum())
    rng = np.random.default_rng(0)
    means = differences[rng.integers(0, len(differences), (10_000, len(differences)))].mean(axis=1)
    return {
        "better": better,
        "worse": worse,
        "same": len(differences) - better - worse,
        "sign_test_p": float(binomtest(better, better + worse).pvalue) if better + worse else 1.0,
        "mean_difference": float(differences.mean()),
        "ci95": [float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))],
    }


def _machine() -> dict[str, Any]:
    import implicit
    import scipy
    import threadpoolctl

    cpu = ""
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "implicit": implicit.__version__,
        "threadpoolctl": threadpoolctl.__version__,
    }


def _timings(seconds: Mapping[str, list[float]], kind: str, chosen: str) -> dict[str, float]:
    """The fits of the chosen configuration of `kind`: in the grid, in the blends and at every random start."""
    fits = [
        s for name, values in seconds.items() if name in (chosen, kind) or name.startswith(f"{kind}#") for s in values
    ]
    return {"fits": len(fits), "median_seconds": float(np.median(fits)) if fits else 0.0}


class _Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.started = now - self.started, now
        return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recs_als", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="a folder with loans.csv, items.csv, readers.csv")
    parser.add_argument("--periods", default=PERIODS, help="periods of yearly cutoffs (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=5, help="random starts of the chosen configurations")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args(argv)
    try:  # loads scipy's own OpenBLAS too: before the limit below, which reaches only the libraries loaded
        import implicit.cpu.als  # noqa: F401
        from threadpoolctl import threadpool_limits  # implicit's dependency
    except ImportError:
        sys.exit("bench.recs_als needs `implicit`: .venv/bin/pip install implicit==0.7.3 (bench only)")

    data = Data(
        read_loans(args.data / "loans.csv"),
        read_items(args.data / "items.csv"),
        read_readers(args.data / "readers.csv"),
        parse_periods(args.periods),
    )
    seconds: dict[str, list[float]] = {}
    watch = _Stopwatch()
    report: dict[str, Any] = {
        "machine": _machine(),
        "periods": {p: [c.isoformat() for c in cs] for p, cs in data.periods.items()},
    }
    with threadpool_limits(limits=1):
        report["alone"], best_als, best_bpr = _grid_stage(data, seconds)
        report["alone"]["seconds"] = watch.lap()
        grids = {_name(kind, c): c for kind, grid in (("als", ALS_GRID), ("bpr", BPR_GRID)) for c in grid}
        configs = {"als": (best_als, grids[best_als]), "bpr": (best_bpr, grids[best_bpr])}
        report["blend"], chosen = _blend_stage(data, configs, seconds)
        report["blend"]["seconds"] = watch.lap()
        report["seeds"] = _seed_stage(data, configs, chosen, args.seeds, seconds)
        report["seeds"]["seconds"] = watch.lap()
    report["fit_seconds"] = {kind: _timings(seconds, kind, name) for kind, (name, _) in configs.items()}
    print(f"\nmachine: {report['machine']}")
    print(f"fits of the chosen configurations (per cutoff): {report['fit_seconds']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
