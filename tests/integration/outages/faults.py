"""Outages on demand, at a chosen moment: requests held inside PostgreSQL, its connections dropped, the server
stopped and started again, Redis's connections dropped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
from redis.asyncio import Redis

from entrypoints.embedded import POSTGRES_BIN_PATH

_CLIENTS = "datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
_WAITING = f"SELECT count(*) FROM pg_stat_activity WHERE {_CLIENTS} AND wait_event_type = 'Lock'"
_TERMINATE = f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE {_CLIENTS}"


def pool_size(database_url: str) -> int:
    """The most connections the service opens (the `maxsize` of its URL)."""
    return int(parse_qs(urlsplit(database_url).query)["maxsize"][0])


@dataclass
class HeldWrites:
    monitor: asyncpg.Connection

    async def until_waiting(self, count: int) -> None:
        """Return once `count` connections of the service wait on the lock (a state polled, not a time waited)."""
        async with asyncio.timeout(60):
            while await self.monitor.fetchval(_WAITING) < count:  # noqa: ASYNC110 - the state is the server's
                await asyncio.sleep(0.01)

    async def drop_connections(self) -> int:
        """Terminate every other connection to the database, as a restart does (the lock holder's too)."""
        killed: int = await self.monitor.fetchval(_TERMINATE)
        return killed


@contextlib.asynccontextmanager
async def writes_held(database_url: str, *tables: str) -> AsyncIterator[HeldWrites]:
    """Writes to `tables` wait on a lock, inside the database, for as long as the context lasts; reads go on."""
    holder = await asyncpg.connect(database_url)
    monitor = await asyncpg.connect(database_url)
    try:
        await holder.execute(f"BEGIN; LOCK TABLE {', '.join(tables)} IN SHARE MODE")
        yield HeldWrites(monitor)
    finally:
        for connection in (holder, monitor):  # the server may have dropped them: no goodbye to a closed connection
            connection.terminate()


async def data_directory(database_url: str) -> Path:
    connection = await asyncpg.connect(database_url)
    try:
        return Path(await connection.fetchval("SHOW data_directory"))
    finally:
        await connection.close()


def pg_ctl(data_dir: Path, *args: str) -> None:
    """Run pg_ctl on the cluster as its owner (the server refuses to run as root). It blocks the event loop on
    purpose: nothing the service does runs between two requests' waves and the server's going down or up."""
    owner = data_dir.stat().st_uid
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "-l", str(data_dir / "restarts.log"), *args],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # the server started inherits them: a pipe would never close
        stderr=subprocess.DEVNULL,
        user=owner if os.geteuid() == 0 and owner != 0 else None,
        timeout=60,
    )


def stop_postgres(data_dir: Path) -> None:
    """A fast shutdown, as a restart begins: every session is terminated, the socket goes away."""
    pg_ctl(data_dir, "stop", "-m", "fast")


def start_postgres_again(data_dir: Path) -> None:
    """Start the stopped server with the options it last ran with (`restart` reads them from postmaster.opts)."""
    pg_ctl(data_dir, "restart", "-m", "fast")


@contextlib.asynccontextmanager
async def redis_refusing(redis_url: str) -> AsyncIterator[None]:
    """Redis drops every connection and takes no new one (as while it restarts) for as long as the context lasts."""
    admin = Redis.from_url(redis_url)
    try:
        limit = (await admin.config_get("maxclients"))["maxclients"]
        await admin.config_set("maxclients", 1)  # the admin's own connection is the one
        await admin.client_kill_filter(_type="normal", skipme=True)
        try:
            yield
        finally:
            await admin.config_set("maxclients", limit)
    finally:
        await admin.aclose()
