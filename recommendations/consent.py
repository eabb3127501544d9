"""The reader's switch for personal recommendations (PIPL art. 24): on or off at any time, off deletes the profile.

Adults get personal picks unless they switch them off: article 24 asks for a convenient way to refuse, and Chinese
apps (and the issue) treat personalisation as opt-out. A child's card gets them only once the guardian switches them
on: processing a child's data needs the guardian's consent for the purpose (art. 31), and opening the card was
consent to lending, not to profiling.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tortoise import connections

from backend.accounts.models import Reader, ReaderType
from recommendations.models import RecommendationSetting
from recommendations.store import PickStore


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
    so a refresh running meanwhile re-reads it and deletes what it wrote); on queues fresh picks."""
    await connections.get("default").execute_query(
        "INSERT INTO recommendation_setting (reader_id, personal, changed_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (reader_id) DO UPDATE SET personal = EXCLUDED.personal, changed_at = EXCLUDED.changed_at",
        [reader.id, personal, now],
    )
    if personal:
        await queue.enqueue_recommendation_refresh(reader.id)
    else:
        await store.forget_reader(reader.id)
