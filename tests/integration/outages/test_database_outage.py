"""PostgreSQL restarting or Redis dropping its connections under traffic: readers get 503 problem+json with a code
and a Retry-After, never 500, and the service carries on without a restart once they are back."""

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from backend.accounts.models import StaffRole
from miniprogram_api.errors import PROBLEM_MEDIA_TYPE
from tests.integration.factories import STAFF_PASSWORD, LoggedIn, build_network, login_reader, make_staff
from tests.integration.outages.faults import (
    data_directory,
    pool_size,
    redis_refusing,
    start_postgres_again,
    stop_postgres,
    writes_held,
)
from tests.integration.service import Service

WAVE = 200
Traffic = Callable[[int], Awaitable[httpx.Response]]


async def _readers_traffic(service: Service, wave: str) -> Traffic:
    """Reads and writes a reader makes, some of the writes in a transaction (a first login registers the reader)."""
    await build_network()
    readers = [await login_reader(service, f"openid-traffic-{n}") for n in range(10)]

    async def request(n: int) -> httpx.Response:
        reader: LoggedIn = readers[n % len(readers)]
        match n % 5:
            case 0:
                return await service.client.get("/libraries")
            case 1:
                return await service.client.get("/readers/me", headers=reader.headers)
            case 2:
                return await service.client.post("/readers/me/notices/read-all", headers=reader.headers)
            case 3:
                code = service.wechat.issue_login_code(f"openid-{wave}-new-{n}")
                return await service.client.post("/auth/wechat-login", json={"code": code})
            case _:
                code = service.wechat.issue_login_code(reader.openid)
                return await service.client.post("/auth/wechat-login", json={"code": code})

    return request


async def _wave(request: Traffic, first: int = 0) -> list[httpx.Response]:
    return list(await asyncio.gather(*(request(first + n) for n in range(WAVE))))


def _unavailable(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
        and response.json()["code"] == "service_unavailable"
        and int(response.headers["retry-after"]) > 0
    )


def _statuses(answers: list[httpx.Response]) -> list[str]:
    """Each answer as "ok", "unavailable" (503 problem+json) or its status and body (anything else)."""
    return [
        "ok" if r.is_success else "unavailable" if _unavailable(r) else f"{r.status_code} {r.text[:200]}"
        for r in answers
    ]


async def test_requests_in_flight_when_postgresql_drops_its_connections_answer_503_and_the_next_succeed(
    service: Service, postgres_url: str
) -> None:
    request = await _readers_traffic(service, "dropped")

    async with writes_held(postgres_url, "reader", "notice") as held:
        in_flight = [asyncio.create_task(request(n)) for n in range(WAVE)]
        await held.until_waiting(pool_size(service.settings.database.url))  # every connection inside a write
        dropped = await held.drop_connections()
    hit = _statuses(list(await asyncio.gather(*in_flight)))
    after = _statuses(await _wave(request, WAVE))

    assert dropped > pool_size(service.settings.database.url)
    assert set(hit) == {"ok", "unavailable"}, sorted(set(hit))
    assert set(after) == {"ok"}, sorted(set(after))


async def test_while_postgresql_is_down_every_request_answers_503_and_once_it_is_back_they_succeed(
    service: Service, postgres_url: str
) -> None:
    request = await _readers_traffic(service, "restart")
    data_dir = await data_directory(postgres_url)

    try:
        async with writes_held(postgres_url, "reader", "notice") as held:
            in_flight = [asyncio.create_task(request(n)) for n in range(WAVE)]
            await held.until_waiting(pool_size(service.settings.database.url))
            stop_postgres(data_dir)
        hit = _statuses(list(await asyncio.gather(*in_flight)))
        down = _statuses(await _wave(request, WAVE))
        ready, live = await service.client.get("/health"), await service.client.get("/health/live")
    finally:
        start_postgres_again(data_dir)
    after = _statuses(await _wave(request, 2 * WAVE))

    assert set(hit) == {"ok", "unavailable"}, sorted(set(hit))
    assert set(down) == {"unavailable"}, sorted(set(down))
    assert _unavailable(ready) and live.status_code == 200
    assert set(after) == {"ok"}, sorted(set(after))


async def test_while_redis_refuses_connections_requests_needing_it_answer_503_and_once_it_is_back_they_succeed(
    service: Service,
) -> None:
    await build_network()
    for k in range(3):
        await make_staff(f"outage-desk-{k}", StaffRole.LIBRARIAN, "TL-A")

    async def request(n: int) -> httpx.Response:
        if n % 70 == 0:  # counts the attempt in Redis, then checks the password (a slow hash: only a few)
            login = {"username": f"outage-desk-{n // 70}", "password": STAFF_PASSWORD}
            return await service.client.post("/staff/auth/login", json=login)
        return await service.client.get("/health")

    before = _statuses(await _wave(request))
    async with redis_refusing(service.settings.redis.url):
        down = _statuses(await _wave(request))
    after = _statuses(await _wave(request))

    assert set(before) == {"ok"}, sorted(set(before))
    assert set(down) == {"unavailable"}, sorted(set(down))
    assert set(after) == {"ok"}, sorted(set(after))
