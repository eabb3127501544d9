import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from arq.cron import CronJob

from backend.settings import RedisSettings, Settings
from entrypoints.worker import Worker, worker_settings

CHINA = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def host_in_new_york() -> Iterator[None]:
    """The process's local time zone is New York's (as a host's would be), for the length of a test."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def next_run(worker: Worker, name: str, after: datetime) -> datetime:
    """When arq's worker would next enqueue a cron job: as its heartbeat does, from now in the worker's zone."""
    (job,) = (job for job in worker.cron_jobs if job.name == f"cron:{name}")
    assert isinstance(job, CronJob)
    job.calculate_next(after.astimezone(worker.timezone))
    assert job.next_run is not None
    return job.next_run.astimezone(CHINA)


@pytest.mark.usefixtures("host_in_new_york")
async def test_the_schedule_runs_in_network_time_on_a_host_in_another_zone() -> None:
    assert datetime(2026, 3, 2, 12, tzinfo=UTC).astimezone().utcoffset() != CHINA.utcoffset(None)  # the premise
    settings = Settings(redis=RedisSettings("redis://127.0.0.1:6379/0"))
    worker = Worker(**worker_settings(settings), handle_signals=False)
    noon_in_china = datetime(2026, 3, 2, 12, 0, tzinfo=CHINA)

    assert next_run(worker, "remind_loans", noon_in_china) == datetime(2026, 3, 3, 9, 0, 0, 123456, tzinfo=CHINA)
    assert next_run(worker, "charge_overdue", noon_in_china) == datetime(2026, 3, 3, 0, 5, 0, 123456, tzinfo=CHINA)
    assert next_run(worker, "purge_old_notices", noon_in_china).hour == 1  # the small hours, not the afternoon
