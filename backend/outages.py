"""What an outage of the database or Redis looks like from inside: errors that mean "try again shortly", not a bug."""

from __future__ import annotations

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tortoise.exceptions import DBConnectionError

_UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, a unix socket gone while the server is down, a connect timeout
    DBConnectionError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection closed in the middle of a query
    asyncpg.AdminShutdownError,  # 57P01: a fast shutdown or pg_terminate_backend
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.IdleSessionTimeoutError,  # 57P05
    asyncpg.InsufficientResourcesError,  # class 53: out of connections, memory or disk
    # A connection whose server went away is given out again until its end of stream is read, its protocol still
    # waiting for the answer that never came: asyncpg's internal state error, seen only then.
    asyncpg.InternalClientError,
    RedisConnectionError,
    RedisTimeoutError,
)
# asyncpg raises its InterfaceError, with no type of its own, when a connection closed under a transaction (the
# rollback that follows a lost connection) or the pool is closing; these are its words for it.
_CLOSED = ("connection is closed", "pool is closing", "pool is closed")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc`, or any error it was raised from or while handling, says the database or Redis could not be
    reached (restarting, stopped, out of connections), as opposed to a defect: a failed rollback or pool release
    after a lost connection (asyncpg's `InterfaceError`) counts by what caused it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _UNREACHABLE):
            return True
        if isinstance(current, asyncpg.InterfaceError) and any(words in str(current) for words in _CLOSED):
            return True
        current = current.__cause__ or current.__context__
    return False
