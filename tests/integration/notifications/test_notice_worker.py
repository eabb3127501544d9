"""The real worker process pushes a fan-out; stopped in the middle and started again, it sends each notice once."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from backend.accounts.models import Reader
from notifications.models import Delivery, DeliveryStatus, NoticeKind, SubscribeGrant
from notifications.services import NoticeDraft, notify_many
from standins.wechat_templates import template_id, write_templates
from tests.integration.service import Service

FAN_OUT = 5000


def _worker_env(service: Service, templates: Path) -> dict[str, str]:
    s = service.settings
    return {
        **os.environ,
        "SHUXIANG_DATABASE_URL": s.database.url,
        "SHUXIANG_REDIS_URL": s.redis.url,
        "SHUXIANG_SECRET_KEY": s.security.secret_key,
        "SHUXIANG_WECHAT_APPID": service.wechat.appid,
        "SHUXIANG_WECHAT_SECRET": service.wechat.secret,
        "SHUXIANG_WECHAT_API_BASE": service.wechat.base_url,
        "SHUXIANG_WECHAT_TEMPLATES_PATH": str(templates),
        "SHUXIANG_QUIET_HOURS": "",  # the worker keeps the real time, which may be night in China
    }


async def test_a_worker_stopped_mid_fan_out_and_restarted_sends_every_notice_exactly_once(
    service: Service, tmp_path: Path
) -> None:
    templates = write_templates(tmp_path / "templates.json")
    service.wechat.forget_subscriptions()
    tid = template_id(NoticeKind.STAFF_MESSAGE)
    service.wechat.add_template(tid)
    await Reader.bulk_create([Reader(card_number=f"7{i:011d}", openid=f"fan-{i}") for i in range(FAN_OUT)])
    readers = await Reader.filter(openid__startswith="fan-").values_list("id", "openid")
    await SubscribeGrant.bulk_create([SubscribeGrant(reader_id=r, template_id=tid, remaining=1) for r, _ in readers])
    for _, openid in readers:
        service.wechat.authorise_subscription(openid, tid)
    drafts = [
        NoticeDraft(
            r,
            NoticeKind.STAFF_MESSAGE,
            "message:fan",
            "sent",
            "新书到馆",
            "本周新书已上架",
            values={"title": "新书到馆"},
        )
        for r, _ in readers
    ]
    await notify_many(drafts, service.clock.now())
    env = _worker_env(service, templates)
    messages = service.wechat.subscribe_messages

    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints.cli", "worker", env=env, stderr=asyncio.subprocess.PIPE
    )
    assert await asyncio.to_thread(service.wechat.wait_for_messages, FAN_OUT // 10, 120)
    first.send_signal(signal.SIGTERM)  # as a deploy or a restart stops it
    async with asyncio.timeout(60):
        _, stderr = await first.communicate()
    midway = len(messages)
    restarted = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "entrypoints.cli", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert first.returncode == 0, stderr.decode()[-2000:]
    assert 0 < midway < FAN_OUT, "stopped in the middle"
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert sorted(m["touser"] for m in messages) == sorted(openid for _, openid in readers)
    assert (
        await Delivery.filter(status=DeliveryStatus.SENT, notice__reader__openid__startswith="fan-").count() == FAN_OUT
    )
