"""What the request observer (request id, metrics, the JSON access line) costs: CPU per in-process ASGI call of the
whole app against the same app with the observer taken off, on the trivial endpoint and on a database-backed one.

In process and without a network, so that the difference is the observer's and not the server's or the load
generator's; the two variants alternate in one run, on a throwaway PostgreSQL and Redis, with production logging
(JSON lines on stderr: redirect it). Usage: `.venv/bin/python -m bench.middleware [--calls 3000] 2>/dev/null`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from litestar import Litestar

from backend import db
from backend.demo.network import seed_demo
from backend.settings import DatabaseSettings, LogSettings, RedisSettings, SecuritySettings, ServerSettings, Settings
from bench.harness import machine_lines
from entrypoints import logs
from entrypoints.embedded import throwaway_postgres, throwaway_redis, with_pool
from miniprogram_api.app import create_app

WARM_UP_CALLS = 300
ROUNDS = 2  # each variant measured this many times, alternating; the best of each is kept


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("192.0.2.1", 1),
        "server": ("bench", 80),
    }


async def _call(handler: Any, path: str) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await handler(_scope(path), receive, send)
    assert sent[0]["status"] == 200, sent


async def _cpu_per_call(handler: Any, path: str, calls: int) -> float:
    """Microseconds of this process's CPU (the log writer's thread included) per call."""
    for _ in range(WARM_UP_CALLS):
        await _call(handler, path)
    started = time.process_time()
    for _ in range(calls):
        await _call(handler, path)
    return (time.process_time() - started) / calls * 1e6


@contextlib.asynccontextmanager
async def _running(app: Litestar) -> AsyncIterator[None]:
    async with app.lifespan():
        yield


async def _measure(settings: Settings, calls: int) -> list[tuple[str, float, float]]:
    await db.migrate(settings.database.url)
    app = create_app(settings)
    observed = app.asgi_handler
    bare = observed.app  # what the observer wraps: the router and everything under it
    results = []
    async with _running(app):
        await seed_demo()  # /libraries answers the demo network's first page
        for path, times in (("/health/live", 3), ("/libraries", 1)):
            best = {"with": float("inf"), "without": float("inf")}
            for _ in range(ROUNDS):
                for variant, handler in (("with", observed), ("without", bare)):
                    app.asgi_handler = handler  # the app itself is called: it puts itself in the scope first
                    best[variant] = min(best[variant], await _cpu_per_call(app, path, calls * times))
            app.asgi_handler = observed
            results.append((path, best["with"], best["without"]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per measurement of the database-backed path")
    args = parser.parse_args()
    logs.configure(LogSettings())  # production: JSON lines on stderr, written by the background thread
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        settings = Settings(
            server=ServerSettings(data_dir=workdir),
            database=DatabaseSettings(with_pool(stack.enter_context(throwaway_postgres()), 5)),
            redis=RedisSettings(stack.enter_context(throwaway_redis(workdir / "redis"))),
            security=SecuritySettings(secret_key="bench-secret-key-0123456789"),
        )
        results = asyncio.run(_measure(settings, args.calls))
    print("| path | with the observer (µs CPU) | without | ratio |")
    print("|---|---:|---:|---:|")
    for path, observed, bare in results:
        print(f"| `{path}` | {observed:.1f} | {bare:.1f} | {observed / bare:.2f} |")
    print()
    print(machine_lines("")[0])  # the machine; no server or load generator here


if __name__ == "__main__":
    main()
