"""Notices for tests: the WeChat channel on the real gateway against the fake WeChat server, with templates."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backend.wechat.gateway import WechatpyGateway
from notifications import sender, templates
from notifications.models import NoticeKind
from notifications.sender import SendPolicy, WeChatSubscribe
from tests.integration.conftest import Service
from tests.integration.factories import LoggedIn, login_reader

SHANGHAI = ZoneInfo("Asia/Shanghai")
NO_QUIET = SendPolicy(SHANGHAI, default_quiet=None)


def template_id(kind: NoticeKind) -> str:
    return f"tmpl-{kind.value}"


def write_templates(path: Path) -> Path:
    """The shipped mapping with a template id for every kind, as an installation's configuration would be."""
    raw = json.loads(templates.SHIPPED.read_text(encoding="utf-8"))
    for kind, spec in raw.items():
        spec["template_id"] = template_id(NoticeKind(kind))
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
async def channel(service: Service, tmp_path: Path) -> AsyncIterator[WeChatSubscribe]:
    configured = templates.load(write_templates(tmp_path / "templates.json"))
    service.wechat.forget_subscriptions()
    for template in configured.values():
        service.wechat.add_template(template.template_id, fields=template.data)
    gateway = WechatpyGateway(
        appid=service.wechat.appid,
        secret=service.wechat.secret,
        api_base=service.wechat.base_url,
        redis=service.redis,
    )
    try:
        yield WeChatSubscribe(gateway, configured)
    finally:
        gateway.close()


async def push(service: Service, channel: WeChatSubscribe, policy: SendPolicy = NO_QUIET) -> int:
    return await sender.send_pending(channel, policy, service.clock.now)


async def subscribed_reader(service: Service, openid: str, *kinds: NoticeKind, times: int = 1) -> LoggedIn:
    """A reader who tapped "allow" for these kinds' templates `times` times, as the mini-program reports it."""
    reader = await login_reader(service, openid)
    for _ in range(times):
        ids = [template_id(kind) for kind in kinds]
        response = await service.client.post(
            "/readers/me/subscriptions", json={"template_ids": ids}, headers=reader.headers
        )
        assert response.status_code == 204, response.text
        for tid in ids:
            service.wechat.authorise_subscription(openid, tid)
    return reader


def received(service: Service, openid: str) -> list[dict[str, Any]]:
    """What the WeChat server accepted for this reader."""
    return [m for m in list(service.wechat.subscribe_messages) if m["touser"] == openid]
