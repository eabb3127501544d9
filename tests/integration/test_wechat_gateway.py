import asyncio

import pytest

from backend.accounts.models import StaffRole
from backend.wechat.errors import WeChatUnavailable
from backend.wechat.gateway import WechatpyGateway
from entrypoints.embedded import free_port
from tests.integration.factories import build_network, make_staff, staff_headers
from tests.integration.service import Service

WXACODE = "/wxa/getwxacodeunlimit"


def gateway(service: Service) -> WechatpyGateway:
    """Another process's gateway: its own wechatpy client and threads, the same Redis."""
    s = service.settings
    return WechatpyGateway(
        appid=s.wechat.appid, secret=s.wechat.secret, api_base=s.wechat.api_base, redis=service.redis
    )


@pytest.fixture
async def desk(service: Service) -> dict[str, str]:
    await build_network()
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")  # TL-SC1 hangs under TL-A
    return await staff_headers(service.client, "a-desk")


async def test_every_process_shares_one_access_token_fetched_once(service: Service) -> None:
    processes = [gateway(service) for _ in range(3)]
    fetches_before, calls_before = service.wechat.token_fetches, len(service.wechat.calls(WXACODE))

    try:
        codes = await asyncio.gather(*(p.mini_program_code(f"TL-{i}", None) for i in range(30) for p in processes))
    finally:
        for p in processes:
            p.close()

    assert all(code.startswith(b"\x89PNG") for code in codes)
    assert service.wechat.token_fetches - fetches_before == 1
    tokens = {call.query.get("access_token") for call in service.wechat.calls(WXACODE)[calls_before:]}
    assert len(tokens) == 1


async def test_an_expired_token_is_refreshed_once_and_the_call_retried(service: Service, desk: dict[str, str]) -> None:
    first = await service.client.get("/staff/libraries/TL-SC1/mini-program-code", headers=desk)
    fetches = service.wechat.token_fetches
    service.wechat.expire_all_tokens()

    after = await asyncio.gather(
        *(service.client.get("/staff/libraries/TL-SC1/mini-program-code", headers=desk) for _ in range(5))
    )

    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert [r.status_code for r in after] == [200] * 5
    assert service.wechat.token_fetches - fetches == 1
    assert service.wechat.wxacode_requests[-1]["scene"] == "TL-SC1"


async def test_wechat_limits_and_outages_become_clear_problems(service: Service, desk: dict[str, str]) -> None:
    service.wechat.script_next_errors(WXACODE, [45009, "http500"])

    limited = await service.client.get("/staff/libraries/TL-SC1/mini-program-code", headers=desk)
    down = await service.client.get("/staff/libraries/TL-SC1/mini-program-code", headers=desk)

    assert (limited.status_code, limited.json()["code"]) == (429, "wechat_rate_limited")
    assert (down.status_code, down.json()["code"]) == (503, "wechat_unavailable")


async def test_door_codes_only_for_libraries_in_the_staff_scope(service: Service, desk: dict[str, str]) -> None:
    requests_before = len(service.wechat.wxacode_requests)

    response = await service.client.get("/staff/libraries/TL-B-1/mini-program-code", headers=desk)

    assert (response.status_code, response.json()["code"]) == (403, "outside_staff_scope")
    assert len(service.wechat.wxacode_requests) == requests_before


async def test_an_unreachable_wechat_never_logs_the_app_secret(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    s = service.settings
    closed = WechatpyGateway(
        appid=s.wechat.appid, secret=s.wechat.secret, api_base=f"http://127.0.0.1:{free_port()}", redis=service.redis
    )

    try:
        with pytest.raises(WeChatUnavailable):
            await closed.code_to_session("some-code")
        with pytest.raises(WeChatUnavailable):
            await closed.phone_number("some-code")
    finally:
        closed.close()

    assert "WeChat unreachable" in caplog.text
    assert s.wechat.secret not in caplog.text and "access_token=" not in caplog.text
