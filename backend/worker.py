"""The arq worker: background and scheduled jobs. Jobs are thin: they open their own scope and call services."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings

from backend import db
from backend.accounts.tokens import purge_expired_sessions
from backend.circulation import holds
from backend.circulation import services as circulation
from backend.clock import SystemClock
from backend.events import booking, doors
from backend.events.booking import EventPolicy, FullMark
from backend.settings import Settings

log = logging.getLogger(__name__)

QUEUE = "shuxiang:queue"


async def purge_sessions(ctx: dict[str, Any]) -> int:
    """Hourly: drop expired refresh tokens."""
    purged = await purge_expired_sessions(ctx["clock"].now())
    log.info("purged %d expired sessions", purged)
    return purged


async def charge_overdue(ctx: dict[str, Any]) -> int:
    """Daily, just after midnight in China: credit deductions for the overdue days of open loans."""
    loans = await circulation.charge_overdue_loans(ctx["clock"].now())
    log.info("charged overdue days of %d loans", loans)
    return loans


async def expire_holds(ctx: dict[str, Any]) -> int:
    """Hourly: holds left uncollected past their last day on the hold shelf expire (staff then clear the copy)."""
    expired = await holds.expire_uncollected(ctx["clock"].now())
    log.info("expired %d uncollected holds", expired)
    return expired


async def unlink_old_loans(ctx: dict[str, Any]) -> int:
    """Daily: returned loans past the retention period lose their reader."""
    unlinked = await circulation.unlink_old_loans(ctx["clock"].now(), ctx["settings"].loan_retention_days)
    log.info("unlinked %d old loans from their readers", unlinked)
    return unlinked


async def lapse_event_offers(ctx: dict[str, Any]) -> int:
    """Every five minutes: seats offered from waiting lists and not taken in time go to the next in line."""
    lapsed = await booking.lapse_offers(ctx["clock"].now(), ctx["event_policy"], FullMark(ctx["redis"]))
    log.info("lapsed %d event seat offers", lapsed)
    return lapsed


async def mark_no_shows(ctx: dict[str, Any]) -> int:
    """Every quarter hour: bookings of ended events never checked in become no-shows."""
    marked = await doors.mark_no_shows(ctx["clock"].now(), ctx["event_policy"])
    log.info("marked %d no-shows", marked)
    return marked


def worker_settings(settings: Settings) -> dict[str, Any]:
    """arq's settings for this installation (arq takes a dict as well as a class)."""

    async def startup(ctx: dict[str, Any]) -> None:
        await db.init_orm(settings.effective_database_url)
        ctx["settings"] = settings
        ctx["clock"] = SystemClock()
        ctx["event_policy"] = EventPolicy.of(settings)

    async def shutdown(ctx: dict[str, Any]) -> None:
        await db.close_orm()

    return {
        "functions": [
            purge_sessions,
            charge_overdue,
            expire_holds,
            unlink_old_loans,
            lapse_event_offers,
            mark_no_shows,
        ],
        # arq's cron runs on UTC: 16:05 UTC is 00:05 in China, when a day of lateness has just passed.
        "cron_jobs": [
            cron(purge_sessions, minute=17, unique=True),
            cron(charge_overdue, hour=16, minute=5, unique=True),
            cron(expire_holds, minute=7, unique=True),
            cron(unlink_old_loans, hour=17, minute=5, unique=True),
            cron(lapse_event_offers, minute=set(range(0, 60, 5)), unique=True),
            cron(mark_no_shows, minute={2, 17, 32, 47}, unique=True),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": QUEUE,
    }
