"""WeChat Pay for the payment tests: the stand-in on loopback with keys made for the run, and the real adapter (the
real wechatpayv3 client) configured for it through its settings, key files included."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from backend.clock import SystemClock
from backend.settings import WeChatPaySettings
from backend.wechatpay.gateway import WechatpayV3Gateway
from standins.loopback import LoopbackHandler, LoopbackServer
from standins.wechatpay import FakeWeChatPay, MerchantKeys

APPID = "wx-test-app"


@pytest.fixture(scope="session")
def keys() -> MerchantKeys:
    return MerchantKeys.new()


@pytest.fixture(scope="session")
def wechatpay(keys: MerchantKeys) -> Iterator[FakeWeChatPay]:
    with FakeWeChatPay(
        mchid="1900000109",
        appid=APPID,
        merchant_serial="3775B6A45ACD588826D15E583A95F5DD00000001",
        merchant_public_key=keys.merchant.public_key(),
        apiv3_key=keys.apiv3,
        platform_key=keys.platform,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def wechatpay_settings(
    wechatpay: FakeWeChatPay, keys: MerchantKeys, tmp_path_factory: pytest.TempPathFactory
) -> WeChatPaySettings:
    """The merchant's settings for the stand-in, as an operator would write them."""
    private_key_path, public_key_path = keys.write(tmp_path_factory.mktemp("wechatpay"))
    return WeChatPaySettings(
        mchid=wechatpay.mchid,
        merchant_serial=wechatpay.merchant_serial,
        private_key_path=private_key_path,
        apiv3_key=wechatpay.apiv3_key,
        public_key_id=wechatpay.public_key_id,
        public_key_path=public_key_path,
        api_base=wechatpay.base_url,
        notify_base="https://library.example/api",
    )


@pytest.fixture
async def gateway(wechatpay_settings: WeChatPaySettings) -> AsyncIterator[WechatpayV3Gateway]:
    async with WechatpayV3Gateway.from_settings(wechatpay_settings, appid=APPID, clock=SystemClock()) as gateway:
        yield gateway


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


class NoticeInbox:
    """A merchant's notify_url on loopback that answers 204 and keeps what arrived, for the adapter to read."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(_InboxHandler, self, "notice-inbox").start()
        self.url = f"{self._server.base_url}/wechatpay/notices"

    def keep(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def close(self) -> None:
        self._server.stop()


class _InboxHandler(LoopbackHandler[NoticeInbox]):
    def serve(self, method: str) -> None:
        self.server.standin.keep(Received(dict(self.headers.items()), self.read_body()))
        self.respond(204, b"", {})


@pytest.fixture(scope="session")
def inbox() -> Iterator[NoticeInbox]:
    server = NoticeInbox()
    yield server
    server.close()
