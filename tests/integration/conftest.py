"""What the integration tests of every area run against: the whole HTTP app on PostgreSQL and a Redis server, the
real wechatpy client against the WeChat stand-in and the real wechatpayv3 client against the WeChat Pay stand-in on
loopback, and an empty network at the start of each test."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar
from tortoise import Tortoise, connections

from backend import db
from backend.settings import (
    DatabaseSettings,
    MetricsSettings,
    RateLimitSettings,
    RedisSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
    WeChatPaySettings,
    WeChatSettings,
)
from entrypoints.embedded import throwaway_redis, with_pool
from miniprogram_api.app import create_app
from standins.wechat import FakeWeChat
from standins.wechat_templates import write_templates
from standins.wechatpay import FakeWeChatPay, MerchantKeys, write_pem
from tests.integration.service import TEST_SECRET, LoopbackFront, MovableClock, Service

logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns a failure's story

SEEDED = ("credit_tier", "loan_rule")
SEEDED_TOO = {"counter", *SEEDED}


@pytest.fixture(scope="session")
def wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat(appid="wx-test-app", secret="test-app-secret") as server:
        yield server


@pytest.fixture(scope="session")
def merchant_keys() -> MerchantKeys:
    return MerchantKeys.new()


@pytest.fixture(scope="session")
def service_wechatpay(wechat: FakeWeChat, merchant_keys: MerchantKeys) -> Iterator[FakeWeChatPay]:
    """The WeChat Pay merchant the service is (the payments tests' own adapter tests have another)."""
    with FakeWeChatPay(
        mchid="1900000110",
        appid=wechat.appid,
        merchant_serial="3775B6A45ACD588826D15E583A95F5DD00000002",
        merchant_public_key=merchant_keys.merchant.public_key(),
        apiv3_key=merchant_keys.apiv3,
        platform_key=merchant_keys.platform,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with throwaway_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
async def service(
    postgres_url: str,
    redis_url: str,
    wechat: FakeWeChat,
    service_wechatpay: FakeWeChatPay,
    merchant_keys: MerchantKeys,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Service]:
    front = LoopbackFront()
    keys = tmp_path_factory.mktemp("wechatpay")
    settings = Settings(
        server=ServerSettings(data_dir=tmp_path_factory.mktemp("data")),
        # A pool large enough for the concurrency tests to contend in the database, not in the pool.
        database=DatabaseSettings(with_pool(postgres_url, 30)),
        redis=RedisSettings(redis_url),
        security=SecuritySettings(secret_key=TEST_SECRET),
        wechat=WeChatSettings(
            appid=wechat.appid,
            secret=wechat.secret,
            api_base=wechat.base_url,
            # A template for every kind, so the readers' subscriptions the app accepts are the ones pushed.
            templates_path=write_templates(tmp_path_factory.mktemp("wechat") / "templates.json"),
        ),
        # Budgets no test reaches: every test calls from one address, the fuzzing sends thousands of requests as one
        # reader. The rate limits' own tests give the app small ones (tests/integration/api/test_rate_limits.py).
        rate_limits=RateLimitSettings(
            reader_login=10**6,
            staff_login=10**6,
            card=10**6,
            booking=10**6,
            subscriptions=10**6,
            search=10**6,
            desk_out_of_scope=10**6,
        ),
        metrics=MetricsSettings(token="test-metrics-token-0123456789"),
        wechatpay=WeChatPaySettings(
            mchid=service_wechatpay.mchid,
            merchant_serial=service_wechatpay.merchant_serial,
            private_key_path=write_pem(keys / "apiclient_key.pem", merchant_keys.merchant),
            apiv3_key=service_wechatpay.apiv3_key,
            public_key_id=service_wechatpay.public_key_id,
            public_key_path=write_pem(keys / "pub_key.pem", merchant_keys.platform, public=True),
            api_base=service_wechatpay.base_url,
            notify_base=await front.start(),
        ),
    )
    await db.migrate(settings.database.url)
    clock = MovableClock()
    app = create_app(settings, clock=clock)
    async with (
        running(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shuxiang.test") as client,
    ):
        front.client = client
        conn = connections.get("default")
        seeded = {table: await conn.execute_query_dict(f"SELECT * FROM {table} ORDER BY id") for table in SEEDED}
        yield Service(client, settings, app.state.deps.redis, clock, wechat, seeded, app, service_wechatpay)
    await front.close()


@contextlib.asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan in a task of its own: pytest sets a session fixture up and tears it down in different
    tasks, and the lifespan's task group must be entered and left in one."""
    started, stop = asyncio.Event(), asyncio.Event()

    async def lifespan() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(lifespan())
    await asyncio.wait([task, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # startup failed: raise its error
    try:
        yield
    finally:
        stop.set()
        await task


@pytest.fixture(autouse=True)
async def fresh_state(service: Service) -> None:
    """Every test starts from an empty network: no rows (but the card counter), an empty Redis, the real time."""
    tables = [m._meta.db_table for m in Tortoise.apps["models"].values() if m._meta.db_table not in SEEDED_TOO]
    conn = connections.get("default")
    await conn.execute_script(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    await conn.execute_script("UPDATE counter SET value = 0")
    for table, rows in service.seeded.items():
        await conn.execute_script(f"DELETE FROM {table}")
        for row in rows:
            marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
            await conn.execute_query(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", list(row.values()))
        await conn.execute_script(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
    await service.redis.flushdb()
    service.clock.reset()
