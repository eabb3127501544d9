"""Notices for tests: pushing what is due, readers who allowed pushes, and what the WeChat stand-in received."""

from typing import Any
from zoneinfo import ZoneInfo

from notifications import sender
from notifications.models import NoticeKind
from notifications.sender import SendPolicy, WeChatSubscribe
from standins.wechat_templates import template_id
from tests.integration.factories import LoggedIn, login_reader
from tests.integration.service import Service

SHANGHAI = ZoneInfo("Asia/Shanghai")
NO_QUIET = SendPolicy(SHANGHAI, default_quiet=None)


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
        assert response.status_code == 200 and response.json()["ignored"] == [], response.text
        for tid in ids:
            service.wechat.authorise_subscription(openid, tid)
    return reader


def received(service: Service, openid: str) -> list[dict[str, Any]]:
    """What the WeChat server accepted for this reader."""
    return [m for m in list(service.wechat.subscribe_messages) if m["touser"] == openid]
