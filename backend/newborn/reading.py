"""Keeping the family reading: an enrolled child's stage reading list and the events for their age near the family,
the reading record (阅读档案) of the books borrowed on the child's card and read at home, its milestones and their
certificates. Only the child's guardian sees or changes any of it.

"Books read" are the entries of the record: every reading the family logs and every loan of the child's card. A book
read again counts again, as "1,000 Books Before Kindergarten" counts (the picture book read twenty times is twenty of
the thousand); a loan is one entry however long it is kept. A milestone, once reached, stays reached: an entry deleted
later does not take back a certificate the family may have shared.

Loans are logged as they open (`LoanOpened`), not read from the loans when the record is shown: a returned loan
forgets its reader unless the reader keeps a reading history, and old ones are unlinked by the retention job, so the
record would lose the child's books as they came back. The entry is the programme's own, kept under the programme's
consent and deleted with the enrolment; loans from before the enrolment are not logged, as no consent covered them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from tortoise import connections

from backend import paging
from backend.accounts import ages
from backend.accounts.models import Reader
from backend.accounts.services import get_child
from backend.booklists import services as booklists
from backend.booklists.errors import BooklistNotFound
from backend.booklists.services import BooklistView
from backend.catalog.errors import RecordNotFound
from backend.catalog.isbn import normalise_isbn
from backend.catalog.models import Record
from backend.circulation.domain_events import LoanOpened
from backend.clock import NetworkTime
from backend.eventbus import EventBus, record
from backend.events import services as events
from backend.events.models import Event
from backend.events.services import EventQuery
from backend.newborn.certificates import Certificate, certificate_png
from backend.newborn.domain_events import MilestoneReached
from backend.newborn.models import Enrolment, Milestone, ReadingLogEntry, ReadingSource
from backend.newborn.reading_errors import (
    BookRequired,
    ChildNotEnrolled,
    MilestoneNotReached,
    ReadDayInvalid,
    ReadingEntryNotFound,
)

MILESTONES = (10, 50, 100, 500, 1000)
"""The numbers of books read that are milestones ("1,000 books before kindergarten")."""
TITLE_LENGTH = 200
"""The longest title an entry keeps (a catalogue title runs to 500 characters)."""
_RECORDED = (
    "INSERT INTO newborn_milestone (enrolment_id, books, reached_at) SELECT $1, books, $3 FROM unnest($2::int[]) books "
    "ON CONFLICT (enrolment_id, books) DO NOTHING RETURNING books"
)


@dataclass(frozen=True, slots=True)
class BookRead:
    """A book the family read at home, as the parent logs it: a catalogue record, a scanned ISBN, or a title alone.
    With an ISBN the catalogue does not have, the title typed is kept (the ISBN itself when none is)."""

    record_id: int | None
    isbn: str | None
    title: str | None
    read_on: date
    minutes: int | None
    note: str


@dataclass(frozen=True, slots=True)
class EntryChange:
    read_on: date
    minutes: int | None
    note: str


@dataclass(frozen=True, slots=True)
class Logged:
    entry: ReadingLogEntry
    books_read: int
    reached: list[int]
    """The milestones this entry reached (usually none)."""


@dataclass(frozen=True, slots=True)
class StageReading:
    enrolment: Enrolment  # with its child and stage
    age_months: int
    booklist: BooklistView | None
    """The stage's reading list while it is published (staff may take a list down)."""


@dataclass(frozen=True, slots=True)
class Progress:
    books_read: int
    milestones: list[Milestone]  # reached, smallest first
    next_milestone: int | None


def born_on(child: Reader) -> date:
    """The day a child's age counts from: the date of birth, or the first of the month a card records without its day
    (as `ages.age_in_months` counts)."""
    born = ages.birth_of(child)
    if born is None:  # an enrolment is made with the child's date of birth, and a correction keeps it
        raise ValueError(f"reader {child.id} records no birth")
    if isinstance(born, str):
        month = ages.birth_month(born)
        if month is None:
            raise ValueError(f"reader {child.id} records no birth month: {born!r}")
        return month
    return born


async def enrolment_of(guardian: Reader, child_id: int) -> Enrolment:
    """The enrolment of one of the guardian's children, with the child, the programme and its library, the family's
    library and the stage; anyone else's child is not found (`child_not_found`), so ids reveal nothing."""
    child = await get_child(guardian, child_id)
    enrolment = await Enrolment.get_or_none(child_id=child.id, guardian_id=guardian.id).select_related(
        "child", "programme__library", "library", "stage"
    )
    if enrolment is None:
        raise ChildNotEnrolled()
    return enrolment


# ---- the stage: its reading list and the events for the child's age ----


async def stage_reading(guardian: Reader, child_id: int, today: date) -> StageReading:
    """The child's age and stage, with the stage's reading list (the booklists area's, linked, not copied)."""
    enrolment = await enrolment_of(guardian, child_id)
    booklist = None
    if enrolment.stage is not None and enrolment.stage.booklist_id is not None:
        try:
            booklist = await booklists.view(await booklists.published(enrolment.stage.booklist_id))
        except BooklistNotFound:
            booklist = None  # a draft or a retired list: the app shows the stage without one
    return StageReading(enrolment, ages.age_in_months(born_on(enrolment.child), today), booklist)


async def stage_events(
    guardian: Reader,
    child_id: int,
    near: tuple[float, float] | None,
    radius_m: float,
    now: datetime,
    network_time: NetworkTime,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Event], int]:
    """Upcoming events a child of this age may attend, near `near` (latitude, longitude) or, without it, near the
    library the family collects its packs at; online events too. The events area's own filter by a child's age."""
    enrolment = await enrolment_of(guardian, child_id)
    home = enrolment.library
    query = EventQuery(
        age_months=ages.age_in_months(born_on(enrolment.child), network_time.day(now)),
        near=near or (home.latitude, home.longitude),
        radius_m=radius_m,
        limit=limit,
        offset=offset,
    )
    return await events.browse(query, now)


# ---- the reading record ----


async def reading_log(guardian: Reader, child_id: int, *, limit: int, offset: int) -> tuple[list[ReadingLogEntry], int]:
    """The child's reading record, the latest read first."""
    enrolment = await enrolment_of(guardian, child_id)
    entries = ReadingLogEntry.filter(enrolment_id=enrolment.id).order_by("-read_on", "-id")
    return await paging.page(entries, limit, offset)


async def log_reading(
    guardian: Reader, child_id: int, book: BookRead, now: datetime, network_time: NetworkTime, bus: EventBus
) -> Logged:
    """Add a book read at home to the child's record; a milestone it reaches is recorded once and the family told."""
    enrolment = await enrolment_of(guardian, child_id)
    _check_day(enrolment.child, book.read_on, network_time.day(now))
    source, found, isbn13, title = await _book(book)
    async with bus.transaction():
        await _lock(enrolment.id)
        entry = await ReadingLogEntry.create(
            enrolment_id=enrolment.id,
            source=source,
            record=found,
            isbn13=isbn13,
            title=title,
            read_on=book.read_on,
            minutes=book.minutes,
            note=book.note,
            created_at=now,
        )
        books_read, reached = await _reach_milestones(enrolment, now)
    return Logged(entry, books_read, reached)


async def change_entry(
    guardian: Reader, child_id: int, entry_id: int, change: EntryChange, now: datetime, network_time: NetworkTime
) -> ReadingLogEntry:
    """Correct when a book was read, for how long, and the note (the book itself: delete the entry, log it again)."""
    enrolment = await enrolment_of(guardian, child_id)
    entry = await _entry(enrolment, entry_id)
    _check_day(enrolment.child, change.read_on, network_time.day(now))
    entry.read_on, entry.minutes, entry.note = change.read_on, change.minutes, change.note
    await entry.save(update_fields=["read_on", "minutes", "note"])
    return entry


async def delete_entry(guardian: Reader, child_id: int, entry_id: int) -> None:
    """Remove an entry from the record (a loan's too); milestones already reached stay."""
    enrolment = await enrolment_of(guardian, child_id)
    if not await ReadingLogEntry.filter(id=entry_id, enrolment_id=enrolment.id).delete():
        raise ReadingEntryNotFound()


async def loan_opened(network_time: NetworkTime, event: LoanOpened) -> None:
    """A loan on an enrolled child's card goes into the child's record, in the checkout's transaction: once, however
    often the event is handled (the entry's loan is unique), on the day of the network's calendar it was lent."""
    # The enrolment's row lock, taken after the checkout's lock of the card (the order a card's removal takes them
    # in too), makes counting the books and recording a milestone one step, as for a book the parent logs.
    enrolment = await Enrolment.select_for_update().get_or_none(child_id=event.reader_id)
    if enrolment is None:
        return
    book = await Record.get(id=event.record_id)
    entry = ReadingLogEntry(
        enrolment_id=enrolment.id,
        source=ReadingSource.LOAN,
        record_id=book.id,
        loan_id=event.loan_id,
        isbn13=book.isbn13,
        title=_shortened(book.title),
        read_on=network_time.day(event.at),
        created_at=event.at,
    )
    await ReadingLogEntry.bulk_create([entry], ignore_conflicts=True)
    await _reach_milestones(enrolment, event.at)


def _check_day(child: Reader, read_on: date, today: date) -> None:
    born = born_on(child)
    if not born <= read_on <= today:
        raise ReadDayInvalid(born=born.isoformat(), today=today.isoformat())


async def _book(book: BookRead) -> tuple[ReadingSource, Record | None, str | None, str]:
    """The entry's source, record, ISBN and title for what the parent logged."""
    title = (book.title or "").strip() or None  # blank is none
    if book.record_id is not None:
        if book.isbn is not None or title is not None:
            raise BookRequired()
        found = await Record.get_or_none(id=book.record_id)
        if found is None:
            raise RecordNotFound()
        return ReadingSource.CATALOGUE, found, found.isbn13, _shortened(found.title)
    if book.isbn is not None:
        isbn13 = normalise_isbn(book.isbn)
        found = await Record.get_or_none(isbn13=isbn13)
        if found is not None:
            return ReadingSource.ISBN, found, isbn13, _shortened(found.title)
        return ReadingSource.ISBN, None, isbn13, title or f"ISBN {isbn13}"
    if title is None:
        raise BookRequired()
    return ReadingSource.FREE_TEXT, None, None, title


def _shortened(title: str) -> str:
    return title if len(title) <= TITLE_LENGTH else title[: TITLE_LENGTH - 1] + "…"


async def _lock(enrolment_id: int) -> None:
    """The enrolment's row, locked until the transaction ends: one family's entries are counted one at a time, so two
    entries logged at once cannot both miss, or both reach, a milestone. Gone meanwhile: consent was withdrawn."""
    if await Enrolment.select_for_update().get_or_none(id=enrolment_id) is None:
        raise ChildNotEnrolled()


async def _reach_milestones(enrolment: Enrolment, now: datetime) -> tuple[int, list[int]]:
    """Count the child's books (under the enrolment's lock) and record every milestone they reach for the first time;
    the unique enrolment and number make a second recording of one a no-op whatever else happens. Returns the books
    read and the milestones reached now."""
    books_read = await ReadingLogEntry.filter(enrolment_id=enrolment.id).count()
    due = [books for books in MILESTONES if books <= books_read]
    if not due:
        return books_read, []
    rows = await connections.get("default").execute_query_dict(_RECORDED, [enrolment.id, due, now])
    reached = sorted(int(row["books"]) for row in rows)
    if reached:
        child = await Reader.get(id=enrolment.child_id)
        for books in reached:
            record(MilestoneReached(enrolment.id, enrolment.child_id, enrolment.guardian_id, child.name, books, now))
    return books_read, reached


async def _entry(enrolment: Enrolment, entry_id: int) -> ReadingLogEntry:
    entry = await ReadingLogEntry.get_or_none(id=entry_id, enrolment_id=enrolment.id)
    if entry is None:
        raise ReadingEntryNotFound()
    return entry


# ---- milestones ----


async def progress(guardian: Reader, child_id: int) -> Progress:
    """The books the child has read, the milestones reached, and the next one to aim for."""
    enrolment = await enrolment_of(guardian, child_id)
    milestones = await Milestone.filter(enrolment_id=enrolment.id).order_by("books")
    books_read = await ReadingLogEntry.filter(enrolment_id=enrolment.id).count()
    reached = {m.books for m in milestones}
    return Progress(books_read, milestones, next((books for books in MILESTONES if books not in reached), None))


async def certificate(guardian: Reader, child_id: int, books: int, network_time: NetworkTime) -> bytes:
    """The certificate of a milestone the child reached, as a PNG to keep and share."""
    enrolment = await enrolment_of(guardian, child_id)
    milestone = await Milestone.get_or_none(enrolment_id=enrolment.id, books=books)
    if milestone is None:
        raise MilestoneNotReached(books=books)
    return await certificate_png(certificate_of(enrolment, milestone, network_time))


def certificate_of(enrolment: Enrolment, milestone: Milestone, network_time: NetworkTime) -> Certificate:
    """What a milestone's certificate says; `enrolment` with its child, its programme and the family's library."""
    return Certificate(
        enrolment.child.name,
        milestone.books,
        enrolment.programme.name,
        enrolment.library.name,
        network_time.day(milestone.reached_at),
    )
