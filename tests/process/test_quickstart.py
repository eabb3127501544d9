"""The README's first command, as a newcomer runs it: one process tree that serves the demo on the embedded default."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from backend.demo.network import DEMO_PASSWORD
from tests.servers import free_port


@pytest.fixture(scope="module")
def running_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env.update(SHUXIANG_DATA_DIR=str(tmp_path_factory.mktemp("quickstart")), SHUXIANG_PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "run"],
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
        yield base
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise


def test_the_demo_network_is_served_with_its_documentation(running_service: str) -> None:
    libraries = httpx.get(f"{running_service}/libraries", params={"limit": 1}).json()
    cabinets = httpx.get(f"{running_service}/libraries", params={"level": "swap_cabinet"}).json()
    docs = httpx.get(f"{running_service}/docs/openapi.json").json()
    swagger = httpx.get(f"{running_service}/docs/")

    assert libraries["total"] > 100
    assert cabinets["total"] == 30
    assert "/auth/wechat-login" in docs["paths"] and swagger.status_code == 200


def test_the_demo_staff_can_log_in(running_service: str) -> None:
    response = httpx.post(f"{running_service}/staff/auth/login", json={"username": "admin", "password": DEMO_PASSWORD})

    assert response.status_code == 200
    me = httpx.get(
        f"{running_service}/staff/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["role"] == "network_admin"
