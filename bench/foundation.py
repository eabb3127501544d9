"""The foundation benchmark: the real server (`shuxiang serve --workers 1`, granian) on PostgreSQL and Redis,
loaded over HTTP on 127.0.0.1, every endpoint for the same time with the same number of connections.

    .venv/bin/python -m bench.foundation [--seconds 10] [--concurrency 32]

It starts what it needs (a throwaway PostgreSQL cluster with fsync off, a Redis server, a WeChat-compatible fake,
the API server as a subprocess), loads the demo network, logs readers and the demo librarian in through the API,
measures, prints a Markdown table and stops everything it started. Throughput is also given as a ratio of the
framework's trivial endpoint (/health/live) measured in the same run: these machines are shared and noisy, so
absolute numbers move from run to run and the ratios much less. The load generator (this process: asyncio and
httpx, plus the fake WeChat's threads) shares the machine's cores with the server, PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import os
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from backend.demo.network import DEMO_PASSWORD
from bench.harness import Server, api_server, cpu_seconds, load_demo, machine_lines, percentile_ms, stop_on_sigterm
from entrypoints.embedded import throwaway_postgres, throwaway_redis, with_pool
from standins.wechat import FakeWeChat

LIVE = "/health/live"  # the framework's trivial endpoint: the ceiling the others are compared with
NEARBY = "/libraries/nearby?lat=30.94&lng=117.81&limit=10"
LIBRARY = "/libraries/TL-TG"
STAFF_USERNAME = "librarian"  # a demo account (backend.demo.network), password DEMO_PASSWORD
# Card payloads are fetched before the verify run and spent during it; the server's 60-second default would let
# the first ones expire while the pool is still being filled. The TTL only sets the Redis key's expiry.
CARD_TTL_SECONDS = 3600
ACCESS_TOKEN_TTL_SECONDS = 3600  # the readers' tokens are made once, before a run that may outlast 15 minutes
# Above this share of one core the load generator, not the server, limits the rate.
LOADGEN_SATURATED = 0.9


@dataclass(frozen=True, slots=True)
class Call:
    """One request to send."""

    method: str
    path: str
    headers: dict[str, str] | None = None
    json: dict[str, str] | None = None


# The next request to send, or None once a pool of single-use inputs is spent (the run then ends early).
Source = Callable[[], Call | None]


@dataclass(slots=True)
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, of each answered request
    statuses: Counter[int] = field(default_factory=Counter)  # 0 counts requests that got no answer
    ran_dry: bool = False


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    seconds: float
    tally: Tally
    server_cpu: float  # CPU seconds of the server's processes (granian's main process and its worker)
    loadgen_cpu: float  # CPU seconds of this process: the load generator and the fake WeChat's threads
    machine_busy: float  # percent of all cores busy, whoever used them (server, PostgreSQL, Redis, us)

    @property
    def requests(self) -> int:
        return sum(self.tally.statuses.values())

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.tally.statuses.items() if not 200 <= status < 300)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def loadgen_bound(self) -> bool:
        return self.loadgen_cpu / self.seconds >= LOADGEN_SATURATED

    def latency_ms(self, fraction: float) -> float:
        """Nearest-rank percentile of the answered requests' latencies."""
        return percentile_ms(self.tally.latencies, fraction)


# --- load ---------------------------------------------------------------------------------------------------------


async def drive(clients: list[httpx.AsyncClient], source: Source, seconds: float) -> Tally:
    """Keep one request in flight per client (each holds one connection) for `seconds`: each is sent when the
    last one has returned."""
    deadline = time.perf_counter() + seconds
    tally = Tally()

    async def connection(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            call = source()
            if call is None:
                tally.ran_dry = True
                return
            start = time.perf_counter()
            try:
                response = await client.request(call.method, call.path, headers=call.headers, json=call.json)
            except httpx.TransportError:
                tally.statuses[0] += 1
                continue
            tally.latencies.append(time.perf_counter() - start)
            tally.statuses[response.status_code] += 1

    await asyncio.gather(*(connection(client) for client in clients))
    return tally


async def measure(
    clients: list[httpx.AsyncClient], server: Server, name: str, source: Source, *, seconds: float, warmup: float
) -> Result:
    """The one measurement every endpoint gets: a warm-up that is not counted (connections opened, the database
    pool grown, first-query caches filled), then `seconds` of load, with the CPU each side used meanwhile."""
    if warmup > 0:
        await drive(clients, source, warmup)
    server_processes = [server.process, *server.process.children(recursive=True)]
    own = [psutil.Process()]
    server_before, own_before = cpu_seconds(server_processes), cpu_seconds(own)
    psutil.cpu_percent(interval=None)  # starts the machine-wide interval read at the end
    started = time.perf_counter()
    tally = await drive(clients, source, seconds)
    elapsed = time.perf_counter() - started
    result = Result(
        name=name,
        seconds=elapsed,
        tally=tally,
        server_cpu=cpu_seconds(server_processes) - server_before,
        loadgen_cpu=cpu_seconds(own) - own_before,
        machine_busy=psutil.cpu_percent(interval=None),
    )
    print(f"  {name}: {result.rate:,.0f} req/s, {result.errors} errors", file=sys.stderr, flush=True)
    return result


def repeat(call: Call) -> Source:
    return lambda: call


def each(items: Iterable[Any], make: Callable[[Any], Call]) -> Source:
    """Requests made from the items one by one; None once they are spent."""
    remaining = iter(items)
    sentinel = object()

    def source() -> Call | None:
        item = next(remaining, sentinel)
        return None if item is sentinel else make(item)

    return source


# --- preparation through the API ----------------------------------------------------------------------------------


async def send_all(clients: list[httpx.AsyncClient], calls: Iterable[Call]) -> list[Any]:
    """The JSON answers to `calls`, in order, sent over all connections (not measured); any error stops the run."""
    numbered = list(enumerate(calls))
    answers: list[Any] = [None] * len(numbered)
    pending = iter(numbered)

    async def connection(client: httpx.AsyncClient) -> None:
        for index, call in pending:
            response = await client.request(call.method, call.path, headers=call.headers, json=call.json)
            response.raise_for_status()
            answers[index] = response.json()

    await asyncio.gather(*(connection(client) for client in clients))
    return answers


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reader_login(wechat: FakeWeChat, openid: str) -> Call:
    return Call("POST", "/auth/wechat-login", json={"code": wechat.issue_login_code(openid)})


# --- the run ------------------------------------------------------------------------------------------------------


async def run(options: argparse.Namespace, server: Server, wechat: FakeWeChat) -> list[Result]:
    async with contextlib.AsyncExitStack() as stack:
        # One client per connection: httpx's pool costs more per request the more connections it holds (about
        # 1.5 ms of CPU at 32, against 0.3 ms with one), which would make the load generator the bottleneck.
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=server.base_url, limits=one, timeout=30.0))
            for _ in range(options.concurrency)
        ]

        async def timed(name: str, source: Source) -> Result:
            return await measure(clients, server, name, source, seconds=options.seconds, warmup=options.warmup)

        openids = [f"bench-reader-{i:04d}" for i in range(options.readers)]
        logins = await send_all(clients, (reader_login(wechat, openid) for openid in openids))
        readers = [bearer(answer["access_token"]) for answer in logins]
        [staff_answer] = await send_all(
            clients, [Call("POST", "/staff/auth/login", json={"username": STAFF_USERNAME, "password": DEMO_PASSWORD})]
        )
        staff = bearer(staff_answer["access_token"])
        print(f"logged in {len(readers)} readers and {STAFF_USERNAME!r}", file=sys.stderr)

        results = [await timed(f"(a) GET {LIVE}", repeat(Call("GET", LIVE)))]
        results.append(await timed("(b) GET /libraries/nearby", repeat(Call("GET", NEARBY))))
        results.append(await timed(f"(c) GET {LIBRARY}", repeat(Call("GET", LIBRARY))))
        me = await timed("(d) GET /readers/me", each(itertools.cycle(readers), lambda h: Call("GET", "/readers/me", h)))
        results.append(me)

        # Verifying does all that /readers/me does and more, so its rate there (plus the warm-up) is enough.
        needed = math.ceil(me.rate * (options.seconds + options.warmup)) + options.concurrency
        started = time.perf_counter()
        holders = itertools.islice(itertools.cycle(readers), needed)  # several cards per reader
        cards = await send_all(clients, (Call("GET", "/readers/me/card", headers) for headers in holders))
        payloads = [str(card["payload"]) for card in cards]
        print(f"fetched {needed} card payloads in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results.append(
            await timed(
                "(e) POST /staff/cards/verify",
                each(payloads, lambda p: Call("POST", "/staff/cards/verify", staff, {"payload": p})),
            )
        )
        results.append(
            await timed(
                "(f) POST /auth/wechat-login",
                each(itertools.cycle(openids), lambda openid: reader_login(wechat, openid)),
            )
        )
        # The ceiling again at the end: how far it moved is the noise of this run.
        results.append(await timed(f"(a') GET {LIVE}, again", repeat(Call("GET", LIVE))))
        return results


# --- report -------------------------------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    baseline = [r.rate for r in results if LIVE in r.name]
    ceiling = sum(baseline) / len(baseline)
    header = [
        "endpoint",
        "req/s",
        "× live",
        "p50 ms",
        "p99 ms",
        "non-2xx",
        "server CPU ms/req",
        "server CPU",
        "loadgen CPU",
        "machine busy",
    ]
    rows = [header]
    for r in results:
        rows.append(
            [
                r.name + (" †" if r.tally.ran_dry else "") + (" ‡" if r.loadgen_bound else ""),
                f"{r.rate:,.0f}",
                f"{r.rate / ceiling:.2f}",
                f"{r.latency_ms(0.50):.1f}",
                f"{r.latency_ms(0.99):.1f}",
                str(r.errors),
                f"{1000 * r.server_cpu / max(r.requests, 1):.2f}",
                f"{100 * r.server_cpu / r.seconds:.0f}%",
                f"{100 * r.loadgen_cpu / r.seconds:.0f}%",
                f"{r.machine_busy:.0f}%",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def notes(results: list[Result]) -> list[str]:
    lines = [
        f"× live: throughput over the mean of the two {LIVE} runs. CPU columns are percent of one core "
        f"(the machine has {os.cpu_count()}); machine busy is percent of all cores, whoever used them.",
    ]
    if any(r.loadgen_bound for r in results):
        lines.append(
            f"‡ the load generator used {100 * LOADGEN_SATURATED:.0f}% or more of a core: it limited the rate, the "
            "server had time to spare (compare server CPU ms/req)"
        )
    for r in results:
        if r.tally.ran_dry:
            lines.append(f"† {r.name}: its pool of single-use inputs ran out after {r.seconds:.1f} s")
        odd = {status: n for status, n in sorted(r.tally.statuses.items()) if not 200 <= status < 300}
        if odd:
            shown = ", ".join(f"{'no answer' if s == 0 else s}: {n}" for s, n in odd.items())
            lines.append(f"{r.name}: {shown}")
    return lines


# --- entry point --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.foundation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per endpoint (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted load before each (default 2)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections, one request each (default 32)")
    parser.add_argument("--readers", type=int, default=100, help="logged-in readers to spread load over (100)")
    options = parser.parse_args(argv)
    # Shells start background jobs with SIGINT ignored; asyncio.run installs its handler only over the default one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop_on_sigterm)

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        print("starting PostgreSQL, Redis and the fake WeChat server", file=sys.stderr)
        database_url = stack.enter_context(throwaway_postgres())
        redis_url = stack.enter_context(throwaway_redis(workdir / "redis"))
        wechat = stack.enter_context(FakeWeChat(appid="wx-bench-app", secret="bench-app-secret"))
        postgres_version = asyncio.run(load_demo(database_url))
        server = stack.enter_context(
            api_server(
                {
                    "SHUXIANG_DATABASE_URL": with_pool(database_url, 20),
                    "SHUXIANG_REDIS_URL": redis_url,
                    "SHUXIANG_SECRET_KEY": secrets.token_urlsafe(32),
                    "SHUXIANG_WECHAT_APPID": wechat.appid,
                    "SHUXIANG_WECHAT_SECRET": wechat.secret,
                    "SHUXIANG_WECHAT_API_BASE": wechat.base_url,
                    "SHUXIANG_CARD_PAYLOAD_TTL_SECONDS": str(CARD_TTL_SECONDS),
                    "SHUXIANG_ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL_SECONDS),
                },
                workdir,
            )
        )
        print(f"server up at {server.base_url}; measuring", file=sys.stderr)
        results = asyncio.run(run(options, server, wechat))
        print(f"\nshuxiang foundation benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(*machine_lines(postgres_version), sep="\n")
        print(
            f"- each endpoint: {options.warmup:g} s warm-up, then {options.seconds:g} s with {options.concurrency} "
            f"connections; {options.readers} readers\n"
        )
        print(table(results))
        print()
        print(*notes(results), sep="\n")
        if any(status >= 500 or status == 0 for r in results for status in r.tally.statuses):
            print(f"\n--- server log (last lines) ---\n{server.log_tail()}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # everything it started is stopped by then
        sys.exit("interrupted")
