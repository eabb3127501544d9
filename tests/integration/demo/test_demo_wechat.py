"""The demo WeChat `shuxiang run` stands in on the embedded default: never beside an AppID or a database URL, and,
when it runs, logging the demo readers in to the histories the demo seed gave them."""

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.accounts import services
from backend.demo.network import seed_demo
from backend.demo.readers import DEMO_LOGINS
from backend.settings import (
    DatabaseSettings,
    SecuritySettings,
    ServerSettings,
    Settings,
    WeChatPaySettings,
    WeChatSettings,
)
from backend.wechat.errors import InvalidLoginCode
from backend.wechat.gateway import WechatpyGateway
from entrypoints.cli import demo_services
from entrypoints.embedded import DemoStandin, start_demo_wechat, start_demo_wechatpay, wants_demo_wechat
from notifications.models import NoticeKind
from standins.wechat_templates import template_id
from tests.integration.service import Service

SECRET = SecuritySettings(secret_key="an-operator-chosen-secret-key")
# What is not a newcomer's machine to itself: a real mini-program, a shared database, an API the network can reach.
PRODUCTION = {
    "an AppID": {"wechat": WeChatSettings(appid="wx-real-app", secret="real-secret")},
    "a database URL": {"database": DatabaseSettings("postgres://shuxiang@db/shuxiang"), "security": SECRET},
    "both": {
        "wechat": WeChatSettings(appid="wx-real-app", secret="real-secret"),
        "database": DatabaseSettings("postgres://shuxiang@db/shuxiang"),
        "security": SECRET,
    },
    "every address": {"server": ServerSettings(host="0.0.0.0")},
    "a public address": {"server": ServerSettings(host="203.0.113.7")},
}


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[DemoStandin]:
    with contextlib.ExitStack() as stack:
        started = start_demo_wechat(Settings(server=ServerSettings(data_dir=tmp_path)), stack)
        assert started is not None
        yield started


@pytest.fixture
async def gateway(service: Service, standin: DemoStandin) -> AsyncIterator[WechatpyGateway]:
    # Built as the composition root builds it in the API and the worker, from the settings `shuxiang run` exports.
    wechat = Settings.from_env(standin.env).wechat
    made = WechatpyGateway(appid=wechat.appid, secret=wechat.secret, api_base=wechat.api_base, redis=service.redis)
    try:
        yield made
    finally:
        made.close()


async def log_in(service: Service, gateway: WechatpyGateway, code: str) -> dict[str, str]:
    deps = service.app.state.deps
    prefix = service.settings.network.card_prefix
    pair = await services.login_with_wechat(gateway, deps.keys, deps.tokens, prefix, code, service.clock.now())
    return {"Authorization": f"Bearer {pair.access_token}"}


@pytest.mark.parametrize("configured", PRODUCTION.values(), ids=PRODUCTION.keys())
def test_the_demo_wechat_never_starts_beside_an_appid_a_database_url_or_a_reachable_api(
    configured: dict[str, Any], tmp_path: Path
) -> None:
    server = dataclasses.replace(configured.get("server", ServerSettings()), data_dir=tmp_path)
    settings = Settings(**{**configured, "server": server})

    with contextlib.ExitStack() as stack:
        started = start_demo_wechat(settings, stack)
        paying = start_demo_wechatpay(settings, stack)

    assert not wants_demo_wechat(settings)
    assert started is None and paying is None
    assert list(tmp_path.iterdir()) == []  # not even its templates or keys written


def test_the_demo_wechatpay_never_starts_beside_a_merchant(tmp_path: Path) -> None:
    merchant = WeChatPaySettings(
        mchid="1230000109",
        merchant_serial="444F4E4F5449474E4F524500000001",
        private_key_path=Path("/etc/shuxiang/apiclient_key.pem"),
        apiv3_key="an-operators-apiv3-key-012345678",
        notify_base="https://library.example/api",
    )
    settings = Settings(server=ServerSettings(data_dir=tmp_path), wechatpay=merchant)

    with contextlib.ExitStack() as stack:
        assert start_demo_wechatpay(settings, stack) is None


def test_the_embedded_default_gets_the_demo_wechat_on_loopback(standin: DemoStandin) -> None:
    settings = Settings.from_env(standin.env)
    base = httpx.URL(settings.wechat.api_base)

    assert wants_demo_wechat(Settings())
    assert base.host == "127.0.0.1" and base.port
    assert settings.wechat.appid and settings.wechat.templates_path is not None
    assert any("demo-alice" in line and "/auth/wechat-login" in line for line in standin.lines)
    assert any(line.endswith(f"{base}/demo/sent") for line in standin.lines)


async def test_demo_alice_logs_in_to_her_card_loans_hold_bookings_and_child(
    service: Service, gateway: WechatpyGateway
) -> None:
    await seed_demo(demo_services(service.app.state.deps))
    alice = await log_in(service, gateway, "demo-alice")
    again = await log_in(service, gateway, "demo-alice")  # a standing code: it never wears out

    me = (await service.client.get("/readers/me", headers=alice)).json()
    card = await service.client.get("/readers/me/card", headers=alice)
    loans = (await service.client.get("/readers/me/loans", headers=alice)).json()["items"]
    holds = (await service.client.get("/readers/me/holds", headers=alice)).json()["items"]
    bookings = (await service.client.get("/readers/me/bookings", headers=alice)).json()["items"]
    children = (await service.client.get("/readers/me/children", headers=alice)).json()["items"]
    child_loans = await service.client.get(f"/readers/me/children/{children[0]['id']}/loans", headers=alice)
    notices = (await service.client.get("/readers/me/notices", headers=alice)).json()["items"]
    credit = (await service.client.get("/readers/me/credit", headers=alice)).json()
    history = (await service.client.get("/readers/me/reading-history", headers=alice)).json()["items"]
    same = (await service.client.get("/readers/me", headers=again)).json()

    assert me["name"] == "林爱丽" and me["home_library_code"] == "TL" and same["id"] == me["id"]
    assert card.status_code == 200 and card.json()["card_number"] == me["card_number"]
    assert sorted(loan["title"] for loan in loans) == ["三体", "平凡的世界", "活着"]
    assert [loan["title"] for loan in loans if loan["overdue_days"] > 0] == ["活着"]
    assert {(hold["title"], hold["status"]) for hold in holds} == {("红楼梦", "ready"), ("三体Ⅱ：黑暗森林", "waiting")}
    assert {booking["attendee_name"] for booking in bookings} == {"林爱丽", "林小满"}
    assert [(child["name"], child["card_number"] != me["card_number"]) for child in children] == [("林小满", True)]
    assert [loan["title"] for loan in child_loans.json()["items"]] == ["小蝌蚪找妈妈"]
    assert [notice["kind"] for notice in notices] == ["hold_ready"]
    assert credit["overdue"] == 1 and credit["score"] < 100 and credit["ledger"]
    assert [loan["title"] for loan in history] == ["围城"]


async def test_bob_is_a_plain_reader_and_carol_registers_at_her_first_login(
    service: Service, gateway: WechatpyGateway
) -> None:
    await seed_demo(demo_services(service.app.state.deps))
    bob = await log_in(service, gateway, "demo-bob")
    carol = await log_in(service, gateway, "demo-carol")

    bobs = (await service.client.get("/readers/me/loans", headers=bob)).json()
    carols = (await service.client.get("/readers/me/loans", headers=carol)).json()
    with pytest.raises(InvalidLoginCode):
        await log_in(service, gateway, "demo-mallory")  # only the table's codes log anyone in

    assert [loan["title"] for loan in bobs["items"]] == ["西游记"]
    assert carols["total"] == 0


async def test_what_the_demo_would_have_pushed_is_listed_on_its_sent_page(
    service: Service, gateway: WechatpyGateway, standin: DemoStandin
) -> None:
    settings = Settings.from_env(standin.env)
    data = {"thing1": {"value": "红楼梦"}, "thing2": {"value": "铜陵市图书馆"}}

    await gateway.send_subscribe_message(DEMO_LOGINS["demo-alice"], template_id(NoticeKind.HOLD_READY), data, "p")
    async with httpx.AsyncClient() as client:
        sent = (await client.get(f"{settings.wechat.api_base}/demo/sent")).json()

    assert sent["count"] == 1
    assert sent["messages"][0]["touser"] == DEMO_LOGINS["demo-alice"] and sent["messages"][0]["data"] == data


async def test_the_docs_page_authorises_reader_endpoints_with_the_login_token(service: Service) -> None:
    schema = (await service.client.get("/docs/openapi.json")).json()

    assert schema["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert schema["paths"]["/readers/me/loans"]["get"]["security"] == [{"BearerToken": []}]
    assert "security" not in schema["paths"]["/auth/wechat-login"]["post"]
