import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from ipaddress import ip_network

import httpx

from backend.settings import Networks
from tests.integration.api.test_rate_limits import budgets
from tests.integration.service import Service

PROXY = "10.0.0.2"
ANOTHER_PROXY = "10.0.0.9"
STRANGER = "203.0.113.7"


@contextlib.contextmanager
def trusting(service: Service, *proxies: str) -> Iterator[None]:
    """The app with these trusted proxies, as SHUXIANG_TRUSTED_PROXIES would set them."""
    deps = service.app.state.deps
    server = replace(deps.settings.server, trusted_proxies=Networks(ip_network(p) for p in proxies))
    service.app.state.deps = replace(deps, settings=replace(deps.settings, server=server))
    try:
        yield
    finally:
        service.app.state.deps = deps


@contextlib.asynccontextmanager
async def connected_from(service: Service, host: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.app, client=(host, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://shuxiang.test") as client:
        yield client


async def search(client: httpx.AsyncClient, forwarded_for: str | bytes | None = None) -> int:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return (await client.get("/records", params={"q": "红楼梦"}, headers=headers)).status_code


async def test_behind_a_trusted_proxy_each_forwarded_reader_has_a_budget_of_their_own(service: Service) -> None:
    with budgets(service, search=2), trusting(service, "10.0.0.0/8"):
        async with connected_from(service, PROXY) as proxy:
            first_reader = [await search(proxy, "198.51.100.1") for _ in range(2)]
            through_two_proxies = await search(proxy, f"198.51.100.1, {ANOTHER_PROXY}")
            second_reader = await search(proxy, "198.51.100.2")
            forged_on_the_left = await search(proxy, "192.0.2.99, 198.51.100.3")

    assert first_reader == [200, 200]
    assert through_two_proxies == 429  # the same reader, one more proxy on the way
    assert second_reader == 200
    assert forged_on_the_left == 200  # counted as 198.51.100.3, whatever it claims to forward for


async def test_from_an_untrusted_peer_a_forged_forwarded_for_is_ignored(service: Service) -> None:
    with budgets(service, search=2), trusting(service, "10.0.0.0/8"):
        async with connected_from(service, STRANGER) as stranger:
            forged = [await search(stranger, f"198.51.100.{n}") for n in range(2)]
            plain = await search(stranger)
            posing_as_a_proxy = await search(stranger, f"198.51.100.9, {PROXY}")

    assert forged == [200, 200]
    assert (plain, posing_as_a_proxy) == (429, 429)


async def test_without_trusted_proxies_the_proxy_is_every_callers_address(service: Service) -> None:
    with budgets(service, search=1):
        async with connected_from(service, PROXY) as proxy:
            answers = [await search(proxy, "198.51.100.1"), await search(proxy, "198.51.100.2")]

    assert answers == [200, 429]


async def test_a_garbage_forwarded_for_ends_the_walk_at_the_last_trusted_hop_and_never_fails(service: Service) -> None:
    garbage: list[str | bytes] = [
        "not-an-address",
        "198.51.100.1:443",
        "[2001:db8::1]",
        "999.0.0.1",
        ",,,",
        "",
        " " * 100,
        "198.51.100.1," * 500,
        b"\xff\xfe\x00",
        "unknown, 198.51.100.1, _hidden",
    ]
    with budgets(service, search=len(garbage)), trusting(service, "10.0.0.0/8"):
        async with connected_from(service, PROXY) as proxy:
            answers = [await search(proxy, header) for header in garbage]
            peer_spent = await search(proxy)
            behind_another_proxy = await search(proxy, f"junk, {ANOTHER_PROXY}")

    assert answers == [200] * len(garbage)
    assert peer_spent == 429  # every garbage header was counted as the proxy that passed it on
    assert behind_another_proxy == 200
