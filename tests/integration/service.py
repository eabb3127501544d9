"""The service under test as its tests see it: the HTTP client, the settings, Redis, a clock tests move, WeChat."""

from __future__ import annotations

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
