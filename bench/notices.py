"""The fan-out benchmark: one due-soon cron run makes 100,000 notices, and senders push them to a
WeChat-compatible server on loopback.

    .venv/bin/python -m bench.notices [--readers 100000] [--senders 2] [--concurrency 4]

It starts a throwaway PostgreSQL and Redis, loads the demo network, and lends one book to each of N readers (all
due in three days), each with a WeChat openid and one authorisation of the due-soon template, at our side and
at the WeChat stand-in (`standins/wechat.py`, in a process of its own: WeChat is outside ours). Timed:
the cron job's `reminders.due_soon` (the notices and their deliveries), then `--senders` processes, as that many
`shuxiang worker`s, draining the deliveries through the real wechatpy gateway. It prints notices/s and checks
the server's record: duplicates and losses must both be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from backend import db
from backend.accounts.models import Reader
from backend.catalog.models import Copy, Record
from backend.circulation.models import Loan, ReaderCategory
from backend.clock import NetworkTime
from backend.network.models import Library, LibraryLevel
from backend.wechat.gateway import WechatpyGateway
from bench.harness import machine_lines, start_backing, stop_on_sigterm
from notifications import reminders, sender, templates
from notifications.models import Delivery, DeliveryStatus, NoticeKind, SubscribeGrant
from notifications.sender import SendPolicy, WeChatSubscribe
from standins.wechat import FakeWeChat
from standins.wechat_templates import template_id, write_templates

NETWORK_TIME = NetworkTime(ZoneInfo("Asia/Shanghai"))

BATCH = 5000


async def prepare(count: int, now: datetime) -> None:
    """N readers with a WeChat login, each with one book due in three days and one due-soon authorisation."""
    central = await Library.get(level=LibraryLevel.CENTRAL)
    record = await Record.create(title="百年孤独")
    tid = template_id(NoticeKind.DUE_SOON)
    due = now + timedelta(days=3)
    for start in range(0, count, BATCH):
        span = range(start, min(start + BATCH, count))
        await Reader.bulk_create([Reader(card_number=f"6{i:011d}", openid=f"fan-{i}") for i in span])
        await Copy.bulk_create(
            [Copy(barcode=f"FAN{i:07d}", record=record, home_library=central, current_library=central) for i in span]
        )
    readers = dict(await Reader.filter(openid__startswith="fan-").values_list("card_number", "id"))
    copies = dict(await Copy.filter(barcode__startswith="FAN").values_list("barcode", "id"))
    for start in range(0, count, BATCH):
        span = range(start, min(start + BATCH, count))
        await Loan.bulk_create(
            [
                Loan(
                    copy_id=copies[f"FAN{i:07d}"],
                    reader_id=readers[f"6{i:011d}"],
                    reader_category=ReaderCategory.ADULT,
                    library=central,
                    checked_out_at=now - timedelta(days=27),
                    due_at=due,
                )
                for i in span
            ]
        )
        await SubscribeGrant.bulk_create(
            [SubscribeGrant(reader_id=readers[f"6{i:011d}"], template_id=tid, remaining=1) for i in span]
        )


def fake_wechat(conn: Connection, openids: list[str], template_data: dict[str, list[str]]) -> None:
    """The WeChat-compatible server in a process of its own, as the real one is outside ours; it answers the
    benchmark with its record of who received what."""
    with FakeWeChat(appid="wx-bench-app", secret="bench-app-secret") as wechat:
        for tid, keywords in template_data.items():
            wechat.add_template(tid, fields=keywords)
        for openid in openids:
            wechat.authorise_subscription(openid, template_id(NoticeKind.DUE_SOON))
        conn.send(wechat.base_url)
        conn.recv()  # the benchmark is done
        conn.send(Counter(m["touser"] for m in wechat.subscribe_messages))


def sender_process(database_url: str, redis_url: str, api_base: str, templates_path: str, concurrency: int) -> None:
    """One sender, as one `shuxiang worker` runs it: drains the due deliveries it can claim."""

    async def drain() -> None:
        await db.init_orm(database_url)
        redis = Redis.from_url(redis_url)
        gateway = WechatpyGateway(
            appid="wx-bench-app", secret="bench-app-secret", api_base=api_base, redis=redis, threads=concurrency
        )
        try:
            channel = WeChatSubscribe(gateway, templates.load(Path(templates_path)))
            policy = SendPolicy(
                NETWORK_TIME.zone, default_quiet=None, batch=500, concurrency=concurrency, run_seconds=3600
            )
            await sender.send_pending(channel, policy, lambda: datetime.now(UTC))
        finally:
            gateway.close()
            await redis.aclose()
            await db.close_orm()

    asyncio.run(drain())


async def make(options: argparse.Namespace, database_url: str) -> tuple[int, float]:
    await db.init_orm(database_url)
    try:
        now = datetime.now(UTC)
        await prepare(options.readers, now)
        print("prepared; measuring", file=sys.stderr)
        started = time.perf_counter()
        return await reminders.due_soon(now, NETWORK_TIME), started
    finally:
        await db.close_orm()


async def sent_rows(database_url: str) -> int:
    await db.init_orm(database_url)
    try:
        return await Delivery.filter(status=DeliveryStatus.SENT).count()
    finally:
        await db.close_orm()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notices", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=2, help="sender processes, as worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="sends in flight per sender (default 4)")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    spawn = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        database_url, redis_url = backing.settings.database.url, backing.settings.redis.url
        templates_path = write_templates(workdir / "templates.json")
        keywords = {t.template_id: list(t.data) for t in templates.load(templates_path).values()}
        ours, theirs = spawn.Pipe()
        wechat = spawn.Process(
            target=fake_wechat, args=(theirs, [f"fan-{i}" for i in range(options.readers)], keywords), daemon=True
        )
        wechat.start()
        stack.callback(wechat.kill)
        api_base = ours.recv()
        made, started = asyncio.run(make(options, database_url))
        made_at = time.perf_counter()
        senders = [
            spawn.Process(
                target=sender_process,
                args=(database_url, redis_url, api_base, str(templates_path), options.concurrency),
            )
            for _ in range(options.senders)
        ]
        for process in senders:
            process.start()
        for process in senders:
            process.join()
        done = time.perf_counter()
        ours.send("done")
        per_reader: Counter[str] = ours.recv()
        marked = asyncio.run(sent_rows(database_url))

    sent = sum(per_reader.values())
    duplicates = sum(n - 1 for n in per_reader.values() if n > 1)
    losses = options.readers - len(per_reader)
    print(f"\n## Notice fan-out: {options.readers:,} due-soon notices from one cron run\n")
    print(machine_lines(backing.postgres_version)[0])
    print(
        f"- PostgreSQL {backing.postgres_version} (throwaway cluster, fsync off), Redis; {options.senders} sender "
        f"processes with {options.concurrency} sends in flight each; the WeChat stand-in (standins/wechat.py) "
        "in a process of its own, on the same two cores\n"
    )
    print("| measure | value |\n|---|---:|")
    print(
        f"| notices made by the cron job | {made:,} in {made_at - started:.1f} s "
        f"({made / (made_at - started):,.0f}/s) |"
    )
    print(f"| pushed to WeChat | {sent:,} in {done - made_at:.1f} s ({sent / (done - made_at):,.0f}/s) |")
    print(f"| notices/s, cron run to last push | {sent / (done - started):,.0f} |")
    print(f"| duplicates at the WeChat server | {duplicates} |")
    print(f"| losses (readers who got nothing) | {losses} |")
    print(f"| deliveries marked sent | {marked:,} |")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
