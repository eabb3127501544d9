"""Reading lists as readers and staff see them, what staff send to make or push one, and a push's report."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated

import msgspec

from backend.booklists.models import BooklistAudience, BooklistPush, BooklistStatus
from backend.booklists.services import MAX_AGE_MONTHS, MAX_RECORDS, BooklistDraft, BooklistView, Listed, PushOutcome
from miniprogram_api.catalog.schemas import RecordSummaryOut
from miniprogram_api.network.schemas import Code
from miniprogram_api.notifications.schemas import IdempotencyKey, MessageOut
from miniprogram_api.schemas import Page, RowId, named, text, web_address
from notifications.broadcasts import ListMessage
from notifications.models import StaffMessage

AgeMonths = Annotated[int, msgspec.Meta(ge=0, le=MAX_AGE_MONTHS)]


class BooklistIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, text(40, min_length=1)]
    description: Annotated[str, text(1000, multi_line=True)] = ""
    cover_url: Annotated[str, web_address(500)] = ""
    """An image's web address (https), or empty."""
    audience: BooklistAudience = BooklistAudience.EVERYONE
    min_age_months: AgeMonths | None = None
    max_age_months: AgeMonths | None = None
    """For children only: from `min_age_months` (inclusive) to under `max_age_months`, e.g. 0 and 18 for babies."""
    library_codes: Annotated[list[Code], msgspec.Meta(max_length=50)] = []
    """The libraries it is meant for, each with everything below it, all in my scope; empty: the owning library."""

    def draft(self) -> BooklistDraft:
        return BooklistDraft(
            title=self.title,
            description=self.description,
            cover_url=self.cover_url,
            audience=self.audience,
            min_age_months=self.min_age_months,
            max_age_months=self.max_age_months,
            library_codes=list(self.library_codes),
        )


class NewBooklistIn(BooklistIn, forbid_unknown_fields=True):
    library_code: Code | None = None
    """The library that owns it (staff of it and above edit it), in my scope; empty: mine."""


class EntryIn(msgspec.Struct, forbid_unknown_fields=True):
    record_id: RowId
    note: Annotated[str, text(200, multi_line=True)] = ""
    """Why it is on the list, as readers will read it."""


class EntriesIn(msgspec.Struct, forbid_unknown_fields=True):
    records: Annotated[list[EntryIn], msgspec.Meta(max_length=MAX_RECORDS)]
    """The whole list in its order: records left out are removed."""

    def chosen(self) -> list[tuple[int, str]]:
        return [(entry.record_id, entry.note) for entry in self.records]


class PushPreviewIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, text(20, min_length=1)] | None = None
    body: Annotated[str, text(200, min_length=1)] | None = None
    """The message's words; left out, they are made from the list's title and description."""


class PushIn(PushPreviewIn, forbid_unknown_fields=True, kw_only=True):
    idempotency_key: IdempotencyKey
    """The same for a retry of this push (a double tap, a lost answer): the push is made once, and the retry is
    answered with it."""


class LibraryRefOut(msgspec.Struct):
    code: str
    name: str


class BooklistOut(msgspec.Struct):
    id: int
    title: str
    description: str
    cover_url: str
    audience: BooklistAudience
    min_age_months: int | None
    max_age_months: int | None
    library: LibraryRefOut
    """The library that made it."""
    libraries: list[LibraryRefOut]
    """The libraries whose readers (each with everything below it) it is meant for."""
    records: int
    readers_opened: int
    status: BooklistStatus
    published_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, view: BooklistView) -> BooklistOut:
        b = view.booklist
        return cls(
            id=b.id,
            title=b.title,
            description=b.description,
            cover_url=b.cover_url,
            audience=b.audience,
            min_age_months=b.min_age_months,
            max_age_months=b.max_age_months,
            library=LibraryRefOut(b.library.code, b.library.name),
            libraries=[LibraryRefOut(lib.code, lib.name) for lib in view.libraries],
            records=view.records,
            readers_opened=view.opened,
            status=b.status,
            published_at=b.published_at,
            updated_at=b.updated_at,
        )


BooklistPage = Annotated[Page[BooklistOut], named("BooklistPage")]


class EntryOut(msgspec.Struct):
    position: int
    note: str
    record: RecordSummaryOut

    @classmethod
    def of(cls, listed: Listed) -> EntryOut:
        return cls(listed.entry.position, listed.entry.note, RecordSummaryOut.of(listed.hit))


BooklistEntryPage = Annotated[Page[EntryOut], named("BooklistEntryPage")]


class PushPreviewOut(msgspec.Struct):
    audience: str
    recipients: int
    """Readers who would be told (a guardian once for all of their children's cards)."""
    title: str
    body: str
    link: str
    """The query the message opens the mini-program with."""
    push: dict[str, str] | None
    """The subscribe message's values as WeChat will show them (cut to its field rules); null when staff messages
    are not pushed (no template configured): the inbox only."""

    @classmethod
    def of(cls, m: ListMessage) -> PushPreviewOut:
        return cls(m.audience, m.recipients, m.title, m.body, m.link, m.push)


class PushOut(msgspec.Struct):
    id: int
    booklist_id: int
    message_id: int
    recipients: int
    records: int
    """The books listed when it was pushed: the report counts holds and loans of these."""
    pushed_at: datetime

    @classmethod
    def of(cls, push: BooklistPush) -> PushOut:
        return cls(push.id, push.booklist_id, push.message_id, push.recipients, len(push.record_ids), push.pushed_at)


BooklistPushPage = Annotated[Page[PushOut], named("BooklistPushPage")]


class PushReportOut(msgspec.Struct):
    push: PushOut
    message: MessageOut
    outcomes: dict[str, int]
    """Deliveries by outcome: `sent`, `pending`, `failed:<code>`, `skipped:<reason>`..."""
    recipients: int
    opened: int
    """Readers told who opened the list within the window."""
    held: int
    """Readers told who placed a hold on a listed book within the window (on the card reached or their own)."""
    borrowed: int
    """Readers told who borrowed a listed book within the window (a loan from before the push does not count)."""
    acted: int
    """Readers told who did either."""
    window_ends: datetime

    @classmethod
    def of(
        cls, push: BooklistPush, message: StaffMessage, outcomes: Counter[str], outcome: PushOutcome
    ) -> PushReportOut:
        return cls(
            PushOut.of(push),
            MessageOut.of(message),
            dict(sorted(outcomes.items())),
            outcome.recipients,
            outcome.opened,
            outcome.held,
            outcome.borrowed,
            outcome.acted,
            outcome.window_ends,
        )
