"""The real worker process through outages: a job that meets one is tried again, not failed, and the worker outlives
Redis refusing it instead of exiting into a restart loop."""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.jobs import Job

from backend.accounts.models import AuthSession
from entrypoints.worker import QUEUE
from tests.integration.factories import login_reader
from tests.integration.outages.faults import data_directory, redis_refusing, start_postgres_again, stop_postgres
from tests.integration.service import Service


class RunningWorker:
    """A `shuxiang worker` process, with what it has logged so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []

    async def until_logged(self, *words: str) -> str:
        """The first line from now on with all of `words` in it (the worker tells each job's start and end)."""
        assert self.process.stderr is not None
        async with asyncio.timeout(120):
            while line := (await self.process.stderr.readline()).decode():
                self.log.append(line)
                if all(word in line for word in words):
                    return line
        raise AssertionError(f"the worker ended without logging {words}:\n{''.join(self.log[-40:])}")

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            _, rest = await self.process.communicate()
        self.log.append(rest.decode())
        return self.process.returncode or 0


@asynccontextmanager
async def worker(service: Service, *args: str) -> AsyncIterator[RunningWorker]:
    s = service.settings
    env = {
        **os.environ,
        "SHUXIANG_DATABASE_URL": s.database.url,
        "SHUXIANG_REDIS_URL": s.redis.url,
        "SHUXIANG_SECRET_KEY": s.security.secret_key,
        "SHUXIANG_WECHAT_API_BASE": service.wechat.base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints.cli", "worker", *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield RunningWorker(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@asynccontextmanager
async def queue(service: Service) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        yield pool
    finally:
        await pool.aclose()


async def _an_expired_session(service: Service) -> None:
    await login_reader(service, "openid-expired")
    yesterday = service.clock.now() - timedelta(days=1)
    await AuthSession.filter(reader__openid="openid-expired").update(expires_at=yesterday)


async def test_a_job_meeting_a_stopped_database_is_tried_again_and_done_once_it_is_back(
    service: Service, postgres_url: str
) -> None:
    await _an_expired_session(service)
    data_dir = await data_directory(postgres_url)

    async with queue(service) as pool, worker(service, "--burst") as running:
        job = await pool.enqueue_job("purge_sessions")
        assert job is not None
        stop_postgres(data_dir)
        try:
            first_try = await running.until_logged(f"{job.job_id}:purge_sessions")
            while "→" in first_try:  # arq tells a try's start (→), then its end: done, retried or failed
                first_try = await running.until_logged(f"{job.job_id}:purge_sessions")
        finally:
            start_postgres_again(data_dir)
        async with asyncio.timeout(120):
            _, rest = await running.process.communicate()
        result = await Job(job.job_id, pool, _queue_name=QUEUE).result(timeout=5)

    assert "retrying" in first_try, "".join(running.log[-40:])
    assert running.process.returncode == 0, rest.decode()[-2000:]
    assert result == 1
    assert not await AuthSession.filter(reader__openid="openid-expired").exists()


async def test_a_worker_outlives_redis_refusing_it_and_runs_jobs_once_it_is_back(service: Service) -> None:
    await _an_expired_session(service)

    async with worker(service) as running:
        await running.until_logged(":send_notices", " ● ")  # started, and its first job done: it is polling
        async with redis_refusing(service.settings.redis.url):
            await running.until_logged("Redis unreachable")
        async with queue(service) as pool:
            job = await pool.enqueue_job("purge_sessions")
            assert job is not None
            result = await Job(job.job_id, pool, _queue_name=QUEUE).result(timeout=60)
        stopped = await running.stop()

    assert result == 1
    assert stopped == 0, "".join(running.log[-40:])
