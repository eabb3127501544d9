"""The click-and-deliver benchmark (issue 16): readers' ISBN checks in a partner bookstore per second over HTTP, at
a million catalogue records and partner stock of tens of thousands of titles; and delivery orders placed per second
with 64 readers ordering at once; each against the framework's trivial endpoint in the same run.

    .venv/bin/python -m bench.purchases [--records 1000000] [--clients 32] [--orderers 64] [--seconds 10]
                                        [--only checks|orders|both]

It starts a throwaway PostgreSQL and Redis with the demo network (its libraries and staff), and builds the
catalogue as `bench.search` does: the real records of ../shared/data replicated to `--records` records with 1-3
copies each at the staffed libraries, written to a CSV and loaded through the real importer (timed), a fixed share
of the copies then set to circulation states (on loan, in transit, withdrawn...).

The checks. Beforehand, through the services the API calls:
- four partner bookstores of four main libraries, each with a stock feed of 12,000 to 40,000 titles loaded through
  the real feed import (CSV): most of them new titles the network does not hold (real titles of the data under
  fresh 978-7 ISBNs, mostly published in the last three years, a few over the price cap, of an excluded class, a
  set or a periodical), and 15 % titles the catalogue holds (records with an ISBN, 1-3 copies each, so some are
  held enough);
- `--readers` readers with cards at the branches: a quarter with one book bought this month (approved by a clerk
  through the real approval, which lends it), a tenth with two (none left to have unreturned), a twentieth with
  three, one returned (the month's quota used); 3 % suspended, 3 % owing more than the network lets a reader owe;
- a year's budget for each main library, the last one's nearly spent (what its approvals reserved and 30 yuan).
Timed, with `--clients` connections of `bench.loadgen` (one request in flight each): GET /health/live, then the
reader's check in the shop (`GET /readers/me/purchases/check?bookstore_id=&isbn=`), each request a random reader
and a random title of a random shop's stock (one in twenty an ISBN the shop does not stock: `not_in_stock`); how
often each reason was given; then `--breakdown` checks in this process, one at a time, every SQL statement timed.

The orders. Beforehand: 8 readers per connection, and 20,000 titles with a copy on a lending library's shelf, 300
of them wanted by many (a tenth of the titles chosen) so that orders race for their copies. Timed, with
`--orderers` connections: GET /health/live, then `POST /readers/me/delivery/orders`, each a random reader
ordering 1-5 titles (none already in an order of theirs), four in five to a random service point, the rest to the
door (a fee charged). Afterwards, in the database: no copy in two active orders, every copy of an active order
`in_delivery` and no other, and the orders and books answered 201 are those written.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import gc
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import psutil
from tortoise import connections

from backend import db
from backend.accounts.cards import luhn_digit
from backend.accounts.models import Reader, StaffUser
from backend.accounts.tokens import Principal, PrincipalKind, open_session
from backend.catalog.models import Copy
from backend.circulation import services as circulation
from backend.circulation.models import Suspension, SuspensionKind
from backend.delivery.basket import ORDERABLE
from backend.money.models import Charge, ChargeKind
from backend.network.models import Library, LibraryLevel
from backend.purchases import budgets, shops
from backend.purchases.checks import check_isbn
from backend.purchases.errors import NotInStock, PurchaseRefused
from backend.purchases.models import Budget, Purchase
from backend.purchases.purchases import ReaderCard, approve
from backend.settings import Settings
from bench.harness import (
    Load,
    cpu_seconds,
    machine_lines,
    percentile_ms,
    serve,
    start_backing,
    stop_on_sigterm,
)
from bench.loadgen import Answer, Connection
from bench.search import (
    SHELVING_LEVELS,
    ImportRun,
    Statement,
    load,
    recording_statements,
    unique_books,
    write_catalogue,
)
from entrypoints.bootstrap import Dependencies, bootstrap

LIVE = "/health/live"
CHECK = "/readers/me/purchases/check"
# name, main library, discount (basis points), titles in its stock feed
SHOPS = (
    ("铜陵市新华书店", "TL", 1500, 40_000),
    ("铜官区图书馆书店", "TL-TG", 1000, 25_000),
    ("义安区新华书店", "TL-YA", 1200, 15_000),
    ("枞阳县新华书店", "TL-ZY", 1000, 12_000),
)
HELD_SHARE = 0.15  # of a shop's titles, ones the catalogue holds
NEW_TITLES = 60_000  # the new releases the shops draw their other titles from (so their stocks overlap)
FEED_ROWS = 10_000  # a feed file's rows (the import takes at most 50,000 and 10 MB)
NOT_STOCKED_SHARE = 0.05  # of the checks, ISBNs the shop does not stock
# Classes a shop sells that the network's rules exclude: textbooks and exam guides, reference works.
EXCLUDED_CLASSES = ("G634.6", "G624.2", "H310.42", "D630.3", "Z228", "G42")
SETS = ("（全套）", "套装", "真题")
STOCK_COLUMNS = ("isbn", "title", "authors", "publisher", "year", "price", "quantity", "clc_class", "item_type")
CLERK_PASSWORD = "bench-clerk-password-1"


# --- partner stock ----------------------------------------------------------------------------------------------------


def _isbn13(body12: str) -> str:
    return body12 + str(-sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12)) % 10)


def _price(rng: random.Random) -> str:
    """A list price in yuan as printed: most 25-80 yuan, a long tail past the 100-yuan cap (art books, sets)."""
    fen = int(rng.lognormvariate(8.35, 0.45)) // 10 * 10
    return f"{fen // 100}.{fen % 100:02d}"


@dataclass(frozen=True, slots=True)
class Title:
    isbn13: str
    row: tuple[str, ...]  # the feed's columns, STOCK_COLUMNS


def new_titles(count: int, seed: int, this_year: int, taken: set[str]) -> list[Title]:
    """New releases the network does not hold: real titles of the data under fresh 978-7 ISBNs (none the catalogue
    has), mostly of the last three years, some of a kind the rules exclude."""
    rng = random.Random(seed)
    books = [b for b in unique_books(seed) if b.language == "chi" and b.title]
    titles: list[Title] = []
    number = 0
    while len(titles) < count:
        number += 1
        isbn = _isbn13(f"9787{rng.randrange(10**8):08d}")
        if isbn in taken:
            continue
        taken.add(isbn)
        book = rng.choice(books)
        title, clc, item_type = book.title, book.clc or rng.choice(("I247.5", "K81", "F830.59", "B84", "I267")), "book"
        draw = rng.random()
        if draw < 0.05:
            clc = rng.choice(EXCLUDED_CLASSES)
        elif draw < 0.08:
            title += rng.choice(SETS)
        elif draw < 0.10:
            item_type = "periodical"
        year = this_year - rng.choices((0, 1, 2, 3, 4, 6), (30, 30, 15, 10, 8, 7))[0]
        authors = "、".join(name for name, _ in book.authors[:3])
        row = (isbn, title, authors, book.publisher, str(year), _price(rng), str(rng.randint(1, 20)), clc, item_type)
        titles.append(Title(isbn, row))
    return titles


async def held_titles(count: int, records: int, seed: int) -> list[Title]:
    """Titles the catalogue holds (records with an ISBN, sampled), as a shop's feed would list them."""
    share = min(100.0, 400 * count / max(records, 1))  # most records with an ISBN: four times enough sampled
    rows = await connections.get("default").execute_query_dict(
        f"SELECT isbn13, title, publisher, year, clc_class FROM record TABLESAMPLE BERNOULLI ({share:.4f}) "
        f"REPEATABLE ({seed}) WHERE isbn13 IS NOT NULL LIMIT $1",
        [count],
    )
    rng = random.Random(seed)
    return [
        Title(
            r["isbn13"],
            (
                r["isbn13"],
                r["title"][:500],
                "",
                r["publisher"] or "",
                str(r["year"] if 1900 <= (r["year"] or 0) <= 2026 else 2015),  # the data has typos (-720)
                _price(rng),
                str(rng.randint(1, 10)),
                r["clc_class"] or "",
                "book",
            ),
        )
        for r in rows
    ]


def feed(titles: list[Title]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(STOCK_COLUMNS)
    writer.writerows(title.row for title in titles)
    return out.getvalue().encode()


# --- preparation ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shop:
    id: int
    name: str
    library: str
    isbns: list[str]
    new: list[str]  # of them, titles the catalogue does not hold

    @property
    def held(self) -> int:
        return len(self.isbns) - len(self.new)


@dataclass(slots=True)
class Setup:
    shops: list[Shop]
    not_stocked: list[str]
    reader_ids: list[int]
    tokens: list[str]  # of each reader
    stock_seconds: float
    readers: Counter[str] = field(default_factory=Counter)  # how many readers are in each state


@dataclass(frozen=True, slots=True)
class Catalogue:
    imported: ImportRun
    records: int
    copies: int


async def load_catalogue(options: argparse.Namespace, workdir: Path) -> Catalogue:
    """`--records` records of the shared data with their copies, through the importer, as `bench.search` loads them."""
    conn = connections.get("default")
    codes = sorted(await Library.filter(level__in=SHELVING_LEVELS, active=True).values_list("code", flat=True))
    print(f"reading ../shared/data and writing {options.records:,} records", file=sys.stderr)
    catalogue = await asyncio.to_thread(
        write_catalogue,
        workdir / "records.csv",
        await asyncio.to_thread(unique_books, options.seed),
        options.records,
        [str(c) for c in codes],
        options.seed,
    )
    print(f"  {catalogue.records:,} records, {catalogue.rows:,} copies; importing", file=sys.stderr)
    imported = await load(catalogue)
    del catalogue  # millions of objects this process no longer needs
    print(f"  imported in {imported.seconds:.0f} s", file=sys.stderr)
    (counts,) = await conn.execute_query_dict(
        "SELECT (SELECT count(*) FROM record) AS records, (SELECT count(*) FROM copy) AS copies"
    )
    return Catalogue(imported, int(counts["records"]), int(counts["copies"]))


async def prepare(deps: Dependencies, options: argparse.Namespace, records: int) -> Setup:
    """The partner bookstores with their stock, readers in their states, budgets, tokens."""
    conn = connections.get("default")
    now = deps.clock.now()
    this_year = deps.network_time.day(now).year
    admin = await StaffUser.get(username="admin").select_related("library")
    started = time.perf_counter()
    catalogued = await conn.execute_query_dict("SELECT isbn13 FROM record WHERE isbn13 IS NOT NULL")
    taken = {str(row["isbn13"]) for row in catalogued}
    released = await asyncio.to_thread(new_titles, NEW_TITLES + 1000, options.seed, this_year, taken)
    not_stocked = [t.isbn13 for t in released[NEW_TITLES:]]
    released = released[:NEW_TITLES]
    biggest = max(rows for *_, rows in SHOPS)
    held = await held_titles(int(biggest * HELD_SHARE) * 2, records, options.seed)
    rng = random.Random(options.seed)
    made: list[Shop] = []
    for name, code, discount, rows in SHOPS:
        bookstore = await shops.create_bookstore(admin, code, shops.BookstoreDraft(name, "", discount), now)
        ours = rng.sample(held, min(int(rows * HELD_SHARE), len(held)))  # fewer in a small catalogue
        titles = ours + rng.sample(released, rows - len(ours))
        rng.shuffle(titles)
        for start in range(0, len(titles), FEED_ROWS):
            done = await shops.import_stock(
                admin, bookstore.id, feed(titles[start : start + FEED_ROWS]), "csv", now, this_year=this_year
            )
            if done.problem_count:
                raise RuntimeError(f"{name}'s feed: {done.problems[:3]}")
        fresh = set(titles) - set(ours)
        made.append(
            Shop(bookstore.id, name, code, [t.isbn13 for t in titles], [t.isbn13 for t in titles if t in fresh])
        )
        print(f"  {name}: {rows:,} titles in stock", file=sys.stderr)
    stock_seconds = time.perf_counter() - started

    readers, states = await make_readers(deps, admin, made, options, now, this_year)
    print("  readers in their states; opening their sessions", file=sys.stderr)
    tokens = await reader_tokens(deps, readers)
    return Setup(
        made,
        not_stocked,
        [r.id for r in readers],
        tokens,
        stock_seconds,
        states,
    )


async def card_readers(count: int, first: int, rng: random.Random) -> list[Reader]:
    """`count` readers with cards (numbers from `first` on), each at home at a branch."""
    branches = await Library.filter(level=LibraryLevel.BRANCH, active=True).order_by("id")
    cards = [body + luhn_digit(body) for body in (f"0562{first + n:08d}" for n in range(count))]
    await Reader.bulk_create(
        [Reader(card_number=card, name=f"读者{n}", home_library=rng.choice(branches)) for n, card in enumerate(cards)]
    )
    return await Reader.filter(card_number__in=cards).order_by("id")


async def reader_tokens(deps: Dependencies, readers: list[Reader]) -> list[str]:
    now = deps.clock.now()
    return [(await open_session(deps.tokens, Principal(PrincipalKind.READER, r.id), now)).access_token for r in readers]


async def make_readers(
    deps: Dependencies,
    admin: StaffUser,
    made: list[Shop],
    options: argparse.Namespace,
    now: datetime,
    this_year: int,
) -> tuple[list[Reader], Counter[str]]:
    """Readers at the branches, some having bought books this month (through a clerk's approval), some suspended or
    owing; every main library's budget, the last one's nearly spent."""
    rng = random.Random(options.seed + 5)
    readers = await card_readers(options.readers, 90_000_000, rng)
    for _, code, *_ in SHOPS:
        await budgets.set_budget(admin, code, this_year, 50_000_000)
    clerks = []
    for shop in made:
        await shops.create_clerk(admin, shop.id, username=f"clerk-{shop.id}", password=CLERK_PASSWORD, display_name="")
        clerks.append(await StaffUser.get(username=f"clerk-{shop.id}").select_related("library"))
    states: Counter[str] = Counter()
    buyable = {shop.id: iter(shop.new) for shop in made}  # mostly within the rules

    async def buy(reader: Reader) -> Purchase:
        while True:
            shop = rng.randrange(len(made))
            try:
                return await approve(
                    clerks[shop],
                    ReaderCard(card_number=reader.card_number),
                    next(buyable[made[shop].id]),
                    card_passes=deps.cards,
                    now=now,
                    bus=deps.bus,
                    policy=deps.purchase_policy,
                    credit_check=deps.credit_check,
                )
            except PurchaseRefused:  # outside the rules: the reader picks another book
                continue

    print(f"  {options.readers:,} readers; approving their purchases", file=sys.stderr)
    for reader in readers:
        draw = rng.random()
        if draw < 0.05:  # three this month, one of them already returned: the month's quota used
            first = await buy(reader)
            await circulation.check_in(
                (await Copy.get(id=first.copy_id)).barcode, staff=admin, now=now, policy=deps.hold_policy, bus=deps.bus
            )
            await buy(reader)
            await buy(reader)
            states["3 bought this month, 1 returned"] += 1
        elif draw < 0.15:
            await buy(reader)
            await buy(reader)
            states["2 bought, unreturned"] += 1
        elif draw < 0.40:
            await buy(reader)
            states["1 bought"] += 1
        elif draw < 0.43:
            await Suspension.create(reader=reader, kind=SuspensionKind.SUSPENDED, reason="逾期未还", starts_at=now)
            states["suspended"] += 1
        elif draw < 0.46:
            await Charge.create(
                reader=reader,
                kind=ChargeKind.OVERDUE,
                amount_fen=2_000,
                library_id=reader.home_library_id,
                occasion=f"bench:{reader.id}",
                created_at=now,
            )
            states["owing 20 yuan"] += 1
        else:
            states["nothing bought"] += 1
    last = await Budget.get(main_library__code=SHOPS[-1][1], year=this_year, month=None)
    await budgets.set_budget(admin, SHOPS[-1][1], this_year, last.reserved_fen + last.spent_fen + 3_000)
    return readers, states


# --- load -----------------------------------------------------------------------------------------------------------


Request = Callable[[Connection, random.Random], Awaitable[Answer]]


async def drive(
    server: psutil.Process, base_url: str, name: str, clients: int, seconds: float, request: Request
) -> Load:
    """`clients` connections, one request in flight each, for `seconds`."""
    result = Load(name, clients)
    opened = [await Connection.open(base_url) for _ in range(clients)]
    processes = [server, *server.children(recursive=True)]
    before = cpu_seconds(processes)
    deadline = time.perf_counter() + seconds

    async def loop(connection: Connection, rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            answer = await request(connection, rng)
            result.latencies.append(time.perf_counter() - began)
            result.statuses[answer.status] += 1

    started = time.perf_counter()
    # Seeded by the load's name: a warm-up does not send the very requests the measured load then repeats.
    await asyncio.gather(*(loop(c, random.Random(f"{name}:{i}")) for i, c in enumerate(opened)))
    result.seconds = time.perf_counter() - started
    result.server_cpu = cpu_seconds(processes) - before
    for connection in opened:
        await connection.close()
    return result


def live(connection: Connection, rng: random.Random) -> Awaitable[Answer]:
    return connection.request("GET", LIVE, "-")


def scan(setup: Setup, rng: random.Random) -> tuple[int, Shop, str]:
    """A random reader (their index) checking a random title of a random shop (weighted by its stock), or one the
    shop lacks."""
    shop = rng.choices(setup.shops, [len(s.isbns) for s in setup.shops])[0]
    isbn = rng.choice(setup.not_stocked if rng.random() < NOT_STOCKED_SHARE else shop.isbns)
    return rng.randrange(len(setup.reader_ids)), shop, isbn


def checks(setup: Setup, reasons: Counter[str]) -> Request:
    async def check(connection: Connection, rng: random.Random) -> Answer:
        reader, shop, isbn = scan(setup, rng)
        query = urlencode({"bookstore_id": shop.id, "isbn": isbn})
        answer = await connection.request("GET", f"{CHECK}?{query}", setup.tokens[reader])
        body = answer.json()
        if answer.status == 200:
            found = [r["code"] for r in body["reasons"]]
            reasons.update(found or ["(approvable)"])
            if body["holdings"]:
                reasons["(held: where to borrow listed)"] += 1
        else:
            reasons[f"{answer.status} {body.get('code', '')}"] += 1
        return answer

    return check


@dataclass(frozen=True, slots=True)
class Breakdown:
    checks: int
    seconds: float
    statements: list[Statement]


async def in_process(settings: Settings, setup: Setup, count: int, seed: int) -> Breakdown:
    """`count` checks one at a time through `check_isbn` in this process, every SQL statement timed."""
    async with await bootstrap(settings) as deps:
        readers = await Reader.filter(id__in=setup.reader_ids).in_bulk(setup.reader_ids, "id")
        rng = random.Random(seed)
        recorded: list[Statement] = []
        spent = 0.0
        for _ in range(count):
            reader, shop, isbn = scan(setup, rng)
            with recording_statements() as statements:
                began = time.perf_counter()
                with contextlib.suppress(NotInStock):
                    await check_isbn(
                        readers[setup.reader_ids[reader]],
                        shop.id,
                        isbn,
                        now=deps.clock.now(),
                        policy=deps.purchase_policy,
                        credit_check=deps.credit_check,
                    )
                spent += time.perf_counter() - began
            recorded += statements
        return Breakdown(count, spent, recorded)


# --- delivery orders ------------------------------------------------------------------------------------------------

ORDER = "/readers/me/delivery/orders"
READERS_PER_ORDERER = 8
ORDER_TITLES = 20_000  # titles the readers choose from
HOT = 300  # titles many readers want at once: two orders race for their copies
HOT_SHARE = 0.1
HOME_SHARE = 0.2  # of the orders, to the reader's door (a fee); the rest to a service point (free)
HOME = {"recipient": "张三", "phone": "13800138000", "address": "安徽省铜陵市铜官区长江中路100号3单元502室"}
ACTIVE_LINES = "('reserved', 'picked', 'gathered')"


@dataclass(frozen=True, slots=True)
class Ordering:
    tokens: list[str]
    titles: list[int]
    hot: list[int]
    pickups: list[str]


async def prepare_orders(deps: Dependencies, options: argparse.Namespace) -> Ordering:
    """Readers with cards, the titles they choose from (a copy of each on a lending library's shelf), and the
    service points with a hold shelf."""
    rng = random.Random(options.seed + 7)
    readers = await card_readers(options.orderers * READERS_PER_ORDERER, 80_000_000, rng)
    rows = await connections.get("default").execute_query_dict(
        f"SELECT DISTINCT c.record_id {ORDERABLE} AND c.item_type = 'book' AND c.id % 37 = 0 LIMIT {ORDER_TITLES}"
    )
    titles = [int(row["record_id"]) for row in rows]
    rng.shuffle(titles)
    pickups = sorted(await Library.filter(holds_pickup=True, active=True).values_list("code", flat=True))
    return Ordering(await reader_tokens(deps, readers), titles[HOT:], titles[:HOT], [str(code) for code in pickups])


@dataclass(slots=True)
class OrderTally:
    placed: int = 0
    lines: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    checked: list[str] = field(default_factory=list)


def orders(ordering: Ordering, tally: OrderTally) -> Request:
    """A random reader ordering 1-5 titles (some of those many want), to a service point or to their door."""

    ordered: dict[str, set[int]] = {}  # per reader: as the app, no title already in one of their orders

    async def order(connection: Connection, rng: random.Random) -> Answer:
        token = rng.choice(ordering.tokens)
        mine = ordered.setdefault(token, set())
        wanted = {rng.choice(ordering.hot if rng.random() < HOT_SHARE else ordering.titles) for _ in range(5)} - mine
        chosen = rng.sample(sorted(wanted), rng.randint(1, len(wanted))) if wanted else [rng.choice(ordering.titles)]
        body: dict[str, object] = {"record_ids": chosen}
        if rng.random() < HOME_SHARE:
            body |= {"destination": "home", "address": HOME}
        else:
            body |= {"destination": "service_point", "pickup_library_code": rng.choice(ordering.pickups)}
        answer = await connection.request("POST", ORDER, token, json.dumps(body).encode())
        found = answer.json()
        if answer.status == 201:
            mine.update(chosen)
            tally.placed += 1
            tally.lines += len(found["lines"])
        else:
            codes = [reason["code"] for reason in found.get("reasons", [])] or [found.get("code", "")]
            tally.refused.update(f"{answer.status} {code}" for code in codes)
        return answer

    return order


async def check_orders(settings: Settings, tally: OrderTally) -> None:
    """No copy in two active orders; every copy in an active order `in_delivery` and none else; the books placed
    are the lines written."""
    await db.init_orm(settings.database.url)
    try:
        conn = connections.get("default")
        (row,) = await conn.execute_query_dict(
            "SELECT "
            f"(SELECT count(*) FROM (SELECT copy_id FROM delivery_line WHERE state IN {ACTIVE_LINES} "
            "GROUP BY copy_id HAVING count(*) > 1) twice) AS twice, "
            f"(SELECT count(*) FROM delivery_line l JOIN copy c ON c.id = l.copy_id WHERE l.state IN {ACTIVE_LINES} "
            "AND c.status <> 'in_delivery') AS not_reserved, "
            "(SELECT count(*) FROM copy c WHERE c.status = 'in_delivery' AND NOT EXISTS (SELECT 1 FROM delivery_line l "
            f"WHERE l.copy_id = c.id AND l.state IN {ACTIVE_LINES})) AS stray, "
            "(SELECT count(*) FROM delivery_order) AS orders, "
            f"(SELECT count(*) FROM delivery_line WHERE state IN {ACTIVE_LINES}) AS lines"
        )
    finally:
        await db.close_orm()
    tally.checked = [
        f"copies in two active orders: {row['twice']} (expected 0)",
        f"copies in an active order not `in_delivery`: {row['not_reserved']} (expected 0)",
        f"copies `in_delivery` in no active order: {row['stray']} (expected 0)",
        f"orders in the database: {row['orders']:,}, with {row['lines']:,} books (answered 201, warm-up included: "
        f"{tally.placed:,} orders, {tally.lines:,} books)",
    ]
    if (
        row["twice"]
        or row["not_reserved"]
        or row["stray"]
        or (row["orders"], row["lines"])
        != (
            tally.placed,
            tally.lines,
        )
    ):
        print("DELIVERY ORDERS INCONSISTENT:", *tally.checked, sep="\n  ", file=sys.stderr)


# --- report -----------------------------------------------------------------------------------------------------------


def table(runs: list[Load], baseline: Load) -> list[str]:
    lines = [
        "| endpoint | requests | requests/s | ratio to /health/live | p50 / p99 ms | server CPU ms/req | answers |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        answers = ", ".join(f"{status}: {count:,}" for status, count in sorted(run.statuses.items()))
        lines.append(
            f"| {run.name} | {len(run.latencies):,} | {run.rate:,.0f} | {run.rate / baseline.rate:.3f} | "
            f"{percentile_ms(run.latencies, 0.5):.1f} / {percentile_ms(run.latencies, 0.99):.1f} | "
            f"{run.cpu_ms:.2f} | {answers} |"
        )
    return lines


def breakdown_lines(found: Breakdown) -> list[str]:
    by_statement: dict[str, list[float]] = {}
    for statement in found.statements:
        by_statement.setdefault(statement.sql, []).append(statement.seconds)
    n = found.checks
    sql = sum(statement.seconds for statement in found.statements)
    lines = [
        f"In process, `check_isbn` alone, one at a time ({n} checks): {1000 * found.seconds / n:.1f} ms a check, of "
        f"which {1000 * sql / n:.1f} ms waiting for {len(found.statements) / n:.1f} statements; the five taking most:",
        "",
        "| ms a check | statements a check | statement |",
        "|---:|---:|---|",
    ]
    ranked = sorted(by_statement.items(), key=lambda item: -sum(item[1]))[:5]
    for text, seconds in ranked:
        shown = " ".join(text.split())[:110].replace("|", "\\|")
        lines.append(f"| {1000 * sum(seconds) / found.checks:.2f} | {len(seconds) / found.checks:.2f} | `{shown}…` |")
    return lines


def report_checks(
    catalogue: Catalogue, setup: Setup, runs: list[Load], reasons: Counter[str], found: Breakdown
) -> list[str]:
    imp = catalogue.imported
    lines = [
        f"- catalogue: {catalogue.records:,} records, {catalogue.copies:,} copies; imported by `import_records` in "
        f"{imp.seconds:,.0f} s ({imp.records_created / imp.seconds:,.0f} records/s), circulation states "
        f"{imp.circulation_seconds:,.0f} s, VACUUM ANALYZE {imp.analyze_seconds:,.0f} s",
        "- partner stock (real feed import, CSV): "
        + "; ".join(f"{s.name} ({s.library}) {len(s.isbns):,} titles, {s.held:,} held" for s in setup.shops)
        + f"; made and loaded in {setup.stock_seconds:,.0f} s",
        "- readers: " + ", ".join(f"{n:,} {state}" for state, n in setup.readers.most_common()),
        "",
        *table(runs, runs[0]),
        "",
        "Reasons given (a check gives every one that applies):",
        "",
        "| reason | checks | share |",
        "|---|---:|---:|",
    ]
    total = len(runs[1].latencies)
    lines += [f"| {code} | {n:,} | {100 * n / total:.1f}% |" for code, n in reasons.most_common()]
    return [*lines, "", *breakdown_lines(found)]


def report_orders(catalogue: Catalogue, ordering: Ordering, runs: list[Load], tally: OrderTally) -> list[str]:
    lines = [
        f"- catalogue: {catalogue.records:,} records, {catalogue.copies:,} copies; {len(ordering.tokens):,} readers "
        f"ordering, {len(ordering.titles):,} titles with a copy to order ({len(ordering.hot)} of them sought by many: "
        f"{HOT_SHARE:.0%} of the titles chosen), {len(ordering.pickups)} service points",
        "",
        *table(runs, runs[0]),
        "",
        f"Orders placed, warm-up included: {tally.placed:,} ({tally.lines:,} books); refusals by code (an order "
        "refused for several reasons counts under each): "
        + (", ".join(f"{code} {n:,}" for code, n in tally.refused.most_common()) or "none"),
        "",
        "Checked afterwards in the database:",
        "",
        *(f"- {line}" for line in tally.checked),
    ]
    return lines


def print_report(sections: list[tuple[str, list[str]]], options: argparse.Namespace, version: str) -> None:
    load_average = os.getloadavg()
    head = [
        *machine_lines(version)[:2],
        "- load generator: this process, asyncio and `bench.loadgen` (one request in flight per connection), on the "
        "same cores as the server, PostgreSQL and Redis",
        f"- command: `.venv/bin/python -m bench.purchases --records {options.records} --clients {options.clients} "
        f"--orderers {options.orderers} --seconds {options.seconds:g} --readers {options.readers} --only "
        f"{options.only}`",
        f"- load average after the run (1, 5, 15 min): {load_average[0]:.2f}, {load_average[1]:.2f}, "
        f"{load_average[2]:.2f}",
    ]
    print("\n## Click and deliver\n", *head, sep="\n")
    for title, lines in sections:
        print(f"\n### {title}\n", *lines, sep="\n", flush=True)


# --- the run --------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    catalogue: Catalogue
    setup: Setup | None
    ordering: Ordering | None


async def prepared(settings: Settings, options: argparse.Namespace, workdir: Path) -> Prepared:
    async with await bootstrap(settings) as deps:
        catalogue = await load_catalogue(options, workdir)
        setup = await prepare(deps, options, catalogue.records) if options.only != "orders" else None
        ordering = await prepare_orders(deps, options) if options.only != "checks" else None
        await connections.get("default").execute_script("VACUUM ANALYZE")
        return Prepared(catalogue, setup, ordering)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.purchases", description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="catalogue records (default 1,000,000)")
    parser.add_argument("--readers", type=int, default=2000, help="readers checking books (default 2000)")
    parser.add_argument("--clients", type=int, default=32, help="connections checking ISBNs (default 32)")
    parser.add_argument("--orderers", type=int, default=64, help="connections placing orders (default 64)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted load before each (default 2)")
    parser.add_argument("--breakdown", type=int, default=300, help="checks timed statement by statement (default 300)")
    parser.add_argument("--seed", type=int, default=3, help="of the data, the stock, the readers and the requests")
    parser.add_argument("--only", choices=("checks", "orders", "both"), default="both", help="what to measure")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        ready = asyncio.run(prepared(backing.settings, options, workdir))
        # This process held the generated catalogue: a full collection of what is left would pause a measurement.
        gc.collect()
        gc.freeze()
        pool = max(options.clients, options.orderers)
        server = serve(stack, backing.settings, workdir, workers=1, pool=pool)
        proc, url, s, warmup = server.process, server.base_url, options.seconds, options.warmup
        sections: list[tuple[str, list[str]]] = []
        if ready.setup is not None:
            setup, n, reasons = ready.setup, options.clients, Counter[str]()

            async def measure_checks() -> list[Load]:
                await drive(proc, url, "warm-up", n, warmup, checks(setup, Counter()))
                baseline = await drive(proc, url, LIVE, n, s, live)
                return [baseline, await drive(proc, url, "**ISBN check in the shop**", n, s, checks(setup, reasons))]

            runs = asyncio.run(measure_checks())
            found = asyncio.run(in_process(backing.settings, setup, options.breakdown, options.seed))
            title = f"ISBN checks in the shop, {options.clients} connections"
            sections.append((title, report_checks(ready.catalogue, setup, runs, reasons, found)))
        if ready.ordering is not None:
            ordering, n, tally = ready.ordering, options.orderers, OrderTally()
            order = orders(ordering, tally)  # the same readers' orders, warm-up and measured

            async def measure_orders() -> list[Load]:
                await drive(proc, url, "warm-up", n, warmup, order)
                baseline = await drive(proc, url, LIVE, n, s, live)
                return [baseline, await drive(proc, url, "**delivery order placed**", n, s, order)]

            runs = asyncio.run(measure_orders())
            asyncio.run(check_orders(backing.settings, tally))
            title = f"Delivery orders, {options.orderers} readers ordering at once"
            sections.append((title, report_orders(ready.catalogue, ordering, runs, tally)))
        print_report(sections, options, backing.postgres_version)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
