"""The service under test as its tests see it: the HTTP client, the settings, Redis, a clock tests move, WeChat and
WeChat Pay."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar
from redis.asyncio import Redis

from backend.clock import NetworkTime
from backend.events.booking import EventPolicy
from backend.settings import Settings
from entrypoints.bootstrap import event_bus
from standins.wechat import FakeWeChat
from standins.wechatpay import FakeWeChatPay

TEST_SECRET = "test-secret-key-0123456789-abcdefghij"
# The network's calendar the service runs on (the default time zone), for services called directly.
NETWORK_TIME = NetworkTime(Settings().network.timezone)
# The handlers of domain events that the API and the worker run, for services called directly.
BUS = event_bus(EventPolicy(NETWORK_TIME))


class MovableClock:
    """The service's clock in tests: real time at the start of each test, moved forward explicitly."""

    def __init__(self) -> None:
        self._offset = timedelta()
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        return self._frozen if self._frozen is not None else datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        if self._frozen is not None:
            self._frozen += timedelta(seconds=seconds)
        else:
            self._offset += timedelta(seconds=seconds)

    def freeze_at(self, moment: datetime) -> None:
        self._frozen = moment

    def reset(self) -> None:
        self._offset, self._frozen = timedelta(), None


@dataclass
class Service:
    client: httpx.AsyncClient
    settings: Settings
    redis: Redis
    clock: MovableClock
    wechat: FakeWeChat
    seeded: dict[str, list[dict[str, Any]]]
    """The rows the migrations put in (credit tiers, the default loan rules), put back before every test."""
    app: Litestar
    wechatpay: FakeWeChatPay
    """WeChat Pay's stand-in the app is the merchant of: its notices reach the app through `LoopbackFront`."""


class LoopbackFront:
    """The app over HTTP on 127.0.0.1, for callers outside the tests' event loop (WeChat Pay's stand-in posting its
    notices from its threads): each request is handed to the app through the tests' ASGI client, so the app runs in
    the tests' loop as it does for every other request. One request a connection, as urllib sends them."""

    _PASSED_ON = frozenset({"host", "content-length", "connection", "transfer-encoding"})

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None  # the app's, once it is started
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        """Listen; returns the base URL."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=128)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
            headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            assert self.client is not None, "the app is not started"
            forwarded = {name: value for name, value in headers.items() if name not in self._PASSED_ON}
            answer = await self.client.request(method, target, headers=forwarded, content=body)
            head = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}", f"Content-Length: {len(answer.content)}"]
            head += [f"Content-Type: {answer.headers['content-type']}"] if "content-type" in answer.headers else []
            writer.write(("\r\n".join([*head, "Connection: close", "", ""])).encode("latin-1") + answer.content)
            await writer.drain()
        finally:
            writer.close()
