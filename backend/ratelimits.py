"""Request budgets: how often one caller may do what a phone can abuse, counted in Redis for every API worker."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from redis.asyncio import Redis

from backend.errors import TooManyRequests
from backend.settings import RateLimitSettings


class Kind(StrEnum):
    """What a budget is spent on."""

    READER_LOGIN = "reader_login"
    STAFF_LOGIN = "staff_login"
    CARD = "card"
    BOOKING = "booking"
    SUBSCRIPTIONS = "subscriptions"
    SEARCH = "search"
    DESK_OUT_OF_SCOPE = "desk_out_of_scope"


@dataclass(frozen=True, slots=True)
class Budget:
    requests: int
    window_seconds: int


def budgets(settings: RateLimitSettings) -> dict[Kind, Budget]:
    """Requests per window, by kind: the one table of the rate limits. What a phone can abuse is counted in the short
    window; a desk's look-ups of readers outside its scope in the desk window (an hour: a desk serving visitors from
    elsewhere spreads them over its day, a script counting card numbers does not)."""
    phone, desk = settings.window_seconds, settings.desk_window_seconds
    return {
        Kind.READER_LOGIN: Budget(settings.reader_login, phone),
        Kind.STAFF_LOGIN: Budget(settings.staff_login, phone),
        Kind.CARD: Budget(settings.card, phone),
        Kind.BOOKING: Budget(settings.booking, phone),
        Kind.SUBSCRIPTIONS: Budget(settings.subscriptions, phone),
        Kind.SEARCH: Budget(settings.search, phone),
        Kind.DESK_OUT_OF_SCOPE: Budget(settings.desk_out_of_scope, desk),
    }


class RateLimited(TooManyRequests):
    code = "rate_limited"
    message_zh = "请求过于频繁，请 {seconds} 秒后再试"
    message_en = "Too many requests; try again in {seconds} seconds"

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds=seconds)
        self.retry_after = seconds


@dataclass(frozen=True, slots=True)
class Count:
    """A caller's requests so far in the current window, and the seconds until it ends (rounded up)."""

    requests: int
    seconds_left: int


# INCR and the window's expiry in one script: Redis runs it alone, so concurrent requests on any number of workers
# get distinct counts, and no key is ever left without an expiry (which would bar its caller for good). A fixed
# window: one key and one round trip per request; a burst at a window's edge may pass twice the budget, which a
# brake on abuse can afford (a sliding log would keep a sorted set per caller).
_COUNT = """
local requests = redis.call('INCR', KEYS[1])
if requests == 1 or redis.call('PTTL', KEYS[1]) < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {requests, redis.call('PTTL', KEYS[1])}
"""


async def count(redis: Redis, key: str, window_seconds: int) -> Count:
    """Count one more request under `key`, in a window that starts at the first one."""
    # EVALSHA, the script sent again only when Redis answers NOSCRIPT (a restart, SCRIPT FLUSH): not its text each time.
    script = redis.register_script(_COUNT)
    requests, ms_left = await script(keys=[key], args=[window_seconds * 1000])
    return Count(int(requests), max(1, -(-int(ms_left) // 1000)))


class RateLimits:
    """The budgets of the settings, spent per caller. A Redis outage raises (the API's 503), not an open door: the
    budgets are the brake on calls to WeChat and on password guessing, and Redis down is already a 503 elsewhere."""

    def __init__(self, redis: Redis, settings: RateLimitSettings) -> None:
        self._redis = redis
        self._budgets = budgets(settings)

    async def spend(self, kind: Kind, caller: str) -> None:
        """One request of `kind` by `caller` (`reader:12`, `ip:203.0.113.5`, `staff:3`); `RateLimited` past its
        budget."""
        budget = self._budgets[kind]
        spent = await count(self._redis, f"rate:{kind}:{caller}", budget.window_seconds)
        if spent.requests > budget.requests:
            raise RateLimited(spent.seconds_left)
