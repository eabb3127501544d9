import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from backend.ratelimits import RateLimits
from tests.integration.factories import LoggedIn, login_reader
from tests.integration.hardening.inputs import PROBLEM
from tests.integration.outages.faults import redis_refusing
from tests.integration.service import Service

WINDOW_SECONDS = 60
ADDRESS = "127.0.0.1"  # the test client's


@contextlib.contextmanager
def budgets(service: Service, **requests: int) -> Iterator[None]:
    """The app with these budgets (the suite's settings give budgets no test reaches), as settings would set them."""
    deps = service.app.state.deps
    settings = replace(service.settings.rate_limits, window_seconds=WINDOW_SECONDS, **requests)
    service.app.state.deps = replace(deps, rate_limits=RateLimits(deps.redis, settings))
    try:
        yield
    finally:
        service.app.state.deps = deps


async def search(service: Service, reader: LoggedIn, language: str = "zh") -> httpx.Response:
    headers = {**reader.headers, "Accept-Language": language}
    return await service.client.get("/records", params={"q": "红楼梦"}, headers=headers)


async def test_a_reader_past_the_search_budget_is_told_to_wait_and_another_reader_is_not(service: Service) -> None:
    ming, hong = await login_reader(service, "openid-ming"), await login_reader(service, "openid-hong")

    with budgets(service, search=3):
        allowed = [await search(service, ming) for _ in range(3)]
        refused = await search(service, ming)
        in_english = await search(service, ming, language="en")
        other = await search(service, hong)

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert (refused.status_code, refused.headers["content-type"]) == (429, PROBLEM)
    assert refused.json()["code"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= WINDOW_SECONDS
    assert refused.json()["title"] == f"请求过于频繁，请 {refused.headers['retry-after']} 秒后再试"
    assert in_english.json()["title"].startswith("Too many requests; try again in")
    assert other.status_code == 200


async def test_concurrent_searches_by_one_reader_pass_exactly_the_budget(service: Service) -> None:
    reader = await login_reader(service, "openid-rush")

    with budgets(service, search=5):
        answers = await asyncio.gather(*(search(service, reader) for _ in range(20)))

    assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 15


async def test_logins_are_counted_per_address(service: Service) -> None:
    async def login(client: httpx.AsyncClient, n: int) -> httpx.Response:
        return await client.post("/auth/wechat-login", json={"code": service.wechat.issue_login_code(f"openid-{n}")})

    elsewhere = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service.app, client=("203.0.113.7", 50000)), base_url="http://shuxiang.test"
    )
    with budgets(service, reader_login=2):
        here = [await login(service.client, n) for n in range(3)]
        there = await login(elsewhere, 3)

    assert [r.status_code for r in here] == [200, 200, 429]
    assert here[2].json()["code"] == "rate_limited"
    assert there.status_code == 200


# Each operation a phone can abuse, with the budget it spends: the second call inside the window is refused, and only
# by the budget named (all the others are out of reach), so an operation wired to the wrong budget fails here.
OPERATIONS = {
    "reader_login": ("POST", "/auth/wechat-login", {"code": "not-a-code"}),
    "staff_login": ("POST", "/staff/auth/login", {"username": "nobody", "password": "wrong-password"}),
    "card": ("GET", "/readers/me/card", None),
    "card.png": ("GET", "/readers/me/card.png", None),
    "child card": ("GET", "/readers/me/children/{child_id}/card", None),
    "booking": ("POST", "/events/{event_id}/bookings", {}),
    "subscriptions": ("POST", "/readers/me/subscriptions", {"template_ids": []}),
    "search": ("GET", "/records", None),
}
KIND = {"card.png": "card", "child card": "card"}


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_every_limited_operation_spends_its_own_budget_and_documents_the_429(
    service: Service, operation: str
) -> None:
    method, path, body = OPERATIONS[operation]
    url = path.format(child_id=999, event_id=999)  # none there: refused, yet the budget is spent
    headers = (await login_reader(service, "openid-limits")).headers
    await service.redis.delete(f"rate:reader_login:ip:{ADDRESS}")  # the login above spent this address's first one

    with budgets(service, **{KIND.get(operation, operation): 1}):
        first = await service.client.request(method, url, json=body, headers=headers)
        second = await service.client.request(method, url, json=body, headers=headers)
    document = (await service.client.get("/docs/openapi.json")).json()

    assert first.status_code != 429
    assert (second.status_code, second.json()["code"]) == (429, "rate_limited")
    documented = document["paths"][path][method.lower()]["responses"]["429"]
    assert "`rate_limited`" in documented["description"]
    assert documented["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}


async def test_while_redis_is_unreachable_a_limited_operation_answers_503_not_500(service: Service) -> None:
    reader = await login_reader(service, "openid-outage")

    async with redis_refusing(service.settings.redis.url):
        down = await search(service, reader)
    after = await search(service, reader)

    assert (down.status_code, down.json()["code"]) == (503, "service_unavailable")
    assert down.headers["retry-after"] == "5"
    assert after.status_code == 200


async def staff_login(client: httpx.AsyncClient, username: str, headers: dict[str, str] | None = None) -> int:
    body = {"username": username, "password": "wrong-password"}
    return (await client.post("/staff/auth/login", json=body, headers=headers or {})).status_code


async def test_a_reader_token_buys_no_fresh_staff_login_budget(service: Service) -> None:
    readers = [await login_reader(service, f"openid-sprayer-{n}") for n in range(2)]

    with budgets(service, staff_login=2):
        anonymous = [await staff_login(service.client, f"guess-{n}") for n in range(2)]
        with_tokens = [await staff_login(service.client, f"guess-{n}", r.headers) for n, r in enumerate(readers)]

    assert anonymous == [401, 401]
    assert with_tokens == [429, 429]  # the address's budget, spent, whoever's token comes with it


async def test_ipv6_callers_share_a_budget_per_64_and_not_beyond(service: Service) -> None:
    async def staff_login_from(host: str, username: str) -> int:
        transport = httpx.ASGITransport(app=service.app, client=(host, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://shuxiang.test") as client:
            return await staff_login(client, username)

    with budgets(service, staff_login=2):
        one_network = [await staff_login_from(f"2001:db8:1:2::{n:x}", f"guess-{n}") for n in range(1, 4)]
        next_network = await staff_login_from("2001:db8:1:3::1", "guess-4")

    assert one_network == [401, 401, 429]  # a phone rotating its addresses inside its /64
    assert next_network == 401
