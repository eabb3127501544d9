"""`shuxiang`: run the whole service on the embedded default, or each production process on its own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from backend import db
from backend.errors import DomainError
from backend.settings import InvalidSettings, Settings
from entrypoints import logs

if TYPE_CHECKING:
    from backend.demo.readers import DemoServices
    from entrypoints.bootstrap import Dependencies

log = logging.getLogger("shuxiang")

_APP = "miniprogram_api.app:create_app"


@contextlib.contextmanager
def _database_url(settings: Settings) -> Iterator[str]:
    """The configured database, or else the embedded PostgreSQL, started (or joined) for as long as it is needed."""
    if settings.database.url:
        yield settings.database.url
        return
    from entrypoints.embedded import start_postgres

    server, url = start_postgres(settings.server.data_dir)
    try:
        yield url
    finally:
        server.cleanup()


@contextlib.contextmanager
def _redis_url(settings: Settings) -> Iterator[str]:
    """The configured Redis, or else the embedded one, started (or joined) for as long as it is needed."""
    if settings.redis.url:
        yield settings.redis.url
        return
    from entrypoints.embedded import start_redis

    server, url = start_redis(settings.server.data_dir)
    try:
        yield url
    finally:
        server.shutdown()


@contextlib.contextmanager
def _servers(settings: Settings) -> Iterator[Settings]:
    """The settings with the embedded PostgreSQL and Redis standing in for the URLs not configured, and the secret key
    they share; the environment says the same, for the processes started from here."""
    with _database_url(settings) as database_url, _redis_url(settings) as redis_url:
        os.environ.update(
            SHUXIANG_SECRET_KEY=settings.effective_secret_key,
            SHUXIANG_DATABASE_URL=database_url,
            SHUXIANG_REDIS_URL=redis_url,
        )
        yield Settings.from_env()


def with_orm(settings: Settings, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` with the ORM open on the configured (or embedded) database."""

    async def main(database_url: str) -> None:
        await db.init_orm(database_url)
        try:
            await work()
        finally:
            await db.close_orm()

    with _database_url(settings) as database_url:
        asyncio.run(main(database_url))


def migrate(settings: Settings) -> None:
    """Apply the committed migrations."""
    with _database_url(settings) as database_url:
        asyncio.run(db.migrate(database_url))
    print("migrations applied")


def seed_demo(settings: Settings) -> None:
    """Load the demo network (a Tongling-shaped city) and its readers into an empty database, or the demo readers
    alone into a demo network loaded without them."""
    from backend.demo.network import seed_demo as load
    from entrypoints.bootstrap import bootstrap

    async def work(served: Settings) -> None:
        async with await bootstrap(served) as deps:
            summary = await load(demo_services(deps))
        print("\n".join(summary.lines()))

    with _servers(settings) as served:  # the demo readers' loans and bookings use Redis too
        asyncio.run(work(served))


def demo_services(deps: Dependencies) -> DemoServices:
    """What the demo readers are made through: the composition root's handlers and policies."""
    from backend.demo.readers import DemoServices

    return DemoServices(
        bus=deps.bus,
        event_policy=deps.event_policy,
        events_full=deps.events_full,
        hold_policy=deps.hold_policy,
        card_prefix=deps.settings.network.card_prefix,
    )


def bootstrap(settings: Settings, args: argparse.Namespace) -> None:
    """Create a new network's central library and its first network administrator."""
    from tortoise.transactions import in_transaction

    from backend.accounts.models import StaffUser
    from backend.accounts.staff import create_first_admin
    from backend.network.models import Library, LibraryLevel, LibraryService
    from backend.network.services import NETWORK_ROOT, LibraryDraft, create_library

    password = os.environ.get("SHUXIANG_ADMIN_PASSWORD") or getpass.getpass("password for the administrator: ")

    async def work() -> None:
        async with in_transaction():  # both or neither: a refused password must not leave a headless network
            central, admin = await create_network()
        print(f"central library {central.code} and network administrator {admin.username} created")

    async def create_network() -> tuple[Library, StaffUser]:
        central = await create_library(
            LibraryDraft(
                code=args.code,
                name=args.name,
                level=LibraryLevel.CENTRAL,
                parent_code=None,
                latitude=args.lat,
                longitude=args.lng,
                timezone=settings.network.timezone.key,
                services=list(LibraryService),
            ),
            scope_path=NETWORK_ROOT,
        )
        return central, await create_first_admin(args.admin, password, central)

    with_orm(settings, work)


def worker(settings: Settings, burst: bool = False) -> None:
    """Run the arq worker (scheduled and background jobs) until stopped, or until the queue is empty (--burst)."""
    from entrypoints.worker import run

    run(settings, burst=burst)


def serve(settings: Settings, workers: int | None = None) -> None:
    """Serve the HTTP API with granian (N worker processes, each a stateless copy of the app)."""
    from granian import Granian
    from granian.constants import Interfaces

    Granian(
        _APP,
        address=settings.server.host,
        port=settings.server.port,
        interface=Interfaces.ASGI,
        workers=workers or settings.server.web_workers,
        factory=True,
        log_dictconfig=logs.dict_config(settings.logs),  # granian configures logging in each worker process
    ).serve()


@contextlib.contextmanager
def shared_metrics() -> Iterator[None]:
    """A directory where every process this command starts writes its metrics, for GET /metrics to add them up (the
    multiprocess mode of prometheus_client), made afresh: the processes of a former start are not this one's."""
    with tempfile.TemporaryDirectory(prefix="shuxiang-metrics-") as directory:
        # Read by prometheus_client when a process first imports it, so set before anything here does (a forked
        # granian worker inherits the parent's choice).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        yield


def run(settings: Settings) -> None:
    """Everything on one machine: embedded PostgreSQL and Redis, migrations, demo data on first start, the worker
    and the API; without an AppID, a demo WeChat and a demo WeChat Pay too."""
    from entrypoints.embedded import start_demo_wechat, start_demo_wechatpay
    from entrypoints.worker import JOB_COMPLETION_WAIT_SECONDS

    with contextlib.ExitStack() as embedded:
        # The demo's stand-ins for the outside world: each decides on the settings as given, before the embedded
        # PostgreSQL fills a database URL in, whether it may start.
        demo = (start_demo_wechat(settings, embedded), start_demo_wechatpay(settings, embedded))
        standins = [standin for standin in demo if standin is not None]
        for standin in standins:
            os.environ.update(standin.env)  # the worker and the API processes read their settings from it
        settings = embedded.enter_context(_servers(settings))
        migrate(settings)
        seed_demo(settings)
        worker_process = subprocess.Popen([sys.executable, "-m", "entrypoints.cli", "worker"])
        try:
            base = f"http://{settings.server.host}:{settings.server.port}"
            started = (line for standin in standins for line in standin.lines)
            print("\n".join([f"shuxiang on {base}, interactive API docs on {base}/docs/", *started]), flush=True)
            serve(settings)
        finally:
            worker_process.send_signal(signal.SIGTERM)
            try:  # the embedded servers stop next: the worker must be gone first
                worker_process.wait(timeout=JOB_COMPLETION_WAIT_SECONDS + 5)
            except subprocess.TimeoutExpired:
                worker_process.kill()
                worker_process.wait()


def recs_evaluate(args: argparse.Namespace) -> int:
    """Compare recommendation methods on a loan log with a time split (Recall@10, NDCG@10, coverage)."""
    from recommendations.evaluate_command import BadArguments, run_evaluation
    from recommendations.loans_csv import MalformedFile

    try:
        result = run_evaluation(args.loans, args.items, args.readers, args.cutoffs, args.horizon_days, args.json)
    except (MalformedFile, BadArguments) as exc:
        print(f"shuxiang recs evaluate: {exc}", file=sys.stderr)
        return 2
    print(result.table())
    return 0


def recs_train(settings: Settings) -> None:
    """Train the recommendation models now (the worker also does nightly) and serve the new picks."""
    from redis.asyncio import Redis

    from backend.clock import NetworkTime, SystemClock
    from entrypoints.queue import ArqJobs
    from recommendations.store import PickStore
    from recommendations.training import run_training

    async def work() -> None:
        redis = Redis.from_url(settings.redis.url)
        try:
            network_time = NetworkTime(settings.network.timezone)
            readers = await run_training(PickStore(redis), ArqJobs(redis), SystemClock().now(), network_time)
        finally:
            await redis.aclose()
        print(f"trained: picks for {readers} readers")

    with_orm(settings, work)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shuxiang", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help=run.__doc__)
    serve_parser = commands.add_parser("serve", help=serve.__doc__)
    serve_parser.add_argument("--workers", type=int, help="HTTP worker processes (default SHUXIANG_WEB_WORKERS)")
    worker_parser = commands.add_parser("worker", help=worker.__doc__)
    worker_parser.add_argument("--burst", action="store_true", help="run the queued jobs, then exit")
    commands.add_parser("migrate", help=migrate.__doc__)
    commands.add_parser("seed-demo", help=seed_demo.__doc__)
    boot = commands.add_parser("bootstrap", help=bootstrap.__doc__)
    boot.add_argument("--code", required=True, help="network-unique code of the central library, e.g. TL")
    boot.add_argument("--name", required=True, help="name of the central library")
    boot.add_argument("--lat", type=float, required=True)
    boot.add_argument("--lng", type=float, required=True)
    boot.add_argument("--admin", required=True, help="username of the first network administrator")
    records = commands.add_parser("import-records", help="load catalogue records and copies from MARC, MARCXML or CSV")
    records.add_argument("path", type=Path, help="a .mrc/.marc/.iso (ISO 2709), .xml (MARCXML) or .csv file")
    records.add_argument("--format", choices=["csv", "marc", "marcxml"], help="default: from the file's extension")
    recs = commands.add_parser("recs", help="reading recommendations").add_subparsers(
        dest="recs_command", required=True
    )
    evaluation = recs.add_parser("evaluate", help=recs_evaluate.__doc__)
    evaluation.add_argument("--loans", type=Path, required=True, help="CSV: reader_id,item_id,timestamp")
    evaluation.add_argument("--items", type=Path, help="CSV: item_id,title,author,class,year (any may be empty)")
    evaluation.add_argument("--readers", type=Path, help="CSV: reader_id plus segment columns")
    evaluation.add_argument("--cutoffs", required=True, help="dates to train before, e.g. 1933-01-01,1934-01-01")
    evaluation.add_argument("--horizon-days", type=int, default=365, help="days after each cutoff to test on")
    evaluation.add_argument("--json", type=Path, help="write the results here as JSON")
    recs.add_parser("train", help=recs_train.__doc__)
    args = parser.parse_args(argv)
    # The evaluation is files in, numbers out: no settings, database or logging needed.
    if args.command == "recs" and args.recs_command == "evaluate":
        sys.exit(recs_evaluate(args))

    try:
        settings = Settings.from_env()
    except InvalidSettings as exc:
        sys.exit(f"shuxiang {args.command}: {exc}")
    logs.configure(settings.logs)
    try:
        _dispatch(settings, args)
    except DomainError as exc:
        sys.exit(f"shuxiang {args.command}: {exc.message('en')}")


def _dispatch(settings: Settings, args: argparse.Namespace) -> None:
    match args.command:
        case "run":
            with shared_metrics():  # the worker's job and push counts are on the API's page too
                run(settings)
        case "serve":
            with shared_metrics():
                serve(settings, args.workers)
        case "worker":
            worker(settings, args.burst)
        case "migrate":
            migrate(settings)
        case "seed-demo":
            seed_demo(settings)
        case "bootstrap":
            bootstrap(settings, args)
        case "recs":
            recs_train(settings)
        case "import-records":
            from entrypoints.import_records import run_import

            sys.exit(run_import(settings, args.path, args.format))


if __name__ == "__main__":
    main()
