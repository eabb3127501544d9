import logging

import pytest

from tests.integration.factories import login_reader
from tests.integration.hardening.inputs import PROBLEM
from tests.integration.service import Service

DEEP = 3000
MALFORMED = {
    "nested_arrays": b"[" * DEEP + b"]" * DEEP,
    "nested_in_a_field": b'{"code": ' + b'{"a": ' * DEEP + b"1" + b"}" * DEEP + b"}",
    "invalid_utf8_in_a_string": b'{"code": "\xff\xfe"}',
    "invalid_utf8_outside_strings": b"\xff\xfe{}",
    "an_encoded_surrogate": b'{"code": "\xed\xa0\x80"}',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_json_body_is_a_400_problem_without_a_traceback(
    service: Service, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    reader = await login_reader(service, "openid-malformed")
    json = {"Content-Type": "application/json"}

    with caplog.at_level(logging.ERROR):
        responses = [
            await service.client.post("/auth/wechat-login", content=body, headers=json),
            await service.client.post("/staff/auth/login", content=body, headers=json),
            await service.client.patch("/readers/me", content=body, headers={**json, **reader.headers}),
        ]

    for response in responses:
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
        assert response.json()["code"] == "invalid_request"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
