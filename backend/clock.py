"""The time source services are given, so that expiry rules can be tested without waiting, and the network's
calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NetworkTime:
    """The network's calendar: the time readers are told times in, the days reminders and ages count by, the hours
    the worker's schedule is written in. Made once, by the composition root, from SHUXIANG_TIMEZONE. (Each library
    keeps its own zone for its opening hours and due dates.)"""

    zone: ZoneInfo

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def day(self, moment: datetime) -> date:
        """The network's calendar day a moment falls on (`day(now)` is today)."""
        return moment.astimezone(self.zone).date()

    def midnight(self, day: date) -> datetime:
        """The moment a day of the network's calendar begins."""
        return datetime.combine(day, time.min, self.zone)

    def minutes(self, moment: datetime) -> str:
        """A moment as readers in the network read it: 2026-12-07 10:00."""
        return self.local(moment).strftime("%Y-%m-%d %H:%M")
