"""The demo WeChat Pay `shuxiang run` stands in beside the demo WeChat: a reader's order is paid as soon as it is
made, and its notice settles it in our API, so the fee and deposit journeys end on the docs page."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from backend.clock import SystemClock
from backend.money.models import Payment, PaymentState
from backend.money.wechat_pay import PAYMENT_NOTICE_PATH
from backend.settings import ServerSettings, Settings
from entrypoints.bootstrap import _wechatpay
from entrypoints.embedded import DEMO_WECHAT_APPID, start_demo_wechatpay
from tests.integration.factories import login_reader
from tests.integration.service import LoopbackFront, Service

NOTICED_WITHIN = 30.0  # seconds: the notice is posted from the stand-in's thread, through the loopback front


@pytest.fixture
async def noticed(service: Service, tmp_path: Path) -> AsyncIterator[asyncio.Queue[int]]:
    """The service behind a port of 127.0.0.1 (where `shuxiang run` serves it), paying through the demo WeChat Pay
    with the settings `shuxiang run` exports; yields the statuses the API answers WeChat Pay's payment notices."""
    answered: asyncio.Queue[int] = asyncio.Queue()

    async def on_answer(response: httpx.Response) -> None:
        if response.request.url.path == PAYMENT_NOTICE_PATH:
            answered.put_nowait(response.status_code)

    front = LoopbackFront()
    port = int((await front.start()).rsplit(":", 1)[1])
    deps = service.app.state.deps
    async with (
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=service.app),
            base_url="http://shuxiang.test",
            event_hooks={"response": [on_answer]},
        ) as front.client,
        contextlib.AsyncExitStack() as opened,
    ):
        with contextlib.ExitStack() as stack:
            standin = start_demo_wechatpay(Settings(server=ServerSettings(data_dir=tmp_path, port=port)), stack)
            assert standin is not None
            exported = Settings.from_env({**standin.env, "SHUXIANG_WECHAT_APPID": DEMO_WECHAT_APPID})
            assert exported.wechatpay.notify_base == f"http://127.0.0.1:{port}"
            service.app.state.deps = replace(deps, wechatpay=await _wechatpay(exported, SystemClock(), opened))
            try:
                yield answered
            finally:
                service.app.state.deps = deps
                await front.close()


async def test_a_demo_readers_deposit_is_paid_and_settled_at_once(
    service: Service, noticed: asyncio.Queue[int]
) -> None:
    reader = await login_reader(service, "demo-openid-dana")

    started = await service.client.post("/readers/me/payments", json={"deposit": True}, headers=reader.headers)
    status = await asyncio.wait_for(noticed.get(), NOTICED_WITHIN)
    settled = await Payment.get(out_trade_no=started.json()["out_trade_no"])  # by the notice: nobody asked yet
    shown = await service.client.get(f"/readers/me/payments/{settled.out_trade_no}", headers=reader.headers)

    assert started.status_code == 201, started.text
    assert status < 300 and settled.state is PaymentState.PAID
    assert shown.json()["state"] == "paid"
