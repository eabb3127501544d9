from urllib.parse import quote

from tests.integration.conftest import Service
from tests.integration.factories import login_reader

PROBLEM = "application/problem+json"


async def test_every_operation_documents_its_errors_as_problem_details(service: Service) -> None:
    schema = (await service.client.get("/docs/openapi.json")).json()

    undocumented = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/health"):
                continue
            errors = {status: r for status, r in operation["responses"].items() if status.startswith(("4", "5"))}
            if "400" not in errors or any(PROBLEM not in r.get("content", {}) for r in errors.values()):
                undocumented.append(f"{method.upper()} {path}")
    assert undocumented == []
    assert "openid" not in str(schema["components"]["schemas"]).lower()


async def test_framework_failures_are_problems_too(service: Service) -> None:
    reader = await login_reader(service, "openid-contract")

    unknown_route = await service.client.get("/no/such/thing")
    wrong_method = await service.client.delete("/libraries")
    not_json = await service.client.post(
        "/auth/wechat-login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    wrong_type = await service.client.post("/auth/wechat-login", json={"code": 12345})
    huge = await service.client.patch(
        "/readers/me",
        content=b"{" + b" " * 200_000 + b"}",
        headers={**reader.headers, "Content-Type": "application/json"},
    )

    expected = [
        (unknown_route, 404, "not_found"),
        (wrong_method, 405, "method_not_allowed"),
        (not_json, 400, "invalid_request"),
        (wrong_type, 400, "invalid_request"),
        (huge, 413, "request_too_large"),
    ]
    for response, status, code in expected:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["code"] == code and response.json()["status"] == status


async def test_hostile_inputs_get_a_4xx_never_a_500(service: Service) -> None:
    reader = await login_reader(service, "openid-hostile")
    nasty = ["", " ", "x" * 10_000, "'; DROP TABLE reader; --", "../../etc/passwd", "%00", "\u0000", "🙂" * 40]

    responses = []
    for value in nasty:
        responses += [
            await service.client.post("/auth/wechat-login", json={"code": value}),
            await service.client.get(f"/libraries/{quote(value, safe='') or 'x'}"),
            await service.client.get("/libraries", params={"q": value, "within": value}),
            await service.client.patch("/readers/me", json={"name": value}, headers=reader.headers),
            await service.client.post(
                "/readers/me/children",
                headers=reader.headers,
                json={"name": value, "birth_month": value, "guardian_consent": True},
            ),
            await service.client.post("/staff/cards/verify", json={"payload": value}, headers=reader.headers),
        ]

    assert [r.status_code for r in responses if r.status_code >= 500] == []
    assert all(r.status_code < 300 or r.headers["content-type"].startswith(PROBLEM) for r in responses)
