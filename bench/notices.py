"""The fan-out benchmark: one due-soon cron run makes 100,000 notices, and the sender pushes them to a
WeChat-compatible server on loopback.

    .venv/bin/python -m bench.notices [--readers 100000] [--concurrency 32]

It starts a throwaway PostgreSQL and Redis, loads the demo network, lends one book to each of N readers (all due
in three days), each with a WeChat openid and one authorisation of the due-soon template (at our side and at the
fake WeChat server). Then, timed: the cron job's `reminders.due_soon` (the notices and their deliveries), and the
sender draining them through the real wechatpy gateway. It prints notices/s for each part and for the whole,
and checks the server's record: duplicates and losses must both be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tortoise import connections

from backend import db
from backend.accounts.models import Reader
from backend.catalog.models import Copy, Record
from backend.circulation.models import Loan, LoanRule, ReaderCategory
from backend.network.models import Library, LibraryLevel
from backend.wechat.gateway import WechatpyGateway
from bench.foundation import _stop_on_sigterm, machine_lines, start_backing
from notifications import reminders, sender, templates
from notifications.models import Delivery, DeliveryStatus, NoticeKind, SubscribeGrant
from notifications.sender import SendPolicy, WeChatSubscribe
from tests.integration.notifying import template_id, write_templates
from tests.wechat_server import FakeWeChat

BATCH = 5000


async def prepare(count: int, now: datetime, wechat: FakeWeChat) -> None:
    """N readers with a WeChat login, each with one book due in three days and one due-soon authorisation."""
    central = await Library.get(level=LibraryLevel.CENTRAL)
    record = await Record.create(title="百年孤独")
    rule = await LoanRule.get(reader_category=None, item_type=None, library_id=None)
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
                    rule=rule,
                    checked_out_at=now - timedelta(days=27),
                    due_at=due,
                )
                for i in span
            ]
        )
        await SubscribeGrant.bulk_create(
            [SubscribeGrant(reader_id=readers[f"6{i:011d}"], template_id=tid, remaining=1) for i in span]
        )
    for i in range(count):
        wechat.authorise_subscription(f"fan-{i}", tid)


async def run(options: argparse.Namespace, database_url: str, redis_url: str, wechat: FakeWeChat) -> dict[str, float]:
    from redis.asyncio import Redis

    await db.init_orm(database_url)
    redis = Redis.from_url(redis_url)
    gateway = WechatpyGateway(
        appid=wechat.appid, secret=wechat.secret, api_base=wechat.base_url, redis=redis, threads=options.concurrency
    )
    try:
        now = datetime.now(UTC)
        await prepare(options.readers, now, wechat)
        configured = templates.load(write_templates(Path(options.workdir) / "templates.json"))
        for template in configured.values():
            wechat.add_template(template.template_id, fields=template.data)
        channel = WeChatSubscribe(gateway, configured)
        policy = SendPolicy(ZoneInfo("Asia/Shanghai"), default_quiet=None, batch=500, concurrency=options.concurrency)
        print("prepared; measuring", file=sys.stderr)
        started = time.perf_counter()
        made = await reminders.due_soon(now)
        made_at = time.perf_counter()
        sent = await sender.send_pending(channel, policy, lambda: datetime.now(UTC))
        done = time.perf_counter()
        statuses = Counter(await Delivery.all().values_list("status", flat=True))
        return {
            "made": made,
            "make_s": made_at - started,
            "sent": sent,
            "send_s": done - made_at,
            "total_s": done - started,
            "sent_rows": statuses[DeliveryStatus.SENT],
        }
    finally:
        gateway.close()
        await redis.aclose()
        await connections.close_all()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notices", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32, help="sends in flight (default 32)")
    options = parser.parse_args(argv)
    import signal

    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    with contextlib.ExitStack() as stack:
        options.workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-"))
        backing = start_backing(stack, Path(options.workdir))
        wechat = stack.enter_context(FakeWeChat(appid="wx-bench-app", secret="bench-app-secret"))
        result = asyncio.run(run(options, backing.settings.database_url, backing.settings.redis_url, wechat))
        per_reader = Counter(m["touser"] for m in wechat.subscribe_messages)
        duplicates = sum(n - 1 for n in per_reader.values() if n > 1)
        losses = options.readers - len(per_reader)

    print(f"\n## Notice fan-out: {options.readers:,} due-soon notices from one cron run\n")
    print(*machine_lines(backing.postgres_version), sep="\n")
    print(f"- sends in flight: {options.concurrency}; the fake WeChat server runs in this process's threads\n")
    print("| measure | value |\n|---|---:|")
    print(f"| notices made by the cron job | {result['made']:,.0f} in {result['make_s']:.1f} s |")
    print(f"| pushed to WeChat | {result['sent']:,.0f} in {result['send_s']:.1f} s |")
    print(f"| notices/s, making | {result['made'] / result['make_s']:,.0f} |")
    print(f"| notices/s, pushing | {result['sent'] / result['send_s']:,.0f} |")
    print(f"| notices/s, end to end | {result['sent'] / result['total_s']:,.0f} |")
    print(f"| duplicates at the WeChat server | {duplicates} |")
    print(f"| losses (readers who got nothing) | {losses} |")
    print(f"| deliveries marked sent | {result['sent_rows']:,.0f} |")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
