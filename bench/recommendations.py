"""The recommendations benchmark (issue 13): training time and memory at city sizes, and my picks served over HTTP.

    .venv/bin/python -m bench.recommendations [--sizes 1000000,5000000,10000000] [--clients 64] [--seconds 10]

Training: for each size, synthetic loans drawn from a real library's distributions (item popularity: a Zipf law
fitted to the Book-Crossing ratings' rank-frequency curve; loans per reader: Book-Crossing's per-user counts,
resampled), over a catalogue of one record per five loans (the issue's city: 10M loans, 2M records), titles and
authors from douban-booklists, classes from the CLC tree (all read from `../shared/data` at run time, never copied).
Each size runs in a spawned process of its own, as the worker runs it (`recommendations.process`), on the structures
`load_training_data` hands over (`TrainingData`): `train(...)` with the production `TrainingSettings`, then what
`train_and_pick` does after it, each step timed: the picks of the readers the nightly run picks for
(`readers_to_pick`, `pick_for`), every record's also-borrowed list, the model packed for Redis. Also timed, on a
sample of those readers: one reader's picks alone (`recommend`), what a refresh costs. Reading the loans from
PostgreSQL (`load_training_data`) is not measured here. Peak memory is the process's `ru_maxrss`, which includes
making the synthetic inputs.

Serving: a throwaway PostgreSQL and Redis with the demo network, a catalogue of a few thousand records with copies,
a few thousand readers with returned loans they keep in their history (the same synthetic distributions), the real
training run into Redis (`run_training`), then the real server (`shuxiang serve`) loaded with `--clients`
connections in one run: the framework's trivial endpoint (`/health/live`), `GET /readers/me/recommendations` for
readers with personal picks (a different reader's token on every request), and the same for readers who switched
personal picks off (the fallback: recent popularity). Then each once more with one connection, for latency without
queueing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gzip
import itertools
import math
import multiprocessing
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import psutil
from redis.asyncio import Redis

from backend import db
from backend.accounts.models import Reader
from backend.accounts.tokens import Principal, PrincipalKind, TokenPolicy, open_session
from backend.catalog.models import Copy, Record
from backend.circulation.models import Loan, ReaderCategory
from backend.clock import NetworkTime
from backend.crypto import Keys
from backend.network.models import Library
from backend.settings import Settings
from bench.harness import ROOT, Load, cpu_seconds, machine_lines, percentile_ms, serve, start_backing, stop_on_sigterm
from bench.loadgen import Connection
from entrypoints.queue import ArqJobs
from recommendations.blend import train
from recommendations.data import AGE_BANDS, Days, Item, LoanLog, days_of
from recommendations.models import RecommendationSetting
from recommendations.store import PickStore, pack_model
from recommendations.training import (
    ADULT,
    AGE_BAND,
    ALSO_BORROWED,
    CARD,
    CHILD,
    PICKS_PER_READER,
    TRAINING,
    TrainingData,
    blend_for,
    pick_for,
    readers_to_pick,
    run_training,
)

DATA = ROOT.parent / "shared" / "data"
RATINGS = DATA / "book-crossing" / "BX-Book-Ratings.csv.gz"
DOUBAN = DATA / "douban-booklists" / "douban_booklists.csv.gz"
CLC = DATA / "clc" / "clc_flat.csv.gz"
LOANS_PER_RECORD = 5  # the city: 10M loans over 2M records
CHILD_SHARE = 0.2  # readers on a child's card: in the model's card segment, without personal picks (the default)
SPAN_DAYS = 3 * 365  # loans spread evenly over the three years before training
LIVE = "/health/live"
MINE = "/readers/me/recommendations"
TOKEN_TTL = timedelta(hours=2)


# --- the real data's distributions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Distributions:
    zipf_exponent: float
    """Item popularity: loans of the item ranked r-th are proportional to r ** -zipf_exponent."""
    loans_per_reader: npt.NDArray[np.int64]
    """Every Book-Crossing user's count of ratings: resampled, the loans of each synthetic reader."""
    titles: list[str]
    authors: list[str]
    years: list[int | None]
    classes: list[str]


def fit_distributions() -> Distributions:
    """Read the real files now (they stay in ../shared/data): fit item popularity, keep reader activity and pools."""
    by_user: Counter[str] = Counter()
    by_book: Counter[str] = Counter()
    with gzip.open(RATINGS, "rt", encoding="latin-1", newline="") as ratings:
        rows = csv.reader(ratings, delimiter=";")
        next(rows)
        for row in rows:
            by_user[row[0]] += 1
            by_book[row[1]] += 1
    counts = np.array(sorted(by_book.values(), reverse=True), dtype=np.float64)
    ranks = np.arange(1, len(counts) + 1, dtype=np.float64)
    slope = float(np.polyfit(np.log(ranks), np.log(counts), 1)[0])
    titles: list[str] = []
    authors: list[str] = []
    years: list[int | None] = []
    with gzip.open(DOUBAN, "rt", encoding="utf-8", newline="") as books:
        for book in csv.DictReader(books):
            titles.append(book["title"])
            authors.append(";".join(name.strip() for name in (book["author"] or "").split("/") if name.strip()))
            years.append(int(book["year"]) if (book["year"] or "").isdigit() else None)
    with gzip.open(CLC, "rt", encoding="utf-8", newline="") as tree:
        classes = [row["code"] for row in csv.DictReader(tree) if int(row["level"] or 0) >= 3]
    return Distributions(-slope, np.array(list(by_user.values()), dtype=np.int64), titles, authors, years, classes)


@dataclass(frozen=True, slots=True)
class Synthetic:
    readers: npt.NDArray[np.int32]
    items: npt.NDArray[np.int32]
    days: npt.NDArray[np.float64]
    n_readers: int
    n_items: int


def synthetic_loans(loans: int, n_items: int, fitted: Distributions, as_of: Days, seed: int) -> Synthetic:
    """`loans` loans: readers' activity resampled from the real one, items drawn from the fitted Zipf law (popular
    ranks shuffled over the catalogue), days spread evenly over `SPAN_DAYS` before `as_of`."""
    rng = np.random.default_rng(seed)
    per_reader: list[npt.NDArray[np.int64]] = []
    total = 0
    while total < loans:
        drawn = rng.choice(fitted.loans_per_reader, size=max(1000, (loans - total) // 8))
        per_reader.append(drawn)
        total += int(drawn.sum())
    counts = np.concatenate(per_reader)
    counts = counts[: int(np.searchsorted(np.cumsum(counts), loans)) + 1]
    counts[-1] -= int(counts.sum()) - loans
    readers = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -fitted.zipf_exponent
    cumulative = np.cumsum(weights)
    ranks = np.minimum(np.searchsorted(cumulative, rng.random(loans) * cumulative[-1]), n_items - 1)
    items = rng.permutation(n_items).astype(np.int32)[ranks]
    days = as_of - rng.random(loans) * SPAN_DAYS
    return Synthetic(readers, items, days, len(counts), n_items)


def synthetic_items(n_items: int, fitted: Distributions, seed: int) -> list[Item]:
    rng = np.random.default_rng(seed + 1)
    books = rng.integers(0, len(fitted.titles), size=n_items)
    classes = rng.integers(0, len(fitted.classes), size=n_items)
    return [
        Item(fitted.titles[b], fitted.authors[b], fitted.classes[c], fitted.years[b])
        for b, c in zip(books.tolist(), classes.tolist(), strict=True)
    ]


# --- training at size --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrainingRun:
    loans: int
    readers: int
    personal: int
    records: int
    inputs_rss: int  # bytes resident once the inputs are made, before training
    train_seconds: float
    train_cpu: float
    train_peak: int  # ru_maxrss after training, bytes
    nightly: int  # readers the nightly run picks for
    picks_seconds: float
    picks_cpu: float
    picks_bytes: int  # their picks as stored
    alone_ms: float  # one reader's picks alone, on a sample
    also_seconds: float
    blob_bytes: int
    pieces: int
    pack_seconds: float
    peak: int  # ru_maxrss at the end, bytes


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def train_at_size(loans: int, fitted: Distributions, sample: int, seed: int) -> TrainingRun:
    """In a process of its own: make the inputs, then train and pick as `train_and_pick` does, step by step."""
    as_of = days_of(datetime(2026, 12, 1))
    n_items = max(loans // LOANS_PER_RECORD, 1)
    made = synthetic_loans(loans, n_items, fitted, as_of, seed)
    log = LoanLog(
        tuple(str(r) for r in range(made.n_readers)),
        tuple(str(i) for i in range(made.n_items)),
        made.readers,
        made.items,
        made.days,
    )
    del made
    items = dict(zip(log.item_keys, synthetic_items(n_items, fitted, seed), strict=True))
    children = np.random.default_rng(seed + 2).random(len(log.reader_keys)) < CHILD_SHARE
    bands = np.where(children, np.random.default_rng(seed + 4).integers(0, len(AGE_BANDS), len(children)), -1)
    kinds = [{CARD: ADULT}] + [{CARD: CHILD, AGE_BAND: band.name} for band in AGE_BANDS]  # shared, as training does
    segments = {key: kinds[band + 1] for key, band in zip(log.reader_keys, bands.tolist(), strict=True)}
    personal = frozenset(key for key, child in zip(log.reader_keys, children, strict=True) if not child)
    cards = np.where(children, np.arange(len(children)), -1)[log.readers]  # each reader a card of their own
    data = TrainingData(
        log, items, segments, personal, np.zeros(len(log), np.int64), children[log.readers], cards, bands[log.readers]
    )
    inputs_rss = psutil.Process().memory_info().rss

    started, cpu = time.perf_counter(), time.process_time()
    model = train(log, items, segments, as_of + 1, TRAINING)
    train_seconds, train_cpu, train_peak = time.perf_counter() - started, time.process_time() - cpu, _maxrss()

    nightly = readers_to_pick(data, as_of + 1)
    started, cpu = time.perf_counter(), time.process_time()
    picks = pick_for(model, segments, nightly)
    picks_seconds, picks_cpu = time.perf_counter() - started, time.process_time() - cpu

    rng = np.random.default_rng(seed + 3)
    chosen = [nightly[i] for i in rng.choice(len(nightly), size=min(sample, len(nightly)), replace=False)]
    started = time.perf_counter()
    for reader in chosen:
        model.recommend(model.history_of(reader, segments[reader]), blend_for(segments[reader]), PICKS_PER_READER)
    alone_ms = 1000 * (time.perf_counter() - started) / max(len(chosen), 1)

    started = time.perf_counter()
    model.also_borrowed(ALSO_BORROWED)
    also_seconds = time.perf_counter() - started

    model.histories.clear()  # as `train_and_pick` does before packing
    started = time.perf_counter()
    pieces = pack_model(model)
    pack_seconds = time.perf_counter() - started
    return TrainingRun(
        loans,
        len(log.reader_keys),
        len(personal),
        n_items,
        inputs_rss,
        train_seconds,
        train_cpu,
        train_peak,
        len(nightly),
        picks_seconds,
        picks_cpu,
        sum(len(encoded) for encoded in picks.values()),
        alone_ms,
        also_seconds,
        sum(len(piece) for piece in pieces),
        len(pieces),
        pack_seconds,
        _maxrss(),
    )


def train_in_process(loans: int, fitted: Distributions, sample: int, seed: int) -> TrainingRun:
    # A fresh spawned process per size, as `recommendations.process.run_in_process` runs the nightly training: its
    # ru_maxrss is this size's alone.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        run: TrainingRun = pool.apply(train_at_size, (loans, fitted, sample, seed))
        return run


# --- serving over HTTP -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    personal_tokens: list[str]
    fallback_tokens: list[str]
    records: int
    loans: int
    trained_readers: int
    training_seconds: float


async def prepare(settings: Settings, fitted: Distributions, records: int, readers: int, fallback: int) -> Prepared:
    """A catalogue with copies across the demo network, readers with returned loans they keep in their history,
    the last `fallback` of them with personal picks switched off, then the real training run into Redis."""
    await db.init_orm(settings.database.url)
    redis = Redis.from_url(settings.redis.url)
    try:
        libraries = await Library.all().order_by("id")
        items = synthetic_items(records, fitted, seed=7)
        await Record.bulk_create(
            [
                Record(
                    title=item.title[:500] or "无题",
                    authors=[{"name": name, "role": "author"} for name in item.author.split(";") if name],
                    clc_class=item.classes,
                    year=item.year if item.year is not None and 0 < item.year < 32767 else None,
                )
                for item in items
            ],
            batch_size=1000,
        )
        record_ids = cast("list[int]", await Record.all().order_by("id").values_list("id", flat=True))
        await Copy.bulk_create(
            [
                Copy(
                    barcode=f"RB{n:07d}",
                    record_id=record_id,
                    home_library=libraries[n % len(libraries)],
                    current_library=libraries[n % len(libraries)],
                )
                for n, record_id in enumerate(itertools.chain(record_ids, record_ids))
            ],
            batch_size=2000,
        )
        copies = {
            record_id: (copy_id, library_id)
            for copy_id, record_id, library_id in await Copy.filter(barcode__startswith="RB")
            .order_by("-id")
            .values_list("id", "record_id", "home_library_id")
        }
        await Reader.bulk_create(
            [
                Reader(
                    card_number=f"7{n:011d}",
                    keeps_reading_history=True,
                    home_library=libraries[n % len(libraries)],
                )
                for n in range(readers)
            ],
            batch_size=2000,
        )
        reader_ids = cast(
            "list[int]", await Reader.filter(card_number__startswith="7").order_by("id").values_list("id", flat=True)
        )
        now = datetime.now(UTC)
        mean = float(fitted.loans_per_reader.mean())
        made = synthetic_loans(round(readers * mean), len(record_ids), fitted, days_of(datetime(2026, 1, 1)), seed=11)
        rng = np.random.default_rng(13)
        ago = rng.random(len(made.items)) * 365
        loans = []
        for reader, item, days_ago in zip(made.readers.tolist(), made.items.tolist(), ago.tolist(), strict=True):
            copy_id, library_id = copies[record_ids[item]]
            lent = now - timedelta(days=days_ago + 1)
            loans.append(
                Loan(
                    copy_id=copy_id,
                    reader_id=reader_ids[reader % len(reader_ids)],
                    reader_category=ReaderCategory.ADULT,
                    library_id=library_id,
                    checked_out_at=lent,
                    due_at=lent + timedelta(days=30),
                    returned_at=min(lent + timedelta(days=14), now - timedelta(hours=1)),
                )
            )
        await Loan.bulk_create(loans, batch_size=5000)
        switched_off = reader_ids[-fallback:] if fallback else []
        await RecommendationSetting.bulk_create(
            [
                RecommendationSetting(reader_id=r, personal=False, changed_at=now - timedelta(days=1))
                for r in switched_off
            ]
        )
        started = time.perf_counter()
        trained = await run_training(PickStore(redis), ArqJobs(redis), now, NetworkTime(settings.network.timezone))
        training_seconds = time.perf_counter() - started
        policy = TokenPolicy(Keys(settings.effective_secret_key), TOKEN_TTL, TOKEN_TTL)
        tokens = [
            (await open_session(policy, Principal(PrincipalKind.READER, r), now)).access_token for r in reader_ids
        ]
        cut = len(tokens) - len(switched_off)
        return Prepared(tokens[:cut], tokens[cut:], len(record_ids), len(loans), trained, training_seconds)
    finally:
        await redis.aclose()
        await db.close_orm()


@dataclass(slots=True)
class PicksLoad(Load):
    personal: int = 0  # answers saying they are the reader's personal picks


async def load(
    server: psutil.Process, base_url: str, name: str, path: str, tokens: list[str], clients: int, seconds: float
) -> PicksLoad:
    """`clients` connections, one request in flight each, for `seconds`; connection i sends tokens i, i + clients..."""
    result = PicksLoad(name, clients)
    opened = [await Connection.open(base_url) for _ in range(clients)]
    processes = [server, *server.children(recursive=True)]
    before = cpu_seconds(processes)
    deadline = time.perf_counter() + seconds

    async def loop(index: int, connection: Connection) -> None:
        for token in itertools.cycle(tokens[index::clients] or tokens):
            if time.perf_counter() >= deadline:
                return
            began = time.perf_counter()
            answer = await connection.request("GET", path, token)
            result.latencies.append(time.perf_counter() - began)
            result.statuses[answer.status] += 1
            result.personal += b'"personal":true' in answer.body

    started = time.perf_counter()
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(opened)))
    result.seconds = time.perf_counter() - started
    result.server_cpu = cpu_seconds(processes) - before
    for connection in opened:
        await connection.close()
    return result


# --- the run -----------------------------------------------------------------------------------------------------


def _mb(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def report_training(run: TrainingRun) -> str:
    return (
        f"| {run.loans:,} | {run.readers:,} ({run.personal:,} personal) | {run.records:,} | "
        f"{run.train_seconds:,.1f} ({run.train_cpu:,.1f} CPU) | {_mb(run.inputs_rss)} | {_mb(run.train_peak)} | "
        f"{run.nightly:,} ({run.nightly / max(run.personal, 1):.0%}) in {run.picks_seconds:,.0f} s "
        f"({run.picks_cpu:,.0f} CPU), {_mb(run.picks_bytes)} MB | {run.alone_ms:.2f} ms | {run.also_seconds:,.1f} s | "
        f"{_mb(run.blob_bytes)} MB in {run.pieces} pieces, {run.pack_seconds:,.1f} s | {_mb(run.peak)} |"
    )


TRAINING_HEADER = (
    "| loans | readers | records | train(), s (CPU s) | inputs RSS, MB | peak RSS after train, MB | "
    "nightly picks: readers, time, stored | one reader alone | also-borrowed, every record | packed model | "
    "peak RSS at end, MB |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def report_loads(loads: list[PicksLoad]) -> list[str]:
    lines = [
        "| endpoint | clients | requests/s | ratio to /health/live | p50 / p99 ms | server CPU ms/req | non-200 | "
        "personal answers |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    live = {run.clients: run.rate for run in loads if run.name == LIVE}
    for run in loads:
        errors = sum(count for status, count in run.statuses.items() if status != 200)
        lines.append(
            f"| {run.name} | {run.clients} | {run.rate:,.0f} | {run.rate / live[run.clients]:.2f} | "
            f"{percentile_ms(run.latencies, 0.5):.1f} / {percentile_ms(run.latencies, 0.99):.1f} | {run.cpu_ms:.2f} | "
            f"{errors} | {run.personal:,} of {len(run.latencies):,} |"
        )
    return lines


def serving(options: argparse.Namespace, fitted: Distributions) -> tuple[list[str], str]:
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        print("preparing the catalogue, readers, loans and the training run", file=sys.stderr)
        prepared = asyncio.run(prepare(backing.settings, fitted, options.records, options.readers, options.fallback))
        server = serve(stack, backing.settings, workdir, workers=1, pool=max(4, math.ceil(32 / 1)))
        loads: list[PicksLoad] = []
        for clients, seconds in [(options.clients, options.seconds), (1, options.solo_seconds)]:
            for name, path, tokens in [
                (LIVE, LIVE, prepared.personal_tokens),
                ("my recommendations, personal picks", MINE, prepared.personal_tokens),
                ("my recommendations, personal picks off (fallback)", MINE, prepared.fallback_tokens),
            ]:
                print(f"loading {name} with {clients} client(s)", file=sys.stderr)
                loads.append(asyncio.run(load(server.process, server.base_url, name, path, tokens, clients, seconds)))
    lines = [
        f"- state: {prepared.records:,} records (2 copies each over the demo network), "
        f"{len(prepared.personal_tokens) + len(prepared.fallback_tokens):,} readers ({len(prepared.fallback_tokens):,} "
        f"with personal picks off), {prepared.loans:,} returned loans kept in their history; the real training run "
        f"(`run_training`, PostgreSQL to Redis) gave picks to {prepared.trained_readers:,} readers in "
        f"{prepared.training_seconds:.1f} s",
        f"- each load {options.seconds:g} s with {options.clients} connections, "
        f"then {options.solo_seconds:g} s with one",
        "",
        *report_loads(loads),
    ]
    return lines, backing.postgres_version


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.recommendations", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,5000000,10000000", help="loans per training run, comma-separated")
    parser.add_argument("--sample", type=int, default=2000, help="readers one reader's picks alone are timed on")
    parser.add_argument("--records", type=int, default=4000, help="catalogue for the HTTP run (default 4000)")
    parser.add_argument("--readers", type=int, default=3000, help="readers for the HTTP run (default 3000)")
    parser.add_argument("--fallback", type=int, default=500, help="of them, with personal picks off (default 500)")
    parser.add_argument("--clients", type=int, default=64, help="connections, one request in flight each (default 64)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load (default 10)")
    parser.add_argument("--solo-seconds", type=float, default=5.0, help="length of each one-connection load")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-serving", action="store_true")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    fitted = fit_distributions()
    print(
        f"\n## Recommendations: training and serving\n\n- fitted on Book-Crossing: item popularity Zipf exponent "
        f"{fitted.zipf_exponent:.3f}; loans per reader resampled from {len(fitted.loans_per_reader):,} users (mean "
        f"{fitted.loans_per_reader.mean():.1f}, median {np.median(fitted.loans_per_reader):.0f}, max "
        f"{fitted.loans_per_reader.max():,}); titles and authors from {len(fitted.titles):,} douban-booklists rows, "
        f"classes from {len(fitted.classes):,} CLC codes",
        flush=True,
    )
    if not options.skip_training:
        print(f"\n### Training (one reader alone timed on {options.sample:,} of the nightly readers)\n", flush=True)
        print(TRAINING_HEADER, flush=True)
        for size in (int(s) for s in options.sizes.split(",") if s):
            print(f"training on {size:,} loans", file=sys.stderr)
            print(report_training(train_in_process(size, fitted, options.sample, seed=size)), flush=True)
    if not options.skip_serving:
        lines, postgres_version = serving(options, fitted)
        print("\n### Serving\n")
        loadgen = (
            "- load generator: this process, asyncio and `bench.loadgen` (one request in flight per connection), on "
            "the same cores as the server, PostgreSQL and Redis"
        )
        print(*machine_lines(postgres_version)[:2], loadgen, *lines, sep="\n")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
