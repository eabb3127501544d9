"""The time source services are given, so that expiry rules can be tested without waiting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

# The network's calendar: the time readers are told times in and the day reminder jobs count by. (Each library
# keeps its own zone for its opening hours and due dates.)
NETWORK_TIME = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
