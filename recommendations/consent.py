"""The reader's switch for personal recommendations (PIPL art. 24): on or off at any time, off deletes the profile.

Adults get personal picks unless they switch them off: article 24 asks for a convenient way to refuse, and Chinese
apps (and the issue) treat personalisation as opt-out. A child's card gets them only once the guardian switches them
on: processing a child's data needs the guardian's consent for the purpose (art. 31), and opening the card was
consent to lending, not to profiling.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from tortoise import connections

from backend.accounts.models import Reader, ReaderType
from backend.outages import is_outage
from recommendations.models import RecommendationSetting
from recommendations.store import PickStore

log = logging.getLogger(__name__)


class RefreshQueue(Protocol):
    async def enqueue_recommendation_refresh(self, reader_id: int, loan_id: int | None = None) -> None:
        """Recompute the reader's picks soon, in the worker (one job per reader at a time)."""
        ...


def personal_by_default(reader_type: ReaderType) -> bool:
    return reader_type == ReaderType.ADULT


async def personal_on(reader: Reader) -> bool:
    """Whether the card gets personal picks."""
    chosen = await RecommendationSetting.filter(reader_id=reader.id).values_list("personal", flat=True)
    return bool(chosen[0]) if chosen else personal_by_default(reader.reader_type)


async def personal_on_id(reader_id: int) -> bool:
    reader = await Reader.get_or_none(id=reader_id)
    return reader is not None and await personal_on(reader)


async def set_personal(reader: Reader, personal: bool, now: datetime, store: PickStore, queue: RefreshQueue) -> None:
    """Switch the card's personal picks on or off. Off deletes their picks at once (after the choice is committed,
    so a refresh running meanwhile re-reads it and deletes what it wrote); on queues fresh picks.

    The choice is saved first and holds whatever Redis does: serving, refreshes and training read it, so with Redis
    unreachable a switch-off still takes effect at once (no personal pick is served) and the picks left in Redis go
    with the next training's version; a switch-on gets its picks from the next training."""
    await connections.get("default").execute_query(
        "INSERT INTO recommendation_setting (reader_id, personal, changed_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (reader_id) DO UPDATE SET personal = EXCLUDED.personal, changed_at = EXCLUDED.changed_at",
        [reader.id, personal, now],
    )
    try:
        if personal:
            await queue.enqueue_recommendation_refresh(reader.id)
        else:
            await store.forget_reader(reader.id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning(
            "reader %d switched personal picks %s; Redis unreachable (%s): left to the next training",
            reader.id,
            "on" if personal else "off",
            type(exc).__name__,
        )
