"""Prometheus reads request counts from the API, job runs and the queue from the worker, pushes by WeChat's answer."""

import asyncio
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path

import httpx
from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from backend.accounts.models import Reader
from entrypoints.queue import QUEUE
from notifications.models import NoticeKind
from notifications.services import NoticeDraft, notify_many
from standins.wechat_templates import template_id
from tests.integration.factories import build_network
from tests.integration.notifications.notifying import push, subscribed_reader
from tests.integration.service import Service

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
VALUES = {"title": "闭馆通知", "body": "本周六闭馆一天", "sender": "铜陵市图书馆"}


def _samples(page: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }


async def _scrape(service: Service) -> Samples:
    response = await service.client.get(
        "/metrics", headers={"Authorization": f"Bearer {service.settings.metrics.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


def _requests(samples: Samples, route: str, status: str) -> float:
    return samples.get(
        ("shuxiang_http_requests_total", frozenset({("method", "GET"), ("route", route), ("status", status)})), 0.0
    )


async def test_the_api_counts_requests_by_route_template_and_status(service: Service) -> None:
    await build_network()
    before = await _scrape(service)

    for code in ("TL-A", "TL-B", "TL-NOWHERE"):
        await service.client.get(f"/libraries/{code}")
    after = await _scrape(service)

    assert _requests(after, "/libraries/{code}", "200") - _requests(before, "/libraries/{code}", "200") == 2
    assert _requests(after, "/libraries/{code}", "404") - _requests(before, "/libraries/{code}", "404") == 1
    assert not any("TL-A" in dict(labels).get("route", "") for _, labels in after)
    timed = (
        "shuxiang_http_request_duration_seconds_count",
        frozenset({("method", "GET"), ("route", "/libraries/{code}")}),
    )
    assert after[timed] - before.get(timed, 0.0) == 3


async def test_the_metrics_page_is_for_the_bearer_of_the_token_only(service: Service) -> None:
    anonymous = await service.client.get("/metrics")
    guessed = await service.client.get("/metrics", headers={"Authorization": "Bearer test-metrics-token-012345678"})

    assert anonymous.status_code == guessed.status_code == 401
    assert "shuxiang_http_requests_total" not in anonymous.text + guessed.text
    schema = (await service.client.get("/docs/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_the_worker_counts_its_job_runs_and_shows_the_queue_on_its_own_page(
    service: Service, tmp_path: Path
) -> None:
    port = _free_port()
    s = service.settings
    env = {
        **os.environ,
        "SHUXIANG_DATABASE_URL": s.database.url,
        "SHUXIANG_REDIS_URL": s.redis.url,
        "SHUXIANG_SECRET_KEY": s.security.secret_key,
        "SHUXIANG_METRICS_WORKER_PORT": str(port),
    }
    pool = await create_pool(RedisSettings.from_dsn(s.redis.url), default_queue_name=QUEUE)
    with (tmp_path / "worker.log").open("w") as log:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "entrypoints.cli", "worker", env=env, stderr=log
        )
        try:
            done = await pool.enqueue_job("purge_sessions")
            assert done is not None
            assert await pool.enqueue_job("purge_sessions", _defer_by=timedelta(hours=1)) is not None
            assert await Job(done.job_id, pool, _queue_name=QUEUE).result(timeout=60) == 0
            async with httpx.AsyncClient() as client:
                page = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), 60)
            await pool.aclose()

    samples = _samples(page)
    assert samples[("shuxiang_jobs_total", frozenset({("job", "purge_sessions"), ("outcome", "success")}))] == 1
    assert samples[("shuxiang_job_duration_seconds_count", frozenset({("job", "purge_sessions")}))] == 1
    assert samples[("shuxiang_queue_jobs", frozenset())] >= 1  # the deferred run waits in the queue


async def test_the_api_page_shows_the_queue_too(service: Service) -> None:
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        before = (await _scrape(service))[("shuxiang_queue_jobs", frozenset())]
        for _ in range(2):
            assert await pool.enqueue_job("purge_sessions", _defer_by=timedelta(hours=1)) is not None
        after = (await _scrape(service))[("shuxiang_queue_jobs", frozenset())]
    finally:
        await pool.aclose()

    assert after - before == 2


def _pushed(code: str) -> float:
    return REGISTRY.get_sample_value("shuxiang_pushes_total", {"code": code}) or 0.0


async def test_pushes_are_counted_by_wechats_answer(service: Service) -> None:
    kind = NoticeKind.STAFF_MESSAGE
    service.wechat.forget_subscriptions()
    service.wechat.add_template(template_id(kind))
    openids = ["openid-m-sent", "openid-m-quota", "openid-m-odd"]
    for openid in openids:
        await subscribed_reader(service, openid, kind)
    readers = await Reader.filter(openid__in=openids)
    drafts = [
        NoticeDraft(r.id, kind, subject="metrics", occasion="sent", title="闭馆", body="闭馆", values=VALUES)
        for r in readers
    ]
    await notify_many(drafts, service.clock.now())
    codes = ["0", "45009", "other", "40125"]
    before = {code: _pushed(code) for code in codes}
    # In whichever order the three go out: one daily-quota refusal, one errcode the sender has no rule for.
    service.wechat.script_next_errors("/cgi-bin/message/subscribe/send", [45009, 40125])

    await push(service, service.app.state.deps.push)

    assert {code: _pushed(code) - before[code] for code in codes} == {"0": 1, "45009": 1, "other": 1, "40125": 0}
