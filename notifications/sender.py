"""The sender: pushes pending deliveries over their channels, and never twice.

A batch of due deliveries is claimed (`claimed_at`, `FOR UPDATE SKIP LOCKED`, so any number of workers share the
queue), then pushed a few at a time: each group of sends is marked SENDING just before its calls and marked with
its outcomes as soon as they are back. The reader's preferences are applied at send time: a muted kind is skipped
(it stays in the inbox), and a delivery that falls in the reader's quiet hours goes back to wait until they end.
A worker stopping on SIGTERM finishes the sends in flight and hands the rest of its batch back (`STOPPING`). A
worker killed outright leaves at most the sends it had in flight SENDING; the next run marks those INTERRUPTED
instead of sending them again (WeChat cannot be asked whether a message arrived, a second copy would spend a
second authorisation, and the notice is in the reader's inbox either way; staff see them, with failures, and can
send them again), and claims the rest of that batch afresh once the claim is stale.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.wechat.errors import WeChatNoAnswer, WeChatUnavailable
from backend.wechat.gateway import SendRefused, WeChatGateway
from notifications import services
from notifications.models import Delivery, DeliveryStatus, Notice, NoticeKind
from notifications.services import Preferences
from notifications.templates import Template

log = logging.getLogger(__name__)

STOPPING = asyncio.Event()  # set by the worker on SIGTERM: finish the sends in flight, start no more
MAX_ATTEMPTS = 6
# Far longer than a batch can take (a run claims none after a minute; a send waits at most the WeChat timeout and
# a token refresh), so a claim this old has no live sender.
STALE_CLAIM = timedelta(minutes=10)
# Kinds that cannot wait for the morning: a seat offered from a waiting list lapses in hours.
URGENT = frozenset({NoticeKind.SEAT_OFFERED})
_MAYBE_ARRIVED = "the call was cut off: it may or may not have arrived"
_PERMANENT = {40003: "invalid openid", 40037: "invalid template id", 47003: "template data invalid"}
# The codes a push is counted under: WeChat's errcode (0 sent) for those the sender tells apart, "no_answer" and
# "unavailable" when WeChat did not answer; any other errcode is "other", so a new one cannot add series unbounded.
_COUNTED_CODES = frozenset({"0", "43101", "45009", *map(str, _PERMANENT), "no_answer", "unavailable"})
PUSHES = Counter("shuxiang_pushes", "Messages pushed to WeChat, by WeChat's errcode (0: sent)", ["code"])


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
    @property
    def name(self) -> str:
        """The channel's name in delivery records."""
        ...

    async def send(self, batch: list[tuple[Notice, Reader]], concurrency: int) -> list[Outcome]:
        """Push each notice to its recipient, at most `concurrency` at a time; an outcome for each, in order."""
        ...


@dataclass(frozen=True, slots=True)
class WeChatSubscribe:
    """Mini-program subscribe messages: one authorisation spent per message, never sent without one."""

    gateway: WeChatGateway
    templates: dict[NoticeKind, Template]
    name: str = "wechat_subscribe"

    async def send(self, batch: list[tuple[Notice, Reader]], concurrency: int) -> list[Outcome]:
        outcomes: list[Outcome | None] = [self._unsendable(notice, recipient) for notice, recipient in batch]
        wanted = [
            (i, recipient.id, self.templates[notice.kind].template_id)
            for i, (notice, recipient) in enumerate(batch)
            if outcomes[i] is None
        ]
        granted = await services.spend_many([(reader_id, template_id) for _, reader_id, template_id in wanted])
        gate = asyncio.Semaphore(concurrency)

        async def push(i: int) -> Outcome:
            async with gate:
                outcome = await self._push(*batch[i])
            code = outcome.code or "0"  # a message sent has no error code
            PUSHES.labels(code if code in _COUNTED_CODES else "other").inc()
            return outcome

        for (i, _, _), allowed in zip(wanted, granted, strict=True):
            if not allowed:
                outcomes[i] = Outcome(
                    DeliveryStatus.SKIPPED, "no_authorisation", "the reader has no authorisation left"
                )
        pushing = [i for i, outcome in enumerate(outcomes) if outcome is None]
        for i, outcome in zip(pushing, await asyncio.gather(*(push(i) for i in pushing)), strict=True):
            outcomes[i] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _unsendable(self, notice: Notice, recipient: Reader) -> Outcome | None:
        if notice.kind not in self.templates:
            return Outcome(DeliveryStatus.SKIPPED, "no_template", "no template is configured for this kind")
        if not recipient.openid:
            return Outcome(DeliveryStatus.SKIPPED, "no_wechat", "the reader has no WeChat login")
        return None

    async def _push(self, notice: Notice, recipient: Reader) -> Outcome:
        """One message, its authorisation already spent: given back when WeChat did not use it."""
        template = self.templates[notice.kind]
        assert recipient.openid is not None
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
        except WeChatNoAnswer:  # sent, unanswered: it may have arrived, and a second copy must not
            return Outcome(DeliveryStatus.INTERRUPTED, "no_answer", _MAYBE_ARRIVED)
        except Exception as exc:  # WeChat unreachable, a token refresh refused, Redis: not sent, try again
            if not isinstance(exc, WeChatUnavailable):
                log.exception("sending notice %d failed", notice.id)
            await services.refund(recipient.id, template.template_id)
            return Outcome.retry("unavailable", "WeChat unreachable or failing")
        return SENT


@dataclass(frozen=True, slots=True)
class SendPolicy:
    timezone: ZoneInfo
    default_quiet: tuple[time, time] | None = (time(22), time(8))
    batch: int = 100
    concurrency: int = 16
    run_seconds: float = 60
    """A run claims no new batch after this long (the next one carries on): arq cancels a job at 300 s, and a
    cancelled batch could not be marked."""


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
    return datetime.combine(day, end, tz).astimezone(UTC)  # UTC: a queryset UPDATE stores the offset as given


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=30 * 2 ** (attempts - 1))


async def send_pending(channel: Channel, policy: SendPolicy, clock: Callable[[], datetime]) -> int:
    """Send what is due on `channel` until nothing is, or the worker is stopping; returns how many were sent."""
    await mark_interrupted(channel.name, clock())
    sent = 0
    ends = asyncio.get_running_loop().time() + policy.run_seconds
    while not STOPPING.is_set() and asyncio.get_running_loop().time() < ends:
        claimed = await _claim(channel.name, clock(), policy.batch)
        if not claimed:
            break
        sent += await _deliver(channel, policy, claimed, clock)
    return sent


async def _deliver(channel: Channel, policy: SendPolicy, claimed: list[Delivery], clock: Callable[[], datetime]) -> int:
    """One claimed batch: muted kinds skipped, quiet hours waited out, the rest pushed `policy.concurrency` at a
    time, each group marked SENDING just before its calls and with its outcomes as soon as they are back, so a
    worker killed mid-batch leaves no more than the sends it had in flight unaccounted for."""
    claim = claimed[0].claimed_at  # this run's: a row another run took over since (a stale claim) is not ours
    readers = {d.notice.reader_id for d in claimed}
    recipients = {r.id: r for r in await Reader.filter(id__in=readers)}
    chosen = await services.preferences_of(readers, policy.default_quiet)
    now = clock()
    muted: dict[int, Outcome] = {}
    waiting: dict[datetime, list[int]] = defaultdict(list)
    to_push: list[Delivery] = []
    for delivery in claimed:
        prefs = chosen[delivery.notice.reader_id]
        if delivery.notice.kind in prefs.muted_kinds:
            muted[delivery.id] = Outcome(DeliveryStatus.SKIPPED, "muted", "the reader turned this kind off")
        elif delivery.notice.kind not in URGENT and (until := quiet_until(prefs, now, policy.timezone)) is not None:
            waiting[until].append(delivery.id)
        else:
            to_push.append(delivery)
    for until, ids in waiting.items():
        await Delivery.filter(id__in=ids, status=DeliveryStatus.PENDING, claimed_at=claim).update(
            not_before=until, claimed_at=None
        )
    await _finish(claimed, muted, now, DeliveryStatus.PENDING)
    sent = 0
    for start in range(0, len(to_push), policy.concurrency):
        group = to_push[start : start + policy.concurrency]
        if STOPPING.is_set():  # the rest of the batch goes back to the queue, for the next run or worker
            await Delivery.filter(
                id__in=[d.id for d in to_push[start:]], status=DeliveryStatus.PENDING, claimed_at=claim
            ).update(claimed_at=None)
            break
        stamp = clock()
        await Delivery.filter(id__in=[d.id for d in group], status=DeliveryStatus.PENDING, claimed_at=claim).update(
            status=DeliveryStatus.SENDING, claimed_at=stamp
        )
        # Only what this run marked is sent: a group's rows taken over by another run are that run's to send.
        mine = set(
            await Delivery.filter(
                id__in=[d.id for d in group], status=DeliveryStatus.SENDING, claimed_at=stamp
            ).values_list("id", flat=True)
        )
        group = [d for d in group if d.id in mine]
        if not group:
            continue
        ids = [d.id for d in group]
        pushed = await channel.send([(d.notice, recipients[d.notice.reader_id]) for d in group], policy.concurrency)
        outcomes = dict(zip(ids, pushed, strict=True))
        await _finish(group, outcomes, clock(), DeliveryStatus.SENDING)
        sent += sum(1 for outcome in outcomes.values() if outcome.status is DeliveryStatus.SENT)
    return sent


async def _claim(channel: str, now: datetime, limit: int) -> list[Delivery]:
    """Due deliveries no live sender holds (a claim older than any batch was left by a killed worker before it
    started their sends), taken for this run."""
    async with in_transaction():
        due = (
            await Delivery.filter(channel=channel, status=DeliveryStatus.PENDING, not_before__lte=now)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALE_CLAIM))
            .order_by("not_before", "id")
            .limit(limit)
            .select_for_update(skip_locked=True)
        )
        if not due:
            return []
        ids = [d.id for d in due]
        await Delivery.filter(id__in=ids).update(claimed_at=now)
    return await Delivery.filter(id__in=ids).select_related("notice").order_by("id")


async def _finish(deliveries: list[Delivery], outcomes: dict[int, Outcome], now: datetime, was: DeliveryStatus) -> None:
    """Mark the outcomes, one statement per kind of outcome: a retry waits longer each time, then fails."""
    attempts = {d.id: d.attempts + 1 for d in deliveries}
    groups: dict[tuple[DeliveryStatus, str, str, datetime | None], list[int]] = defaultdict(list)
    for delivery_id, outcome in outcomes.items():
        status, not_before = outcome.status, None
        if status is DeliveryStatus.PENDING:
            if attempts[delivery_id] < MAX_ATTEMPTS:
                not_before = now + backoff(attempts[delivery_id])
            else:
                status = DeliveryStatus.FAILED
        groups[status, outcome.code, outcome.reason, not_before].append(delivery_id)
    for (status, code, reason, not_before), ids in groups.items():
        changes: dict[str, object] = (
            {"not_before": not_before, "claimed_at": None} if not_before is not None else {"finished_at": now}
        )
        await Delivery.filter(id__in=ids, status=was).update(
            status=status, attempts=F("attempts") + 1, error_code=code, error_reason=reason, **changes
        )


async def mark_interrupted(channel: str, now: datetime) -> int:
    """Sends under way for longer than any send can take were left by a worker that was killed mid-call."""
    return await Delivery.filter(
        channel=channel, status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_CLAIM
    ).update(
        status=DeliveryStatus.INTERRUPTED,
        finished_at=now,
        error_code="interrupted",
        error_reason=_MAYBE_ARRIVED,
    )


async def undelivered(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[Delivery], int]:
    """Failed and interrupted deliveries, newest first, with their reasons (the network's WeChat account is one,
    so its failures are the network admins')."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    stuck = Delivery.filter(status__in=(DeliveryStatus.FAILED, DeliveryStatus.INTERRUPTED))
    return await paging.page(stuck.order_by("-finished_at", "-id").select_related("notice"), limit, offset)


async def retry(staff: StaffUser, delivery_ids: list[int], now: datetime) -> int:
    """Send failed or interrupted deliveries again."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    return await Delivery.filter(
        id__in=delivery_ids, status__in=(DeliveryStatus.FAILED, DeliveryStatus.INTERRUPTED)
    ).update(status=DeliveryStatus.PENDING, not_before=now, attempts=0, finished_at=None, claimed_at=None)
