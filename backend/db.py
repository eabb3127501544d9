"""Tortoise ORM configuration and lifecycle, and applying the committed migrations."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise, connections
from tortoise.migrations.api import migrate as apply_migrations

MODEL_MODULES = [
    "backend.network.models",
    "backend.accounts.models",
    "backend.catalog.models",
    "backend.circulation.models",
]


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {"models": MODEL_MODULES, "migrations": "backend.migrations", "default_connection": "default"}
        },
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
