import re
from typing import Any

import httpx

from tests.integration.factories import build_network, login_reader
from tests.integration.service import Service


def named(response: httpx.Response) -> list[tuple[str, str]]:
    """The parameters a 400 names, with where they were expected."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "invalid_request"
    return [(error["key"], error["source"]) for error in problem["errors"]]


async def test_a_misspelt_parameter_on_a_public_list_is_named_not_ignored(service: Service) -> None:
    await build_network()

    response = await service.client.get("/libraries", params={"levle": "main"})

    assert named(response) == [("levle", "query")]
    assert "levle" in response.json()["detail"]


async def test_a_misspelt_parameter_on_my_notices_is_named(service: Service) -> None:
    reader = await login_reader(service, "openid-query-typo")

    response = await service.client.get("/readers/me/notices", params={"unread_onyl": "true"}, headers=reader.headers)

    assert named(response) == [("unread_onyl", "query")]


async def test_missing_coordinates_are_each_named_with_any_unknown_parameter(service: Service) -> None:
    response = await service.client.get(
        "/libraries/nearby", params={"lng": 117.81, "radius": 500}, headers={"Accept-Language": "en"}
    )

    assert named(response) == [("radius", "query"), ("lat", "query")]
    assert response.json()["title"] == "The request is malformed"


async def test_the_parameters_an_operation_takes_still_work(service: Service) -> None:
    await build_network()
    reader = await login_reader(service, "openid-query-known")

    mains = await service.client.get("/libraries", params={"level": "main"})
    nearby = await service.client.get("/libraries/nearby", params={"lat": 30.9458, "lng": 117.8131, "limit": 1})
    unread = await service.client.get("/readers/me/notices", params={"unread_only": "true"}, headers=reader.headers)

    assert sorted(lib["code"] for lib in mains.json()["items"]) == ["TL-A", "TL-B"]
    assert [lib["code"] for lib in nearby.json()["items"]] == ["TL-SC1"]
    assert unread.status_code == 200, unread.text


async def test_a_cache_busting_parameter_on_the_docs_is_no_mistake(service: Service) -> None:
    page = (await service.client.get("/docs/")).text
    script = re.search(r"""<script\b[^>]*?\bsrc=["']([^"']+\.js)["']""", page)
    assert script is not None

    answers = [
        await service.client.get("/docs/", params={"v": "5"}),
        await service.client.get("/docs/openapi.json", params={"v": "5"}),
        await service.client.get(script[1], params={"v": "5"}),
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]


async def test_a_preflight_is_not_checked_for_parameters(service: Service) -> None:
    preflight = await service.client.options("/libraries", params={"levle": "main"})

    assert preflight.status_code == 204
