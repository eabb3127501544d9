"""Tortoise ORM configuration and lifecycle, and applying the committed migrations."""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.migrations.api import migrate as apply_migrations

MODEL_MODULES = [
    "backend.network.models",
    "backend.accounts.models",
    "backend.catalog.models",
    "backend.circulation.models",
    "backend.counter.models",
    "backend.events.models",
    "backend.booklists.models",
    "backend.newborn.models",
    "backend.money.models",
    "backend.money.reconciliation",
    "backend.shipping.models",
    "backend.purchases.models",
    "backend.delivery.models",
    "notifications.models",
    "recommendations.models",
]


class _PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """asyncpg's pool resets every connection it takes back (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlocks):
    one more round trip after every query outside a transaction, as many as the queries themselves. This service
    leaves no session state behind (settings are SET LOCAL inside transactions; no LISTEN, cursors or advisory
    locks), so the reset query is dropped, the way asyncpg documents; an open transaction is still rolled back."""

    def get_reset_query(self) -> str:
        return ""


def tortoise_config(database_url: str) -> dict[str, Any]:
    if not database_url:
        raise ValueError("SHUXIANG_DATABASE_URL is not set (`shuxiang run` starts an embedded PostgreSQL itself)")
    connection = expand_db_url(database_url)
    connection["credentials"]["connection_class"] = _PooledConnection
    # JIT compiles queries it guesses are long; ours take milliseconds, and asyncpg's type introspection on a new
    # connection is known to take up to a second with it on (asyncpg's FAQ recommends turning it off).
    connection["credentials"]["server_settings"] = {"jit": "off"}
    return {
        "connections": {"default": connection},
        "apps": {"models": {"models": MODEL_MODULES, "migrations": "migrations", "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_orm(database_url: str) -> None:
    # The global fallback lets tasks started outside the lifespan's context (worker jobs, test fixtures) query.
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_orm() -> None:
    await Tortoise.close_connections()


async def migrate(database_url: str) -> None:
    """Bring the schema up to the newest committed migration (idempotent), then close its connections."""
    try:
        await apply_migrations(config=tortoise_config(database_url))
    finally:
        await Tortoise.close_connections()


async def ping() -> None:
    await connections.get("default").execute_query("SELECT 1")
