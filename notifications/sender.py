"""The sender: pushes pending deliveries over their channels, and never twice.

A delivery is claimed (PENDING -> SENDING, `FOR UPDATE SKIP LOCKED`, so any number of workers share the queue),
sent, and marked with the outcome. The reader's preferences are applied at send time: a muted kind is skipped
(it stays in the inbox), and a delivery that falls in the reader's quiet hours goes back to wait until they end.
A worker stopping on SIGTERM finishes the batch in flight before it exits (`STOPPING`). A worker killed outright
leaves its claimed deliveries SENDING; the next run marks those INTERRUPTED instead of sending them again:
WeChat cannot be asked whether a message arrived, a second copy would spend a second authorisation, and the
notice is in the reader's inbox either way. Staff see them, with failures, and can send them again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from tortoise.transactions import in_transaction

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.wechat.errors import WeChatUnavailable
from backend.wechat.gateway import SendRefused, WeChatGateway
from notifications import services
from notifications.models import Delivery, DeliveryStatus, Notice, NoticeKind
from notifications.services import Preferences
from notifications.templates import Template

log = logging.getLogger(__name__)

STOPPING = asyncio.Event()  # set by the worker on SIGTERM: finish the batch in flight, claim no more
MAX_ATTEMPTS = 6
# Longer than a send can take (the WeChat timeout, a token refresh), so a claim this old has no live sender.
STALE_CLAIM = timedelta(minutes=2)
_PERMANENT = {40003: "invalid openid", 40037: "invalid template id", 47003: "template data invalid"}


@dataclass(frozen=True, slots=True)
class Outcome:
    status: DeliveryStatus  # SENT, FAILED or SKIPPED; PENDING to try again later
    code: str = ""
    reason: str = ""

    @classmethod
    def retry(cls, code: str, reason: str) -> Outcome:
        return cls(DeliveryStatus.PENDING, code, reason)


SENT = Outcome(DeliveryStatus.SENT)


class Channel(Protocol):
    name: str

    async def send(self, notice: Notice, recipient: Reader) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class WeChatSubscribe:
    """Mini-program subscribe messages: one authorisation spent per message, never sent without one."""

    gateway: WeChatGateway
    templates: dict[NoticeKind, Template]
    name: str = "wechat_subscribe"

    async def send(self, notice: Notice, recipient: Reader) -> Outcome:
        template = self.templates.get(notice.kind)
        if template is None:
            return Outcome(DeliveryStatus.SKIPPED, "no_template", "no template is configured for this kind")
        if not recipient.openid:
            return Outcome(DeliveryStatus.SKIPPED, "no_wechat", "the reader has no WeChat login")
        if not await services.spend(recipient.id, template.template_id):
            return Outcome(DeliveryStatus.SKIPPED, "no_authorisation", "the reader has no authorisation left")
        page = f"{template.page}?{notice.link}" if notice.link else template.page
        try:
            await self.gateway.send_subscribe_message(
                recipient.openid, template.template_id, template.render(notice.values), page
            )
        except SendRefused as refused:
            if refused.errcode == 43101:  # refused, or none left: WeChat's count is the truth
                await services.forget_grants(recipient.id, template.template_id)
                return Outcome(DeliveryStatus.FAILED, "43101", "the reader has no authorisation left at WeChat")
            await services.refund(recipient.id, template.template_id)
            if refused.errcode in _PERMANENT:
                return Outcome(DeliveryStatus.FAILED, str(refused.errcode), _PERMANENT[refused.errcode])
            return Outcome.retry(str(refused.errcode), refused.errmsg[:200])  # 45009 quota, and the unknown
        except WeChatUnavailable:
            await services.refund(recipient.id, template.template_id)
            return Outcome.retry("unavailable", "WeChat unreachable or failing")
        return SENT


@dataclass(frozen=True, slots=True)
class SendPolicy:
    timezone: ZoneInfo
    default_quiet: tuple[time, time] | None = (time(22), time(8))
    batch: int = 100
    concurrency: int = 16


def quiet_until(prefs: Preferences, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The end of the reader's quiet hours if `now` is inside them."""
    start, end = prefs.quiet_from, prefs.quiet_until
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(tz)
    at = local.time()
    inside = start <= at < end if start < end else at >= start or at < end
    if not inside:
        return None
    day = local.date() if at < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tz)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=30 * 2 ** (attempts - 1))


async def send_pending(channel: Channel, policy: SendPolicy, clock: Callable[[], datetime]) -> int:
    """Send what is due on `channel` until nothing is, or the worker is stopping; returns how many were sent."""
    await mark_interrupted(channel.name, clock())
    sent = 0
    gate = asyncio.Semaphore(policy.concurrency)
    while not STOPPING.is_set():
        claimed = await _claim(channel.name, clock(), policy.batch)
        if not claimed:
            break
        recipients = {r.id: r for r in await Reader.filter(id__in={d.notice.reader_id for d in claimed})}
        prefs = {rid: await services.preferences(r, policy.default_quiet) for rid, r in recipients.items()}

        async def one(delivery: Delivery, recipient: Reader, chosen: Preferences) -> bool:
            async with gate:
                return await _deliver(channel, policy, delivery, recipient, chosen, clock)

        sent += sum(
            await asyncio.gather(*(one(d, recipients[d.notice.reader_id], prefs[d.notice.reader_id]) for d in claimed))
        )
    return sent


async def _deliver(
    channel: Channel,
    policy: SendPolicy,
    delivery: Delivery,
    recipient: Reader,
    chosen: Preferences,
    clock: Callable[[], datetime],
) -> bool:
    notice = delivery.notice
    if notice.kind in chosen.muted_kinds:
        outcome = Outcome(DeliveryStatus.SKIPPED, "muted", "the reader turned this kind off")
    elif (until := quiet_until(chosen, clock(), policy.timezone)) is not None:
        await _wait(delivery, until)
        return False
    else:
        outcome = await channel.send(notice, recipient)
    await _finish(delivery, outcome, clock())
    return outcome.status is DeliveryStatus.SENT


async def _claim(channel: str, now: datetime, limit: int) -> list[Delivery]:
    async with in_transaction():
        due = (
            await Delivery.filter(channel=channel, status=DeliveryStatus.PENDING, not_before__lte=now)
            .order_by("not_before", "id")
            .limit(limit)
            .select_for_update(skip_locked=True)
        )
        if not due:
            return []
        ids = [d.id for d in due]
        await Delivery.filter(id__in=ids).update(status=DeliveryStatus.SENDING, claimed_at=now)
    return await Delivery.filter(id__in=ids).select_related("notice").order_by("id")


async def _finish(delivery: Delivery, outcome: Outcome, now: datetime) -> None:
    attempts = delivery.attempts + 1
    if outcome.status is DeliveryStatus.PENDING and attempts < MAX_ATTEMPTS:
        changes = {"status": DeliveryStatus.PENDING, "not_before": now + backoff(attempts)}
    else:
        status = DeliveryStatus.FAILED if outcome.status is DeliveryStatus.PENDING else outcome.status
        changes = {"status": status, "finished_at": now}
    await Delivery.filter(id=delivery.id, status=DeliveryStatus.SENDING).update(
        attempts=attempts, error_code=outcome.code, error_reason=outcome.reason, **changes
    )


async def _wait(delivery: Delivery, until: datetime) -> None:
    await Delivery.filter(id=delivery.id, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.PENDING, not_before=until
    )


async def mark_interrupted(channel: str, now: datetime) -> int:
    """Claims older than any send can take were left by a worker that was killed mid-call."""
    return await Delivery.filter(
        channel=channel, status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(
        status=DeliveryStatus.INTERRUPTED,
        finished_at=now,
        error_code="interrupted",
        error_reason="the sender stopped during the call: it may or may not have arrived",
    )


async def undelivered(staff: StaffUser, limit: int) -> list[Delivery]:
    """Failed and interrupted deliveries, newest first, with their reasons (the network's WeChat account is one,
    so its failures are the network admins')."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    stuck = Delivery.filter(status__in=(DeliveryStatus.FAILED, DeliveryStatus.INTERRUPTED))
    return await stuck.order_by("-finished_at", "-id").limit(limit).select_related("notice")


async def retry(staff: StaffUser, delivery_ids: list[int], now: datetime) -> int:
    """Send failed or interrupted deliveries again."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    return await Delivery.filter(
        id__in=delivery_ids, status__in=(DeliveryStatus.FAILED, DeliveryStatus.INTERRUPTED)
    ).update(status=DeliveryStatus.PENDING, not_before=now, attempts=0, finished_at=None)
