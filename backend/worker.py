"""The arq worker: background and scheduled jobs. Jobs are thin: they open their own scope and call services."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from backend import db
from backend.accounts.tokens import purge_expired_sessions
from backend.clock import SystemClock
from backend.settings import Settings

log = logging.getLogger(__name__)

QUEUE = "shuxiang:queue"


async def purge_sessions(ctx: dict[str, Any]) -> int:
    """Hourly: drop expired refresh tokens."""
    purged = await purge_expired_sessions(ctx["clock"].now())
    log.info("purged %d expired sessions", purged)
    return purged


def worker_settings(settings: Settings) -> dict[str, Any]:
    """arq's settings for this installation (arq takes a dict as well as a class)."""

    async def startup(ctx: dict[str, Any]) -> None:
        await db.init_orm(settings.effective_database_url)
        ctx["settings"] = settings
        ctx["clock"] = SystemClock()

    async def shutdown(ctx: dict[str, Any]) -> None:
        await db.close_orm()

    return {
        "functions": [purge_sessions],
        "cron_jobs": [cron(purge_sessions, minute=17, unique=True)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": QUEUE,
    }
