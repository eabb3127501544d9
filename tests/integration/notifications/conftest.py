"""Notifications' fixtures: the WeChat channel on the real gateway against the WeChat stand-in, with templates."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.wechat.gateway import WechatpyGateway
from notifications import templates
from notifications.sender import WeChatSubscribe
from standins.wechat_templates import write_templates
from tests.integration.service import Service


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
