"""Readiness beside liveness: `/ready` answers once the database and Redis do; `/health/live` touches neither."""

from miniprogram_api.errors import PROBLEM_MEDIA_TYPE
from tests.integration.outages.faults import redis_refusing
from tests.integration.service import Service


async def test_ready_while_the_database_and_redis_answer(service: Service) -> None:
    ready, alias, live = [await service.client.get(path) for path in ("/ready", "/health", "/health/live")]

    assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    assert (alias.status_code, alias.json()) == (200, {"status": "ok"})
    assert (live.status_code, live.json()) == (200, {"status": "ok"})


async def test_not_ready_while_redis_refuses_but_still_live(service: Service) -> None:
    async with redis_refusing(service.settings.redis.url):
        ready = await service.client.get("/ready")
        live = await service.client.get("/health/live")
    after = await service.client.get("/ready")

    assert ready.status_code == 503 and ready.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert ready.json()["code"] == "service_unavailable"
    assert live.status_code == 200
    assert after.status_code == 200
