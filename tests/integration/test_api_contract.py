from urllib.parse import quote

from backend.accounts.models import StaffRole
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

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
    await build_network()
    await make_staff("hostile-admin", StaffRole.NETWORK_ADMIN, "TL")
    staff = await staff_headers(service.client, "hostile-admin")
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
            await service.client.post("/staff/cards/verify", json={"payload": value}, headers=staff),
            await service.client.post(
                "/staff/libraries",
                headers=staff,
                json={
                    "code": "X1",
                    "name": value,
                    "level": "branch",
                    "parent_code": "TL",
                    "latitude": 30.9,
                    "longitude": 117.8,
                    "timezone": value,
                    "opening_hours": {"mon": [[value, value]]},
                },
            ),
        ]

    responses += [
        await service.client.get("/readers/me/children/2147483648", headers=reader.headers),
        await service.client.get("/readers/me/children/99999999999999999999/card", headers=reader.headers),
        await service.client.patch("/readers/me", json={"home_library_code": "TL\u0000"}, headers=reader.headers),
        await service.client.post("/staff/auth/login", json={"username": "ad\u0000min", "password": "x"}),
        await service.client.post("/staff/staff-users/2147483648/deactivate", headers=staff),
        *[
            await service.client.post(
                "/staff/libraries",
                headers=staff,
                json={
                    "code": "X2",
                    "name": "分馆",
                    "level": "branch",
                    "parent_code": "TL",
                    "latitude": 30.9,
                    "longitude": 117.8,
                    "timezone": zone,
                },
            )
            for zone in ("Asia", "America", "Mars/Base", "UTC/..")
        ],
    ]
    assert [r.status_code for r in responses if r.status_code >= 500] == []
    assert all(r.status_code < 300 or r.headers["content-type"].startswith(PROBLEM) for r in responses)
