import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job

from backend.accounts.models import AuthSession, Reader, StaffRole
from backend.catalog.models import Copy, Record
from backend.circulation import services as circulation
from backend.circulation.models import CreditEvent, CreditReason
from backend.network.models import Library
from entrypoints.worker import QUEUE
from tests.integration.factories import build_network, login_reader, make_staff
from tests.integration.service import BUS, NETWORK_TIME, Service


def run_worker_process(service: Service) -> subprocess.CompletedProcess[str]:
    """The real `shuxiang worker` process, in burst mode: it runs what is queued and exits."""
    s = service.settings
    env = {
        **os.environ,
        "SHUXIANG_DATABASE_URL": s.database.url,
        "SHUXIANG_REDIS_URL": s.redis.url,
        "SHUXIANG_SECRET_KEY": s.security.secret_key,
    }
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_worker_purges_expired_sessions_and_keeps_live_ones(service: Service) -> None:
    live = await login_reader(service, "openid-live")
    stale = await login_reader(service, "openid-stale")
    await AuthSession.filter(reader__openid="openid-stale").update(expires_at=service.clock.now() - timedelta(days=1))
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        job = await pool.enqueue_job("purge_sessions")
        assert job is not None
        finished = await asyncio.to_thread(run_worker_process, service)
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert await Job(job.job_id, pool, _queue_name=QUEUE).result(timeout=5) == 1
    finally:
        await pool.aclose()

    assert (await service.client.post("/auth/refresh", json={"refresh_token": live.tokens["refresh_token"]})).is_success
    refused = await service.client.post("/auth/refresh", json={"refresh_token": stale.tokens["refresh_token"]})
    assert refused.status_code == 401
    assert not await AuthSession.filter(reader__openid="openid-stale").exists()


async def test_the_worker_charges_overdue_days_once_however_often_it_runs(service: Service) -> None:
    await build_network()
    branch = await Library.get(code="TL-A")
    desk = await make_staff("worker-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    record = await Record.create(title="逾期的书")
    await Copy.create(barcode="W0001", record=record, home_library=branch, current_library=branch)
    reader = await Reader.create(card_number="900000000001")
    lent_at = datetime.now(UTC) - timedelta(days=40)  # the worker keeps the real time: this loan is 10 days late
    loan = (
        await circulation.checkout(reader, "W0001", now=lent_at, bus=BUS, network_time=NETWORK_TIME, staff=desk)
    ).loan
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        for _ in range(2):
            assert await pool.enqueue_job("charge_overdue") is not None
            finished = await asyncio.to_thread(run_worker_process, service)
            assert finished.returncode == 0, finished.stderr[-2000:]
    finally:
        await pool.aclose()

    late = circulation.overdue_days(loan, datetime.now(UTC))
    assert late in (9, 10, 11)  # by the calendar in Tongling, whatever the hour of the run
    assert await CreditEvent.filter(reader_id=reader.id, reason=CreditReason.OVERDUE).count() == late
