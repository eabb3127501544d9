"""The README's first command, as a newcomer runs it: one process tree that serves the demo on the embedded default,
its own PostgreSQL included."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.demo.network import DEMO_PASSWORD
from entrypoints.embedded import free_port, psql, throwaway_data_dir


@dataclass(frozen=True)
class Running:
    base: str
    data_dir: Path


@pytest.fixture(scope="module")
def installation() -> Iterator[Path]:
    with throwaway_data_dir() as path:
        yield path


@pytest.fixture(scope="module")
def running(installation: Path) -> Iterator[Running]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env.update(SHUXIANG_DATA_DIR=str(installation), SHUXIANG_PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "entrypoints.cli", "run"],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)  # waiting for the service to come up, not timing a test
        else:
            raise AssertionError(f"`shuxiang run` did not come up:\n{process.stdout.read() if process.stdout else ''}")
        yield Running(base, installation)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    # ...and its PostgreSQL stops with it.
    assert not (installation / "postgres" / "postmaster.pid").exists()


def test_the_demo_network_is_served_with_its_documentation(running: Running) -> None:
    libraries = httpx.get(f"{running.base}/libraries", params={"limit": 1}).json()
    cabinets = httpx.get(f"{running.base}/libraries", params={"level": "swap_cabinet"}).json()
    docs = httpx.get(f"{running.base}/docs/openapi.json").json()
    swagger = httpx.get(f"{running.base}/docs/")

    assert libraries["total"] > 100
    assert cabinets["total"] == 30
    assert "/auth/wechat-login" in docs["paths"] and swagger.status_code == 200


def test_the_demo_staff_can_log_in(running: Running) -> None:
    response = httpx.post(f"{running.base}/staff/auth/login", json={"username": "admin", "password": DEMO_PASSWORD})

    assert response.status_code == 200
    me = httpx.get(f"{running.base}/staff/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})
    assert me.json()["role"] == "network_admin"


def test_the_demo_lives_in_a_postgresql_server_of_the_installations_own(running: Running) -> None:
    pgdata = running.data_dir / "postgres"
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    served = httpx.get(f"{running.base}/libraries", params={"limit": 1}).json()["total"]

    database_url = f"postgres://postgres@/shuxiang?host={pgdata}"
    (version,) = psql(database_url, "SHOW server_version")[0]
    (libraries,) = psql(database_url, "SELECT count(*) FROM library")[0]

    os.kill(postmaster, 0)  # running
    assert version.startswith("18.") and int(libraries) == served
