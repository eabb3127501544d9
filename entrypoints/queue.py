"""The arq queue the API and the worker share: its name, and the jobs services ask to be queued."""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.asyncio import Redis

QUEUE = "shuxiang:queue"


def import_job_id(import_id: int) -> str:
    """The arq job of a catalogue import: named after the import, so that queueing it twice queues one job."""
    return f"import_catalogue:{import_id}"


class ArqJobs:
    """Queues jobs on arq over the process's Redis connections (backend.catalog.imports.ImportQueue)."""

    def __init__(self, redis: Redis) -> None:
        # arq's client on the same connection pool: nothing more to open or close.
        self._arq = ArqRedis(pool_or_conn=redis.connection_pool, default_queue_name=QUEUE)

    async def enqueue_import(self, import_id: int) -> None:
        # None when a job of that id is queued, running, or done less than arq's keep_result ago: already in hand.
        await self._arq.enqueue_job("import_catalogue", import_id, _job_id=import_job_id(import_id), _queue_name=QUEUE)
