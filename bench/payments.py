"""The WeChat Pay notice benchmark: payment notices settled per second over HTTP, against the framework's trivial
endpoint in the same run.

    .venv/bin/python -m bench.payments [--orders 3000] [--clients 16] [--seconds 5]

It starts a throwaway PostgreSQL and Redis with the demo network, the WeChat Pay stand-in on loopback with keys made
for the run, and `shuxiang serve` as that merchant. Beforehand, in this process: `--orders` readers, each owing two
charges, and an order for both opened through the ledger and made at the stand-in by the real adapter; the stand-in
then marks each paid and signs its notice. Timed: GET /health/live, then the notices POSTed to the payment notice
endpoint, each once (the signature checked with the WeChat Pay public key, the resource decrypted with the APIv3 key,
the order settled: two settlements written), `--clients` connections at a time. It prints the rates, their ratio, the
server's CPU per request and the load average, and checks every order answered 204 was settled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

from backend import db
from backend.accounts.models import Reader
from backend.clock import SystemClock
from backend.money.models import Charge, ChargeKind, Payment, PaymentState
from backend.money.payments import open_payment
from backend.money.policy import MoneyPolicy
from backend.money.wechat_pay import PAYMENT_NOTICE_PATH
from backend.network.models import Library
from backend.settings import Settings, WeChatPaySettings
from backend.wechatpay.gateway import WechatpayV3Gateway
from bench.harness import Load, api_server, cpu_seconds, machine_lines, percentile_ms, start_backing, stop_on_sigterm
from bench.loadgen import Connection
from entrypoints.embedded import with_pool
from standins.wechatpay import FakeWeChatPay, MerchantKeys

LIVE = "/health/live"
APPID = "wx-bench-app"
CREATING = 32  # orders made at the stand-in at once while preparing
Signed = tuple[dict[str, str], bytes]


def merchant(fake: FakeWeChatPay, keys: MerchantKeys, workdir: Path) -> WeChatPaySettings:
    private_key_path, public_key_path = keys.write(workdir)
    return WeChatPaySettings(
        mchid=fake.mchid,
        merchant_serial=fake.merchant_serial,
        private_key_path=private_key_path,
        apiv3_key=fake.apiv3_key,
        public_key_id=fake.public_key_id,
        public_key_path=public_key_path,
        api_base=fake.base_url,
        notify_base="http://127.0.0.1:9/unused",  # the benchmark posts the notices itself
    )


async def prepare(settings: Settings, wechatpay: WeChatPaySettings, orders: int) -> list[str]:
    """`orders` readers owing two charges each, and an order for both made at WeChat Pay: their out_trade_nos."""
    await db.init_orm(settings.database.url)
    try:
        library = await Library.all().order_by("id").first()
        assert library is not None, "the demo network has no library"
        now = datetime.now(UTC)
        await Reader.bulk_create(
            [Reader(card_number=f"0599{n:08d}0", name=f"读者{n}", openid=f"bench-payer-{n}") for n in range(orders)]
        )
        readers = await Reader.filter(openid__startswith="bench-payer-").order_by("id")
        await Charge.bulk_create(
            [
                Charge(
                    reader=reader,
                    kind=kind,
                    amount_fen=amount,
                    library=library,
                    occasion=f"bench:{reader.id}:{kind.value}",
                    created_at=now,
                )
                for reader in readers
                for kind, amount in ((ChargeKind.OVERDUE, 120), (ChargeKind.DELIVERY, 500))
            ]
        )
        charges = await Charge.filter(reader_id__in=[r.id for r in readers]).order_by("id")
        by_reader: dict[int | None, list[int]] = {}
        for charge in charges:
            by_reader.setdefault(charge.reader_id, []).append(charge.id)
        policy, expires = MoneyPolicy.of(Settings().money), now + timedelta(hours=1)
        payments = [
            await open_payment(reader, by_reader[reader.id], now=now, expires_at=expires, policy=policy)
            for reader in readers
        ]
        gateway = WechatpayV3Gateway.from_settings(wechatpay, appid=APPID, clock=SystemClock())
        async with gateway:

            async def make(payment: Payment, openid: str) -> None:
                await gateway.create_jsapi_order(
                    out_trade_no=payment.out_trade_no,
                    description="图书馆费用",
                    total_fen=payment.amount_fen,
                    payer_openid=openid,
                    time_expire=payment.expires_at,
                    notify_url="https://library.example/api" + PAYMENT_NOTICE_PATH,
                )

            pairs = list(zip(payments, readers, strict=True))
            for start in range(0, len(pairs), CREATING):
                await asyncio.gather(*(make(p, str(r.openid)) for p, r in pairs[start : start + CREATING]))
        return [payment.out_trade_no for payment in payments]
    finally:
        await db.close_orm()


async def settled(settings: Settings, numbers: list[str]) -> int:
    await db.init_orm(settings.database.url)
    try:
        return await Payment.filter(out_trade_no__in=numbers, state=PaymentState.PAID).count()
    finally:
        await db.close_orm()


async def load(
    server: psutil.Process, base_url: str, name: str, clients: int, seconds: float, notices: list[Signed] | None
) -> Load:
    """`clients` connections, one request in flight each, for `seconds` (or until the notices run out): GET
    /health/live, or each notice POSTed once."""
    result = Load(name, clients)
    opened = [await Connection.open(base_url) for _ in range(clients)]
    processes = [server, *server.children(recursive=True)]
    queue = iter(notices) if notices is not None else None
    before = cpu_seconds(processes)
    deadline = time.perf_counter() + seconds

    async def loop(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            if queue is None:
                answer = await connection.request("GET", LIVE, "-")
            else:
                notice = next(queue, None)
                if notice is None:
                    return
                headers, body = notice
                answer = await connection.request("POST", PAYMENT_NOTICE_PATH, "-", body, headers)
            result.latencies.append(time.perf_counter() - began)
            result.statuses[answer.status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in opened))
    result.seconds = time.perf_counter() - started
    result.server_cpu = cpu_seconds(processes) - before
    for connection in opened:
        await connection.close()
    return result


def run(options: argparse.Namespace) -> list[str]:
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shuxiang-bench-")))
        backing = start_backing(stack, workdir)
        keys = MerchantKeys.new()
        fake = stack.enter_context(
            FakeWeChatPay(
                mchid="1900000109",
                appid=APPID,
                merchant_serial="3775B6A45ACD588826D15E583A95F5DD0000BE01",
                merchant_public_key=keys.merchant.public_key(),
                apiv3_key=keys.apiv3,
                platform_key=keys.platform,
            )
        )
        wechatpay = merchant(fake, keys, workdir)
        print(f"opening {options.orders:,} orders and making them at the stand-in", file=sys.stderr)
        numbers = asyncio.run(prepare(backing.settings, wechatpay, options.orders))
        env = {
            "SHUXIANG_DATABASE_URL": with_pool(backing.settings.database.url, 16),
            "SHUXIANG_REDIS_URL": backing.settings.redis.url,
            "SHUXIANG_SECRET_KEY": backing.settings.security.secret_key,
            "SHUXIANG_WECHAT_APPID": APPID,
            "SHUXIANG_WECHATPAY_MCHID": wechatpay.mchid,
            "SHUXIANG_WECHATPAY_MERCHANT_SERIAL": wechatpay.merchant_serial,
            "SHUXIANG_WECHATPAY_PRIVATE_KEY_PATH": str(wechatpay.private_key_path),
            "SHUXIANG_WECHATPAY_APIV3_KEY": wechatpay.apiv3_key,
            "SHUXIANG_WECHATPAY_PUBLIC_KEY_ID": wechatpay.public_key_id,
            "SHUXIANG_WECHATPAY_PUBLIC_KEY_PATH": str(wechatpay.public_key_path),
            "SHUXIANG_WECHATPAY_API_BASE": wechatpay.api_base,
            "SHUXIANG_WECHATPAY_NOTIFY_BASE": wechatpay.notify_base,
        }
        server = stack.enter_context(api_server(env, workdir))
        live = asyncio.run(load(server.process, server.base_url, LIVE, options.clients, options.seconds, None))
        # Signed now: the server refuses a notice signed more than five minutes ago.
        notices = [_without_content_type(fake.signed(fake.pay(number))) for number in numbers]
        print("posting the notices", file=sys.stderr)
        posted = asyncio.run(
            load(server.process, server.base_url, "payment notices", options.clients, options.seconds, notices)
        )
        paid = asyncio.run(settled(backing.settings, numbers))
        load_average = os.getloadavg()
    accepted = posted.statuses[204]
    assert paid == accepted, f"{accepted} notices answered 204, {paid} orders settled"
    lines = [
        *machine_lines(backing.postgres_version)[:2],
        "- load generator: this process, asyncio and `bench.loadgen` (one request in flight per connection), on the "
        "same cores as the server, PostgreSQL, Redis and the WeChat Pay stand-in; the notices signed beforehand",
        f"- command: `.venv/bin/python -m bench.payments --orders {options.orders} --clients {options.clients} "
        f"--seconds {options.seconds:g}`; each order of two charges (two settlements a notice)",
        "",
        "| endpoint | requests | requests/s | ratio to /health/live | p50 / p99 ms | server CPU ms/req | answers |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for run_ in (live, posted):
        answers = ", ".join(f"{status}: {count:,}" for status, count in sorted(run_.statuses.items()))
        lines.append(
            f"| {run_.name} | {len(run_.latencies):,} | {run_.rate:,.0f} | {run_.rate / live.rate:.3f} | "
            f"{percentile_ms(run_.latencies, 0.5):.1f} / {percentile_ms(run_.latencies, 0.99):.1f} | "
            f"{run_.cpu_ms:.2f} | {answers} |"
        )
    lines += [
        "",
        f"- orders settled: {paid:,} of {accepted:,} notices answered 204 (each settled exactly once)",
        f"- load average after the run (1, 5, 15 min): {load_average[0]:.2f}, {load_average[1]:.2f}, "
        f"{load_average[2]:.2f}",
    ]
    return lines


def _without_content_type(signed: Signed) -> Signed:
    headers, body = signed
    return {name: value for name, value in headers.items() if name.lower() != "content-type"}, body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.payments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=3000, help="orders paid, one notice each (default 3000)")
    parser.add_argument("--clients", type=int, default=16, help="connections, one request in flight each (default 16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="longest length of each load (default 5)")
    options = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    print("\n## WeChat Pay notices\n", *run(options), sep="\n", flush=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
