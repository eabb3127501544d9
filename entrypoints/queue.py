"""The arq queue the API and the worker share: its name, and the jobs services ask to be queued."""

from __future__ import annotations

from datetime import timedelta

from arq.connections import ArqRedis
from redis.asyncio import Redis

from recommendations.store import PickStore

QUEUE = "shuxiang:queue"


def import_job_id(import_id: int) -> str:
    """The arq job of a catalogue import: named after the import, so that queueing it twice queues one job."""
    return f"import_catalogue:{import_id}"


def recommendation_refresh_job_id(reader_id: int) -> str:
    """The arq job refreshing a reader's picks: one per reader at a time, so a burst of checkouts makes one job."""
    return f"refresh_recommendations:{reader_id}"


def picks_push_job_id(push_id: int) -> str:
    """The arq job sending a push of readers' own picks: one per push."""
    return f"push_picks:{push_id}"


# A checkout queues the refresh before its transaction commits: a moment's wait lets the loan be seen (and the job
# waits again if not, `refresh_recommendations`), and gathers a pile of books lent at once into one job.
REFRESH_DELAY = timedelta(seconds=2)


class ArqJobs:
    """Queues jobs on arq over the process's Redis connections (backend.catalog.imports.ImportQueue,
    notifications.broadcasts.PicksPushQueue, recommendations.consent.RefreshQueue)."""

    def __init__(self, redis: Redis) -> None:
        # arq's client on the same connection pool: nothing more to open or close.
        self._arq = ArqRedis(pool_or_conn=redis.connection_pool, default_queue_name=QUEUE)
        self.redis = redis

    async def enqueue_import(self, import_id: int) -> None:
        # None when a job of that id is queued, running, or done less than arq's keep_result ago: already in hand.
        await self._arq.enqueue_job("import_catalogue", import_id, _job_id=import_job_id(import_id), _queue_name=QUEUE)

    async def enqueue_picks_push(self, push_id: int) -> None:
        await self._arq.enqueue_job("push_picks", push_id, _job_id=picks_push_job_id(push_id), _queue_name=QUEUE)

    async def enqueue_recommendation_refresh(self, reader_id: int, loan_id: int | None = None) -> None:
        # Marked first: while the reader's refresh runs, arq queues no second job of its id (enqueue_job returns
        # None), and the running one, finding the mark at its end, runs again (`refresh_recommendations`).
        await PickStore(self.redis).mark_dirty(reader_id)
        await self._arq.enqueue_job(
            "refresh_recommendations",
            reader_id,
            loan_id,
            _job_id=recommendation_refresh_job_id(reader_id),
            _queue_name=QUEUE,
            _defer_by=REFRESH_DELAY,
        )
