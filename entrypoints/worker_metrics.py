"""The worker's Prometheus metrics: job runs by outcome and their durations, the depth of arq's queue, and a page of
its own to read them (with the pushes' outcomes, counted by the sender) when SHUXIANG_METRICS_WORKER_PORT is set."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any, cast

from arq import Retry
from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError

from backend.settings import MetricsSettings

log = logging.getLogger(__name__)

JOBS = Counter(
    "shuxiang_jobs",
    "Job runs by job and outcome: success, failure, retry (arq runs it again later) or cancelled (a timeout, a stop)",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "shuxiang_job_duration_seconds",
    "Time a job run took, by job",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300),  # a send run lasts up to a minute, arq allows five
)


def measured(function: Any) -> Any:
    """An arq job (its `Function` or `CronJob`) whose every run is counted by outcome and timed. A cron run counts
    under the job's own name, with the runs enqueued by hand."""
    job = function.name.removeprefix("cron:")
    run = function.coroutine

    async def measuring(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        outcome, started = "failure", time.perf_counter()
        try:
            result = await run(ctx, *args, **kwargs)
        except Retry:
            outcome = "retry"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        else:
            outcome = "success"
            return result
        finally:
            JOBS.labels(job, outcome).inc()
            JOB_SECONDS.labels(job).observe(time.perf_counter() - started)

    return dataclasses.replace(function, coroutine=measuring)


class QueueDepth(Collector):
    """Jobs waiting in arq's queue (deferred ones included), read from Redis when Prometheus asks: the queue is shared,
    so every worker reports the same number (take the max). A scrape during a Redis outage leaves it out."""

    def __init__(self, redis: Redis, queue: str) -> None:
        self.redis, self.queue = redis, queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth = cast(int, self.redis.zcard(self.queue))  # in the page's own thread: blocking blocks no job
        except RedisError:
            return
        yield queue_depth(depth)


def queue_depth(depth: int) -> GaugeMetricFamily:
    """`shuxiang_queue_jobs`, as every page that shows it writes it (each worker's, the API's)."""
    return GaugeMetricFamily("shuxiang_queue_jobs", "Jobs waiting in arq's queue, deferred ones included", depth)


@contextlib.contextmanager
def served(settings: MetricsSettings, redis_url: str, queue: str) -> Iterator[None]:
    """The worker's metrics page on its port for as long as the worker runs; nothing when no port is set."""
    if not settings.worker_port:
        yield
        return
    redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    depth = QueueDepth(redis, queue)
    REGISTRY.register(depth)
    server, thread = start_http_server(settings.worker_port, settings.worker_host)
    log.info("metrics on http://%s:%d/metrics", settings.worker_host, settings.worker_port)
    try:
        yield
    finally:
        server.shutdown()
        thread.join()
        REGISTRY.unregister(depth)
        redis.close()
