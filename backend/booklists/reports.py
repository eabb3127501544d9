"""What a push of books achieved within its window, for any kind of push that keeps the cards it reached.

A reading list's push and a push of each reader's own picks (`notifications.broadcasts`) keep their reports alike: a
row per card reached naming whom it told and, within the window, when either first borrowed one of the records pushed
to it (marked at checkout: a returned loan forgets its reader unless the reader keeps a history); holds are counted
from `hold` and openings as the kind says. When the window closes the counts are kept on the push and the rows naming
readers are deleted (`settle`). The kinds differ only in their tables, where a card's records are, and what opening is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tortoise import connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

from backend.circulation.domain_events import LoanOpened

REPORT_DAYS = 30
"""A push is credited with the opens, holds and loans of its readers within this many days."""


class Pushed(Protocol):
    """A push as its report reads it: the counts are kept once its window has closed (`settled_at`)."""

    @property
    def id(self) -> int: ...
    @property
    def recipients(self) -> int: ...
    @property
    def pushed_at(self) -> datetime: ...
    @property
    def settled_at(self) -> datetime | None: ...
    @property
    def opened(self) -> int | None: ...
    @property
    def held(self) -> int | None: ...
    @property
    def borrowed(self) -> int | None: ...
    @property
    def acted(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PushReport:
    """Where a kind of push keeps its report. `pushes` has the `Pushed` columns; `readers` has a row per card reached
    (`push_id`, `reader_id`: the card, `recipient_id`: whom it told, `borrowed_at`). The SQL fragments see the push as
    `p` and a card's row as `pr`: `records` is the jsonb array of the records pushed to that card, `opened` whether the
    one told opened the push between `$2` and `$3` (the window)."""

    pushes: type[Model]
    readers: type[Model]
    records: str
    opened: str


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """What a push achieved, counted in the readers told (a guardian told of a child's card counts once)."""

    recipients: int
    opened: int
    held: int  # placed a hold on a record pushed to them within the window (on the card reached or their own)
    borrowed: int  # borrowed one within the window
    acted: int  # held or borrowed
    window_ends: datetime


async def outcome(report: PushReport, push: Pushed) -> PushOutcome:
    """What a push achieved: as kept when its window closed, or counted now while it is open."""
    ends = push.pushed_at + timedelta(days=REPORT_DAYS)
    if push.settled_at is not None:
        kept = (push.opened, push.held, push.borrowed, push.acted)
        opened, held, borrowed, acted = (int(n or 0) for n in kept)
        return PushOutcome(push.recipients, opened, held, borrowed, acted, ends)
    return await _count(report, push.id, push.pushed_at)


async def _count(report: PushReport, push_id: int, pushed_at: datetime) -> PushOutcome:
    """Counted by one query over the push's rows and the holds their readers placed: a hold or a loan from before the
    push or after its window is not the push's."""
    ends = pushed_at + timedelta(days=REPORT_DAYS)
    held = (
        "EXISTS (SELECT 1 FROM hold h WHERE h.reader_id IN (pr.reader_id, pr.recipient_id) "
        f"AND {report.records} @> to_jsonb(h.record_id) AND h.placed_at >= $2 AND h.placed_at < $3)"
    )
    rows = await connections.get("default").execute_query_dict(
        "SELECT count(DISTINCT pr.recipient_id) AS recipients, "
        f"count(DISTINCT pr.recipient_id) FILTER (WHERE {report.opened}) AS opened, "
        f"count(DISTINCT pr.recipient_id) FILTER (WHERE {held}) AS held, "
        "count(DISTINCT pr.recipient_id) FILTER (WHERE pr.borrowed_at IS NOT NULL) AS borrowed, "
        f"count(DISTINCT pr.recipient_id) FILTER (WHERE pr.borrowed_at IS NOT NULL OR {held}) AS acted "
        f"FROM {report.readers._meta.db_table} pr JOIN {report.pushes._meta.db_table} p ON p.id = pr.push_id "
        "WHERE pr.push_id = $1",
        [push_id, pushed_at, ends],
    )
    row = rows[0]
    return PushOutcome(row["recipients"], row["opened"], row["held"], row["borrowed"], row["acted"], ends)


async def settle(report: PushReport, now: datetime) -> int:
    """The pushes whose window has closed keep their counts, and their rows naming readers (who borrowed what, and
    when) are deleted: a returned loan forgets its reader, and the report must not remember it instead. Idempotent: a
    push is settled once, under its row lock. Returns the pushes settled."""
    closed = report.pushes.filter(settled_at__isnull=True, pushed_at__lte=now - timedelta(days=REPORT_DAYS))
    settled = 0
    for push_id in await closed.order_by("id").values_list("id", flat=True):
        async with in_transaction():
            unsettled = await connections.get("default").execute_query_dict(
                f"SELECT pushed_at FROM {report.pushes._meta.db_table} WHERE id = $1 AND settled_at IS NULL FOR UPDATE",
                [push_id],
            )
            if not unsettled:  # another run settled it
                continue
            counted = await _count(report, int(push_id), unsettled[0]["pushed_at"])  # type: ignore[call-overload]
            await report.pushes.filter(id=push_id).update(
                settled_at=now,
                opened=counted.opened,
                held=counted.held,
                borrowed=counted.borrowed,
                acted=counted.acted,
            )
            await report.readers.filter(push_id=push_id).delete()
        settled += 1
    return settled


async def mark_loan(report: PushReport, event: LoanOpened) -> None:
    """A checkout of a record pushed to the card (or to the guardian holding it) within the push's window is the
    push's: marked now, because the loan forgets its reader at return unless the reader keeps a history."""
    await connections.get("default").execute_query(
        f"UPDATE {report.readers._meta.db_table} pr SET borrowed_at = $1 FROM {report.pushes._meta.db_table} p "
        "WHERE p.id = pr.push_id AND pr.borrowed_at IS NULL AND (pr.reader_id = $2 OR pr.recipient_id = $2) "
        f"AND p.pushed_at <= $1 AND p.pushed_at > $3 AND {report.records} @> $4::jsonb",
        [event.at, event.reader_id, event.at - timedelta(days=REPORT_DAYS), f"[{int(event.record_id)}]"],
    )
