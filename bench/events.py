"""The flash-booking benchmark: 10,000 readers hit one 100-seat event at its opening second, over HTTP on loopback.

    .venv/bin/python -m bench.events [--readers 10000] [--connections 256] [--workers 1]

It starts a throwaway PostgreSQL and Redis and the real server (`shuxiang serve`), loads the demo network,
prepares the readers and their access tokens beforehand, then measures in one run: the same server's requests/s
on a trivial authenticated endpoint (GET /readers/me: the token checked, the reader read), the framework
ceiling; and the rush itself: every reader books once, as fast as the connections allow. It prints attempts/s,
p50/p99 latency, the outcomes, and the confirmed count as the database has it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tortoise import connections

from backend import db
from backend.accounts.models import Reader
from backend.accounts.tokens import Principal, PrincipalKind, TokenPolicy, open_session
from backend.crypto import Keys
from backend.events.models import Booking, BookingStatus, Event, EventCategory, EventStatus
from backend.network.models import Library, LibraryLevel
from backend.settings import Settings
from bench.harness import machine_lines, percentile_ms, serve, start_backing, stop_on_sigterm
from bench.loadgen import Connection

CAPACITY = 100
TOKEN_TTL = timedelta(hours=2)


async def prepare(settings: Settings, readers: int) -> tuple[int, list[str]]:
    """The event, opening for booking now, and one access token per reader."""
    await db.init_orm(settings.database.url)
    try:
        central = await Library.get(level=LibraryLevel.CENTRAL)
        now = datetime.now(UTC)
        event = await Event.create(
            library=central,
            title="阳光周末·亲子绘本剧场",
            category=EventCategory.PARENT_CHILD,
            starts_at=now + timedelta(days=5),
            ends_at=now + timedelta(days=5, hours=2),
            capacity=CAPACITY,
            waitlist_limit=CAPACITY,
            booking_opens_at=now,
            booking_closes_at=now + timedelta(days=4),
            cancel_until=now + timedelta(days=4),
            status=EventStatus.PUBLISHED,
        )
        await Reader.bulk_create([Reader(card_number=f"9{i:011d}") for i in range(readers)])
        ids = await Reader.filter(card_number__startswith="9").order_by("id").values_list("id", flat=True)
        policy = TokenPolicy(Keys(settings.effective_secret_key), TOKEN_TTL, TOKEN_TTL)
        tokens = [
            (await open_session(policy, Principal(PrincipalKind.READER, int(i)), now)).access_token  # type: ignore[arg-type]
            for i in ids
        ]
        return event.id, tokens
    finally:
        await db.close_orm()


async def ceiling(base_url: str, tokens: list[str], connections_: int, seconds: float) -> float:
    """Requests/s of GET /readers/me with `connections_` concurrent clients for `seconds`."""
    done = 0
    stop = time.perf_counter() + seconds

    async def loop(token: str) -> None:
        nonlocal done
        connection = await Connection.open(base_url)
        while time.perf_counter() < stop:
            answer = await connection.request("GET", "/readers/me", token)
            assert answer.status == 200, answer.body
            done += 1
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(loop(tokens[i]) for i in range(connections_)))
    return done / (time.perf_counter() - started)


async def rush(
    base_url: str, event_id: int, tokens: list[str], connections_: int
) -> tuple[float, list[float], Counter[str]]:
    """Every reader books once; `connections_` requests in flight at any moment."""
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    queue = iter(tokens)
    opened = [await Connection.open(base_url) for _ in range(connections_)]

    async def worker(connection: Connection) -> None:
        for token in queue:
            began = time.perf_counter()
            answer = await connection.request("POST", f"/events/{event_id}/bookings", token, b"{}")
            latencies.append(time.perf_counter() - began)
            body = answer.json()
            outcomes[body["status"] if answer.status == 201 else body["code"]] += 1
        await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(connection) for connection in opened))
    return len(tokens) / (time.perf_counter() - started), latencies, outcomes


async def confirmed_in_database(database_url: str, event_id: int) -> tuple[int, int]:
    await db.init_orm(database_url)
    try:
        event = await Event.get(id=event_id)
        rows = await Booking.filter(event_id=event_id, status=BookingStatus.CONFIRMED).count()
        return rows, event.seats_taken
    finally:
        await connections.close_all()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=256, help="requests in flight (default 256)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the ceiling run (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="API worker processes (default 1)")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        settings, postgres_version, database_url = (
            backing.settings,
            backing.postgres_version,
            backing.settings.database.url,
        )
        event_id, tokens = asyncio.run(prepare(settings, options.readers))
        server = serve(stack, settings, workdir, workers=options.workers, pool=max(4, math.ceil(32 / options.workers)))
        trivial = asyncio.run(ceiling(server.base_url, tokens, options.connections, options.seconds))
        rate, latencies, outcomes = asyncio.run(rush(server.base_url, event_id, tokens, options.connections))
        rows, seats = asyncio.run(confirmed_in_database(database_url, event_id))

    print(f"\n## Flash booking: {options.readers:,} readers, one {CAPACITY}-seat event\n")
    print(*machine_lines(postgres_version, options.workers), sep="\n")
    print(f"- requests in flight: {options.connections}\n")
    print("| measure | value |\n|---|---:|")
    print(f"| trivial authenticated endpoint (GET /readers/me), requests/s | {trivial:,.0f} |")
    print(f"| booking attempts/s | {rate:,.0f} |")
    print(f"| ratio, booking / trivial | {rate / trivial:.2f} |")
    print(f"| booking p50 / p99, ms | {percentile_ms(latencies, 0.5):.1f} / {percentile_ms(latencies, 0.99):.1f} |")
    print(f"| outcomes | {', '.join(f'{k}: {v:,}' for k, v in outcomes.most_common())} |")
    print(f"| confirmed bookings in the database / event's seats_taken | {rows} / {seats} |")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
