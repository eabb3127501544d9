"""Making notices, the inbox, subscribe-message authorisations and readers' preferences.

Anything that has something to tell a reader calls `notify` (or `notify_many` for a cron job's batch) inside its
own transaction: the notice and its pending deliveries are written with it, or not at all. Each notice's key
(kind, subject, reader, occasion) is unique and the inserts skip existing keys, so asking twice makes one notice;
the sender (`notifications.sender`) pushes the deliveries later.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader
from notifications.errors import NoticeNotFound, QuietHoursInvalid
from notifications.models import Delivery, Notice, NoticeKind, NoticePreferences, SubscribeGrant
from notifications.templates import Template

PUSH_CHANNELS = ("wechat_subscribe",)  # every notice is in the inbox; these also push it
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    reader_id: int  # the recipient: for a child's card, the guardian
    kind: NoticeKind
    subject: str  # what it is about: "loan:12", "booking:7", "2026-12-05"
    occasion: str  # which telling of it: "24h", "1h", the due date
    title: str
    body: str
    link: str = ""  # the query the mini-program page opens with, e.g. "booking=7"
    values: dict[str, str] = field(default_factory=dict)
    message_id: int | None = None

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}:{self.reader_id}:{self.occasion}"


async def notify(draft: NoticeDraft, now: datetime) -> None:
    await notify_many([draft], now)


async def notify_many(drafts: Sequence[NoticeDraft], now: datetime) -> int:
    """Record notices and their pending deliveries, skipping keys that exist; returns how many were new. Safe to
    run again after a crash part-way: deliveries missing for existing notices are made then."""
    made = 0
    for start in range(0, len(drafts), _BATCH):
        batch = drafts[start : start + _BATCH]
        keys = [d.key for d in batch]
        existing: set[str] = set(await Notice.filter(key__in=keys).values_list("key", flat=True))  # type: ignore[arg-type]
        fresh = [d for d in batch if d.key not in existing]
        await Notice.bulk_create(
            [
                Notice(
                    reader_id=d.reader_id,
                    kind=d.kind,
                    key=d.key,
                    title=d.title,
                    body=d.body,
                    link=d.link,
                    values=d.values,
                    message_id=d.message_id,
                    created_at=now,
                )
                for d in fresh
            ],
            ignore_conflicts=True,  # a concurrent run made some of them: theirs stand
        )
        made += len(fresh)
        ids = await Notice.filter(key__in=keys).values_list("id", flat=True)
        await Delivery.bulk_create(
            [Delivery(notice_id=i, channel=channel, not_before=now) for i in ids for channel in PUSH_CHANNELS],
            ignore_conflicts=True,
        )
    return made


async def guardians(reader_ids: Iterable[int]) -> dict[int, int]:
    """Whom to tell about each card: the reader, or a child's guardian (children have no WeChat of their own)."""
    ids = sorted(set(reader_ids))
    found: dict[int, int] = {}
    for start in range(0, len(ids), _BATCH):  # a bounded IN list: PostgreSQL takes at most 32,767 parameters
        rows = await Reader.filter(id__in=ids[start : start + _BATCH]).values_list("id", "guardian_id")
        found.update((reader_id, guardian_id or reader_id) for reader_id, guardian_id in rows)
    return found


async def inbox(reader: Reader, *, unread_only: bool, limit: int, offset: int) -> tuple[list[Notice], int]:
    """The reader's notices, newest first."""
    notices = Notice.filter(reader_id=reader.id)
    if unread_only:
        notices = notices.filter(read_at__isnull=True)
    return await paging.page(notices.order_by("-id"), limit, offset)


async def unread_count(reader: Reader) -> int:
    return await Notice.filter(reader_id=reader.id, read_at__isnull=True).count()


async def mark_read(reader: Reader, notice_id: int | None, now: datetime) -> None:
    """Mark one notice read, or all of them."""
    notices = Notice.filter(reader_id=reader.id, read_at__isnull=True)
    if notice_id is not None:
        if not await Notice.exists(id=notice_id, reader_id=reader.id):
            raise NoticeNotFound()
        notices = notices.filter(id=notice_id)
    await notices.update(read_at=now)


async def delete_notice(reader: Reader, notice_id: int) -> None:
    """The reader removes a notice from the inbox (a notice can name the books they borrow)."""
    if not await Notice.filter(id=notice_id, reader_id=reader.id).delete():
        raise NoticeNotFound()


async def purge_old_notices(now: datetime, retention_days: int) -> int:
    """Notices older than the retention period are deleted with their deliveries (PIPL: kept no longer than
    needed; a due-date reminder names the books a reader borrowed)."""
    return await Notice.filter(created_at__lt=now - timedelta(days=retention_days)).delete()


@dataclass(frozen=True, slots=True)
class Subscribed:
    accepted: list[str]  # one more message of each may be sent
    ignored: list[str]  # not a template of this installation: nothing recorded


async def authorise(
    reader: Reader, template_ids: Iterable[str], templates: Mapping[NoticeKind, Template]
) -> Subscribed:
    """The mini-program reports the templates a reader accepted in one requestSubscribeMessage tap: one more
    message of each may be sent. Only the templates notices are pushed with count; any other id (one the app still
    asks for after the configuration changed, or one made up) is ignored and reported, and the rest of the tap
    counts, as WeChat's own answer to the tap lists each template on its own."""
    pushed = {template.template_id for template in templates.values()}
    asked = list(dict.fromkeys(template_ids))
    accepted = [template_id for template_id in asked if template_id in pushed]
    for template_id in accepted:
        grant, _ = await SubscribeGrant.get_or_create(reader_id=reader.id, template_id=template_id)
        await SubscribeGrant.filter(id=grant.id).update(remaining=F("remaining") + 1)
    return Subscribed(accepted, [template_id for template_id in asked if template_id not in pushed])


async def spend_many(wanted: list[tuple[int, str]]) -> list[bool]:
    """Use one authorisation per (reader, template) asked, in order; whether each was granted. The grants are
    locked while counted, so two senders never spend the last one twice."""
    if not wanted:
        return []
    granted: list[bool] = []
    async with in_transaction():
        grants = await SubscribeGrant.filter(
            reader_id__in={r for r, _ in wanted}, template_id__in={t for _, t in wanted}, remaining__gt=0
        ).select_for_update()
        left = {(g.reader_id, g.template_id): g.remaining for g in grants}
        for key in wanted:
            granted.append(left.get(key, 0) > 0)
            if granted[-1]:
                left[key] -= 1
        now_left: dict[int, list[int]] = defaultdict(list)
        for g in grants:
            if left[g.reader_id, g.template_id] != g.remaining:
                now_left[left[g.reader_id, g.template_id]].append(g.id)
        for remaining, ids in now_left.items():
            await SubscribeGrant.filter(id__in=ids).update(remaining=remaining)
    return granted


async def refund(reader_id: int, template_id: str) -> None:
    """WeChat did not deliver (a quota, an outage, a bad request): the authorisation was not used up."""
    await SubscribeGrant.filter(reader_id=reader_id, template_id=template_id).update(remaining=F("remaining") + 1)


async def forget_grants(reader_id: int, template_id: str) -> None:
    """WeChat says the reader has none left (43101): our count was wrong, so it starts again from zero."""
    await SubscribeGrant.filter(reader_id=reader_id, template_id=template_id).update(remaining=0)


@dataclass(frozen=True, slots=True)
class Preferences:
    muted_kinds: frozenset[NoticeKind]
    quiet_from: time | None
    quiet_until: time | None


async def preferences(reader: Reader, default_quiet: tuple[time, time] | None) -> Preferences:
    return (await preferences_of([reader.id], default_quiet))[reader.id]


async def preferences_of(reader_ids: Iterable[int], default_quiet: tuple[time, time] | None) -> dict[int, Preferences]:
    """Each reader's choices; readers who chose nothing have the installation's quiet hours."""
    ids = set(reader_ids)
    chosen = {
        row.reader_id: Preferences(frozenset(NoticeKind(k) for k in row.muted_kinds), row.quiet_from, row.quiet_until)
        for row in await NoticePreferences.filter(reader_id__in=ids)
    }
    fallback = Preferences(frozenset(), *(default_quiet or (None, None)))
    return {reader_id: chosen.get(reader_id, fallback) for reader_id in ids}


async def set_preferences(reader: Reader, chosen: Preferences) -> None:
    if (chosen.quiet_from is None) != (chosen.quiet_until is None):
        raise QuietHoursInvalid()
    await NoticePreferences.update_or_create(
        defaults={
            "muted_kinds": sorted(k.value for k in chosen.muted_kinds),
            "quiet_from": chosen.quiet_from,
            "quiet_until": chosen.quiet_until,
        },
        reader_id=reader.id,
    )
