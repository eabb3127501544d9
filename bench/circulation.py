"""The circulation benchmark (issue 4): readers borrowing and returning at once, over HTTP against PostgreSQL, and
beside it, in the same run, the same SQL issued directly with asyncpg: the floor of what the database can do.

    .venv/bin/python -m bench.circulation [--seconds 10] [--clients 64]

It starts a throwaway PostgreSQL cluster and a Redis server, loads the demo network, and gives every client a
reader of its own and a copy of its own at the central library. Each client then loops: the reader borrows the
copy in the app (`POST /readers/me/loans/self-checkout`, self-service at the central library), then the desk
takes it back (`POST /staff/checkins`). Every request is a whole transaction with the credit, tier, rule and
hold checks of a real loan.

The floor: one loop (checkout and check-in) is first run through the app in this process while asyncpg logs
every statement of its one pool connection, from authentication to the response's own reads, BEGIN and COMMIT
included. Each client's asyncpg connection then replays that statement list with its own reader, copy and loan,
one statement after the other as the server sends them, for as long as the HTTP run took. The ratio of the two
rates is what the server (HTTP, the framework, the ORM, the domain code) costs over the database's own work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from tortoise import connections

from backend import db
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.staff import hash_password
from backend.accounts.tokens import Principal, PrincipalKind, TokenPolicy, open_session
from backend.catalog.models import Copy, Record
from backend.catalog.search import index_records
from backend.crypto import Keys
from backend.network.models import Library, LibraryLevel
from backend.settings import DatabaseSettings, Settings
from bench.harness import cpu_seconds, machine_lines, percentile_ms, serve, start_backing, stop_on_sigterm
from bench.loadgen import Connection
from entrypoints.embedded import with_pool
from miniprogram_api.app import create_app

CHECKOUT = "/readers/me/loans/self-checkout"
CHECKIN = "/staff/checkins"
# The loop recorded for the floor uses a reader, a copy and a loan with ids no other value of its statements has,
# so that replaying it for another client replaces exactly them.
RECORDED_READER, RECORDED_COPY, RECORDED_LOAN = 900_001, 800_001, 700_001
RECORDED_BARCODE = "BENCHREC0"
TOKEN_TTL = timedelta(hours=2)


@dataclass(slots=True)
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"checkout": [], "checkin": []})
    failures: int = 0

    @property
    def operations(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def percentile_ms(self, fraction: float, op: str | None = None) -> float:
        return percentile_ms(self.latencies[op] if op else [x for v in self.latencies.values() for x in v], fraction)


@dataclass(frozen=True, slots=True)
class Client:
    reader_id: int
    barcode: str
    copy_id: int
    token: str


@dataclass(frozen=True, slots=True)
class Setup:
    library_code: str
    clients: list[Client]
    staff_token: str
    statements: dict[str, list[tuple[str, tuple[Any, ...]]]]  # per operation, as the server sent them


# --- preparation ----------------------------------------------------------------------------------------------------


async def prepare(settings: Settings, count: int) -> Setup:
    """Readers, copies and a desk at the central library; tokens; and the recorded statements of one loop."""
    await db.init_orm(settings.database.url)
    try:
        central = await Library.get(level=LibraryLevel.CENTRAL)
        record = await Record.create(title="信用借还基准测试用书")
        await Reader.bulk_create([Reader(card_number=f"9{i:011d}") for i in range(count)])
        await Reader.create(id=RECORDED_READER, card_number="8" * 12)
        readers = await Reader.filter(card_number__startswith="9").order_by("id")
        await Copy.bulk_create(
            [
                Copy(barcode=f"BENCH{i:04d}", record=record, home_library=central, current_library=central)
                for i in range(count)
            ]
        )
        await Copy.create(
            id=RECORDED_COPY, barcode=RECORDED_BARCODE, record=record, home_library=central, current_library=central
        )
        await index_records([record.id])
        desk = await StaffUser.create(
            username="bench-desk",
            password_hash=hash_password(secrets.token_urlsafe(16)),
            role=StaffRole.LIBRARIAN,
            library=central,
        )
        conn = connections.get("default")
        await conn.execute_script(f"SELECT setval(pg_get_serial_sequence('loan', 'id'), {RECORDED_LOAN - 1})")
        policy = TokenPolicy(Keys(settings.effective_secret_key), TOKEN_TTL, TOKEN_TTL)
        now = datetime.now(UTC)

        async def token(kind: PrincipalKind, ident: int) -> str:
            return (await open_session(policy, Principal(kind, ident), now)).access_token

        copies = {c.barcode: c.id for c in await Copy.filter(barcode__startswith="BENCH0")}
        clients = [
            Client(r.id, f"BENCH{i:04d}", copies[f"BENCH{i:04d}"], await token(PrincipalKind.READER, r.id))
            for i, r in enumerate(readers)
        ]
        staff_token = await token(PrincipalKind.STAFF, desk.id)
        recorder = await token(PrincipalKind.READER, RECORDED_READER)
    finally:
        await db.close_orm()
    # One connection in the pool: every statement of the loop goes through it, and into its log.
    one = dataclasses.replace(settings, database=DatabaseSettings(with_pool(settings.database.url, 1)))
    statements = await record_loop(one, central.code, recorder, staff_token)
    return Setup(central.code, clients, staff_token, statements)


async def record_loop(
    settings: Settings, library_code: str, reader_token: str, staff_token: str
) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """One checkout and one check-in through the app in this process, every statement of its single database
    connection logged by asyncpg."""
    log: list[tuple[str, tuple[Any, ...]]] = []
    app = create_app(settings)  # its lifespan opens the ORM with the settings' one-connection pool
    recorded: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http,
    ):
        client: Any = connections.get("default")
        async with client.acquire_connection() as raw:
            raw.add_query_logger(lambda q: log.append((q.query, tuple(q.args or ()))))
        for op, path, body, token in [
            ("checkout", CHECKOUT, {"library_code": library_code, "barcode": RECORDED_BARCODE}, reader_token),
            ("checkin", CHECKIN, {"barcode": RECORDED_BARCODE}, staff_token),
        ]:
            log.clear()
            response = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            if response.status_code >= 300:
                raise RuntimeError(f"recording {op}: {response.status_code} {response.text}")
            recorded[op] = list(log)
    return recorded


# --- load -----------------------------------------------------------------------------------------------------------


async def drive(
    clients: list[Client], seconds: float, step: Callable[[Client, str], Awaitable[bool]]
) -> tuple[Tally, float]:
    """Each client loops checkout, check-in, ... for `seconds`, one operation in flight at a time."""
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def loop(client: Client) -> None:
        op = "checkout"
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            if await step(client, op):
                tally.latencies[op].append(time.perf_counter() - started)
                op = "checkin" if op == "checkout" else "checkout"
            else:
                tally.failures += 1
        if op == "checkin":  # leave the copy on the shelf for the next run (not counted)
            await step(client, op)

    started = time.perf_counter()
    await asyncio.gather(*(loop(client) for client in clients))
    return tally, time.perf_counter() - started


@contextlib.asynccontextmanager
async def http_steps(setup: Setup, base_url: str) -> AsyncIterator[Callable[[Client, str], Awaitable[bool]]]:
    sessions = {c.reader_id: await Connection.open(base_url) for c in setup.clients}
    failures: list[str] = []

    async def step(client: Client, op: str) -> bool:
        http = sessions[client.reader_id]
        if op == "checkout":
            body = {"library_code": setup.library_code, "barcode": client.barcode}
            answer = await http.request("POST", CHECKOUT, client.token, json.dumps(body).encode())
        else:
            answer = await http.request(
                "POST", CHECKIN, setup.staff_token, json.dumps({"barcode": client.barcode}).encode()
            )
        if answer.status >= 300 and len(failures) < 5:
            failures.append(f"{op} {answer.status} {answer.body[:300]!r}")
        return answer.status < 300

    try:
        yield step
    finally:
        for session in sessions.values():
            await session.close()
        for failure in failures:
            print(f"  failed: {failure}", file=sys.stderr)


@contextlib.asynccontextmanager
async def direct_steps(setup: Setup, database_url: str) -> AsyncIterator[Callable[[Client, str], Awaitable[bool]]]:
    """The recorded statements, replayed per client on a connection of its own with its reader, copy and loan."""
    conns = {c.reader_id: await asyncpg.connect(database_url) for c in setup.clients}
    loans: dict[int, int] = {}

    def mapped(value: Any, client: Client) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {RECORDED_READER: client.reader_id, RECORDED_COPY: client.copy_id}.get(
                value, loans.get(client.reader_id, value) if value == RECORDED_LOAN else value
            )
        if isinstance(value, str):
            loan = str(loans.get(client.reader_id, RECORDED_LOAN))
            return value.replace(RECORDED_BARCODE, client.barcode).replace(str(RECORDED_LOAN), loan)
        if isinstance(value, list):
            return [mapped(v, client) for v in value]
        return value

    async def step(client: Client, op: str) -> bool:
        conn = conns[client.reader_id]
        for query, args in setup.statements[op]:
            if not args:  # BEGIN, COMMIT and the like, sent as simple queries
                await conn.execute(query)
                continue
            rows = await conn.fetch(query, *(mapped(a, client) for a in args))
            if query.startswith('INSERT INTO "loan"'):
                loans[client.reader_id] = rows[0][0]
        return True

    try:
        yield step
    finally:
        for conn in conns.values():
            await conn.close()


# --- the run --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    tally: Tally
    seconds: float
    server_cpu: float
    machine_busy: float

    @property
    def rate(self) -> float:
        return self.tally.operations / self.seconds


async def measure(
    name: str,
    clients: list[Client],
    steps: Callable[[Client, str], Awaitable[bool]],
    seconds: float,
    warmup: float,
    server: psutil.Process | None,
) -> Run:
    await drive(clients, warmup, steps)
    processes = [server, *server.children(recursive=True)] if server is not None else []
    before = cpu_seconds(processes)
    psutil.cpu_percent(interval=None)
    tally, elapsed = await drive(clients, seconds, steps)
    run = Run(name, tally, elapsed, cpu_seconds(processes) - before, psutil.cpu_percent(interval=None))
    print(f"  {name}: {run.rate:,.0f} operations/s, {tally.failures} failed", file=sys.stderr, flush=True)
    return run


def report(runs: list[Run], setup: Setup, options: argparse.Namespace, postgres_version: str) -> None:
    print(f"\nshuxiang circulation benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(*machine_lines(postgres_version, options.workers)[:2], sep="\n")
    print(
        f"- {options.workers} API worker(s); {options.clients} clients, each a reader with a copy of their own at the "
        "central library, looping "
        f"self-service checkout and desk check-in; {options.warmup:g} s warm-up, then {options.seconds:g} s"
    )
    counts = {op: len(s) for op, s in setup.statements.items()}
    print(
        f"- statements per operation, as the server sends them: checkout {counts['checkout']}, "
        f"check-in {counts['checkin']}\n"
    )
    print(
        "| run | operations/s | p50 ms | p99 ms | checkout p50 / p99 | check-in p50 / p99 | failed "
        "| server CPU ms/op | machine busy |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in runs:
        t = run.tally
        cpu = f"{1000 * run.server_cpu / max(t.operations, 1):.2f}" if run.server_cpu else ""
        print(
            f"| {run.name} | {run.rate:,.0f} | {t.percentile_ms(0.5):.1f} | {t.percentile_ms(0.99):.1f} | "
            f"{t.percentile_ms(0.5, 'checkout'):.1f} / {t.percentile_ms(0.99, 'checkout'):.1f} | "
            f"{t.percentile_ms(0.5, 'checkin'):.1f} / {t.percentile_ms(0.99, 'checkin'):.1f} | {t.failures} | "
            f"{cpu} | {run.machine_busy:.0f}% |"
        )
    http, direct = runs
    print(
        f"\nHTTP over direct asyncpg: {http.rate / direct.rate:.2f} (target: at least 0.5); "
        f"HTTP p99 {http.tally.percentile_ms(0.99):.1f} ms (target: under 25 ms)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.circulation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per run (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted load before each run (default 2)")
    parser.add_argument("--clients", type=int, default=64, help="concurrent clients (default 64)")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (default 1)")
    parser.add_argument("--show-statements", action="store_true", help="print the recorded statements")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        settings, postgres_version, database_url = (
            backing.settings,
            backing.postgres_version,
            backing.settings.database.url,
        )
        setup = asyncio.run(prepare(settings, options.clients))
        pool = math.ceil(options.clients / options.workers)  # the server's connections, spread over its workers
        server = serve(stack, settings, workdir, workers=options.workers, pool=pool)

        async def both() -> list[Run]:
            async with http_steps(setup, server.base_url) as steps:
                http = await measure("HTTP", setup.clients, steps, options.seconds, options.warmup, server.process)
            async with direct_steps(setup, database_url) as steps:
                direct = await measure("direct asyncpg", setup.clients, steps, options.seconds, options.warmup, None)
            return [http, direct]

        if options.show_statements:
            for op, statements in setup.statements.items():
                print(f"\n{op}:", *(f"  {q} -- {a!r}" for q, a in statements), sep="\n")
        report(asyncio.run(both()), setup, options, postgres_version)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
