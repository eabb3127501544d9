"""Keeping the family reading (阅享宝贝): an enrolled child's stage reading list and events, the reading record and its
milestones with their certificates, and the child's whole record to download, for the child's guardian; the
programme's figures for staff."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from backend.accounts.errors import ChildNotFound
from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import InvalidIsbn, RecordNotFound
from backend.newborn import figures, privacy, reading
from backend.newborn.errors import ProgrammeNotFound
from backend.newborn.figures import EnrolmentFigure, FamilyFigure, Months, PackFigure
from backend.newborn.models import Milestone, PackReservation, ReadingLogEntry, ReadingSource, ReservationStatus
from backend.newborn.privacy import ChildRecord
from backend.newborn.reading import MILESTONES, TITLE_LENGTH, BookRead, EntryChange, Logged, StageReading
from backend.newborn.reading_errors import (
    BookRequired,
    ChildNotEnrolled,
    FiguresPeriodInvalid,
    MilestoneNotReached,
    ReadDayInvalid,
    ReadingEntryNotFound,
)
from entrypoints.bootstrap import Dependencies
from miniprogram_api.booklists.schemas import BooklistOut, LibraryRefOut
from miniprogram_api.deps import BEARER, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.events.schemas import EventOut, EventPage
from miniprogram_api.newborn.schemas import ConsentTextOut, EnrolmentOut, StageRefOut
from miniprogram_api.schemas import (
    BigRowId,
    Day,
    Latitude,
    Longitude,
    Offset,
    Page,
    ReaderLimit,
    RowId,
    StaffLimit,
    matching_param,
    named,
    text,
)

_CHILD = (*READER_PROBLEMS, ChildNotFound, ChildNotEnrolled)
_FIGURES = (*STAFF_PROBLEMS, ProgrammeNotFound)
_MONTH = r"(?:19[0-9]{2}|2[01][0-9]{2}|2200)-(?:0[1-9]|1[0-2])"
_PNG = {200: ResponseSpec(data_container=bytes, media_type="image/png", description="The certificate, 1000 x 800")}
_ZIP = {200: ResponseSpec(data_container=bytes, media_type="application/zip", description="record.json, certificates")}

Minutes = Annotated[int, msgspec.Meta(ge=1, le=1440)]
Note = Annotated[str, text(500, multi_line=True)]
Books = Annotated[int, Parameter(ge=1, le=max(MILESTONES), description="The milestone: books read")]
Month = Annotated[str | None, matching_param(_MONTH, "A month, YYYY-MM")]


class BookReadIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A book read at home: one of `record_id` (from the catalogue), `isbn` (scanned) or `title` (typed). With an ISBN
    the catalogue does not have, `title` is kept as the book's title (the ISBN itself when none is given)."""

    record_id: RowId | None = None
    isbn: Annotated[str, text(40, min_length=1)] | None = None
    """As scanned or typed: ISBN-13 or ISBN-10, hyphens and spaces allowed."""
    title: Annotated[str, text(TITLE_LENGTH, min_length=1)] | None = None
    read_on: Day
    """The day it was read, on the network's calendar: not in the future, not before the child was born."""
    minutes: Minutes | None = None
    note: Note = ""

    def book(self) -> BookRead:
        return BookRead(self.record_id, self.isbn, self.title, self.read_on, self.minutes, self.note)


class EntryChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    read_on: Day
    minutes: Minutes | None = None
    note: Note = ""

    def change(self) -> EntryChange:
        return EntryChange(self.read_on, self.minutes, self.note)


class ReadingEntryOut(msgspec.Struct):
    id: int
    source: ReadingSource
    """`loan`: borrowed on the child's card (logged when the loan opened); the others logged by the family."""
    title: str
    record_id: int | None
    """The catalogue record (`GET /records/{id}`), when the book is in the catalogue."""
    isbn13: str | None
    read_on: date
    minutes: int | None
    note: str
    created_at: datetime

    @classmethod
    def of(cls, entry: ReadingLogEntry) -> ReadingEntryOut:
        return cls(
            entry.id,
            entry.source,
            entry.title,
            entry.record_id,
            entry.isbn13,
            entry.read_on,
            entry.minutes,
            entry.note,
            entry.created_at,
        )


ReadingEntryPage = Annotated[Page[ReadingEntryOut], named("ReadingEntryPage")]


class LoggedOut(msgspec.Struct):
    entry: ReadingEntryOut
    books_read: int
    milestones_reached: list[int]
    """The milestones this book reached (the family is told in the inbox too); usually none."""

    @classmethod
    def of(cls, logged: Logged) -> LoggedOut:
        return cls(ReadingEntryOut.of(logged.entry), logged.books_read, logged.reached)


class MilestoneOut(msgspec.Struct):
    books: int
    reached_at: datetime
    certificate: str
    """Where the certificate (a PNG to keep and share) is fetched."""

    @classmethod
    def of(cls, child_id: int, milestone: Milestone) -> MilestoneOut:
        path = f"/readers/me/children/{child_id}/newborn/milestones/{milestone.books}/certificate.png"
        return cls(milestone.books, milestone.reached_at, path)


class ProgressOut(msgspec.Struct):
    books_read: int
    """Every book logged and every loan of the child's card; a book read again counts again."""
    next_milestone: int | None
    """The smallest milestone not reached yet; null once all are."""
    milestones: list[MilestoneOut]
    """The milestones reached (five at most), smallest first."""


class StageReadingOut(msgspec.Struct):
    age_months: int
    """The child's age in whole months today, on the network's calendar."""
    stage: StageRefOut | None
    """The stage the child is in; null before the first or after the last."""
    booklist: BooklistOut | None
    """The stage's reading list (its books: `GET /booklists/{id}/records`); null when the stage has none published."""

    @classmethod
    def of(cls, found: StageReading) -> StageReadingOut:
        booklist = BooklistOut.of(found.booklist) if found.booklist else None
        return cls(found.age_months, StageRefOut.of(found.enrolment.stage), booklist)


class ConsentRecordOut(msgspec.Struct):
    given_at: datetime
    text: ConsentTextOut
    """The consent text agreed to, as it was shown."""


class PackRecordOut(msgspec.Struct):
    id: int
    stage: str
    pack_type: str
    library: LibraryRefOut
    status: ReservationStatus
    reserved_at: datetime
    expires_at: datetime
    claimed_at: datetime | None
    claimed_library: LibraryRefOut | None
    lapsed_at: datetime | None

    @classmethod
    def of(cls, r: PackReservation) -> PackRecordOut:
        claimed = r.claimed_library
        return cls(
            id=r.id,
            stage=r.stage.name,
            pack_type=r.pack_type.name,
            library=LibraryRefOut(r.library.code, r.library.name),
            status=r.status,
            reserved_at=r.reserved_at,
            expires_at=r.expires_at,
            claimed_at=r.claimed_at,
            claimed_library=LibraryRefOut(claimed.code, claimed.name) if claimed else None,
            lapsed_at=r.lapsed_at,
        )


class ChildRecordOut(msgspec.Struct):
    """Everything the programme holds of the child (PIPL art. 45)."""

    exported_at: datetime
    enrolment: EnrolmentOut
    consent: ConsentRecordOut
    reading_log: list[ReadingEntryOut]
    """In the order read."""
    milestones: list[MilestoneOut]
    packs: list[PackRecordOut]
    """The gift packs reserved for the child, in the order reserved."""

    @classmethod
    def of(cls, record: ChildRecord) -> ChildRecordOut:
        enrolment = record.enrolment
        return cls(
            exported_at=record.exported_at,
            enrolment=EnrolmentOut.of(enrolment),
            consent=ConsentRecordOut(enrolment.consent.given_at, ConsentTextOut.of(enrolment.consent.text)),
            reading_log=[ReadingEntryOut.of(entry) for entry in record.reading_log],
            milestones=[MilestoneOut.of(enrolment.child_id, m) for m in record.milestones],
            packs=[PackRecordOut.of(r) for r in record.reservations],
        )


class EnrolmentFigureOut(msgspec.Struct):
    month: str
    """YYYY-MM, on the network's calendar."""
    partner_id: int | None
    partner: str | None
    """Null: enrolled by families in the app."""
    enrolled: int
    withdrawn: int
    """Of those enrolled that month, how many have withdrawn since (their records are deleted; the count stays)."""

    @classmethod
    def of(cls, f: EnrolmentFigure) -> EnrolmentFigureOut:
        return cls(f.month.strftime("%Y-%m"), f.partner_id, f.partner, f.enrolled, f.withdrawn)


class PackFigureOut(msgspec.Struct):
    stage_id: int
    stage: str
    library: LibraryRefOut
    reserved: int
    claimed: int
    lapsed: int
    cancelled: int
    """Given back as consent ended (withdrawn, the card closed, the retention period over)."""

    @classmethod
    def of(cls, f: PackFigure) -> PackFigureOut:
        library = LibraryRefOut(f.library_code, f.library)
        return cls(f.stage_id, f.stage, library, f.reserved, f.claimed, f.lapsed, f.cancelled)


class FamilyFigureOut(msgspec.Struct):
    library: LibraryRefOut
    """Where the families collect their packs."""
    families: int
    active: int
    """Borrowed on the child's card, logged a book read or attended an event in the last 90 days."""

    @classmethod
    def of(cls, f: FamilyFigure) -> FamilyFigureOut:
        return cls(LibraryRefOut(f.library_code, f.library), f.families, f.active)


EnrolmentFigurePage = Annotated[Page[EnrolmentFigureOut], named("NewbornEnrolmentFigurePage")]
PackFigurePage = Annotated[Page[PackFigureOut], named("NewbornPackFigurePage")]
FamilyFigurePage = Annotated[Page[FamilyFigureOut], named("NewbornFamilyFigurePage")]


class ChildReadingController(Controller):
    path = "/readers/me/children/{child_id:int}/newborn"
    tags = ["Newborn programme: reading"]
    security = BEARER

    @get("/reading-list", responses=problems(*_CHILD))
    async def reading_list(self, deps: Dependencies, reader: Reader, child_id: RowId) -> StageReadingOut:
        """My enrolled child's age and stage, and the stage's reading list: its books are the reading list's own."""
        today = deps.network_time.day(deps.clock.now())
        return StageReadingOut.of(await reading.stage_reading(reader, child_id, today))

    @get("/events", responses=problems(*_CHILD))
    async def events(
        self,
        deps: Dependencies,
        reader: Reader,
        child_id: RowId,
        lat: Latitude = None,
        lng: Longitude = None,
        radius_m: Annotated[float, Parameter(gt=0, le=50_000)] = 5000,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> EventPage:
        """Upcoming events my enrolled child's age may attend, soonest first: near the library where we collect our
        packs (or near lat and lng), and online."""
        near = (lat, lng) if lat is not None and lng is not None else None
        found, total = await reading.stage_events(
            reader, child_id, near, radius_m, deps.clock.now(), deps.network_time, limit=limit, offset=offset
        )
        return Page.of([EventOut.of(event) for event in found], total, limit, offset)

    @get("/reading", responses=problems(*_CHILD))
    async def reading_log(
        self, reader: Reader, child_id: RowId, limit: ReaderLimit = 20, offset: Offset = 0
    ) -> ReadingEntryPage:
        """My child's reading record (阅读档案), the latest read first: books borrowed on the child's card and books
        we logged."""
        found, total = await reading.reading_log(reader, child_id, limit=limit, offset=offset)
        return Page.of([ReadingEntryOut.of(entry) for entry in found], total, limit, offset)

    @post(
        "/reading",
        responses=problems(*_CHILD, BookRequired, RecordNotFound, InvalidIsbn, ReadDayInvalid),
    )
    async def log_book(self, deps: Dependencies, reader: Reader, child_id: RowId, data: BookReadIn) -> LoggedOut:
        """Log a book we read at home: from the catalogue, by its ISBN, or by its title. A milestone it reaches
        (10, 50, 100, 500, 1,000 books) is recorded once and told in my inbox."""
        logged = await reading.log_reading(reader, child_id, data.book(), deps.clock.now(), deps.network_time, deps.bus)
        return LoggedOut.of(logged)

    @put("/reading/{entry_id:int}", responses=problems(*_CHILD, ReadingEntryNotFound, ReadDayInvalid))
    async def change_book(
        self, deps: Dependencies, reader: Reader, child_id: RowId, entry_id: BigRowId, data: EntryChangeIn
    ) -> ReadingEntryOut:
        """Correct an entry's day, minutes and note (to change the book, delete the entry and log it again)."""
        entry = await reading.change_entry(
            reader, child_id, entry_id, data.change(), deps.clock.now(), deps.network_time
        )
        return ReadingEntryOut.of(entry)

    @delete("/reading/{entry_id:int}", status_code=204, responses=problems(*_CHILD, ReadingEntryNotFound))
    async def delete_book(self, reader: Reader, child_id: RowId, entry_id: BigRowId) -> None:
        """Remove an entry from the record (a loan's too); milestones already reached stay."""
        await reading.delete_entry(reader, child_id, entry_id)

    @get("/milestones", responses=problems(*_CHILD))
    async def milestones(self, reader: Reader, child_id: RowId) -> ProgressOut:
        """The books my child has read, the milestones reached (a certificate each) and the next one to aim for."""
        found = await reading.progress(reader, child_id)
        reached = [MilestoneOut.of(child_id, m) for m in found.milestones]
        return ProgressOut(found.books_read, found.next_milestone, reached)

    @get(
        "/milestones/{books:int}/certificate.png",
        media_type="image/png",
        responses={**problems(*_CHILD, MilestoneNotReached), **_PNG},
    )
    async def certificate(self, deps: Dependencies, reader: Reader, child_id: RowId, books: Books) -> Response[bytes]:
        """The certificate of a milestone my child reached: a PNG in Chinese to keep and share in WeChat."""
        png = await reading.certificate(reader, child_id, books, deps.network_time)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})

    @get("/record", responses=problems(*_CHILD))
    async def record(self, deps: Dependencies, reader: Reader, child_id: RowId) -> ChildRecordOut:
        """My child's whole record in the programme (PIPL art. 45): enrolment, consent, reading record, milestones,
        packs; the certificates are fetched from their links, or all at once in `record.zip`."""
        return ChildRecordOut.of(await privacy.child_record(reader, child_id, deps.clock.now()))

    @get("/record.zip", media_type="application/zip", responses={**problems(*_CHILD), **_ZIP})
    async def record_zip(self, deps: Dependencies, reader: Reader, child_id: RowId) -> Response[bytes]:
        """My child's whole record to download: `record.json` (as `GET .../record` answers) and the certificates."""
        found = await privacy.child_record(reader, child_id, deps.clock.now())
        bundle = await privacy.archive(found, msgspec.json.encode(ChildRecordOut.of(found)), deps.network_time)
        disposition = f'attachment; filename="newborn-record-{child_id}.zip"'
        return Response(
            bundle,
            media_type="application/zip",
            headers={"Content-Disposition": disposition, "Cache-Control": "private, no-store"},
        )


class StaffFiguresController(Controller):
    path = "/staff/newborn/programmes/{programme_id:int}/figures"
    tags = ["Staff: newborn programme"]
    security = BEARER

    @get("/enrolments", responses=problems(*_FIGURES, FiguresPeriodInvalid))
    async def enrolments(
        self,
        deps: Dependencies,
        staff: StaffUser,
        programme_id: RowId,
        from_month: Month = None,
        to_month: Month = None,
        limit: StaffLimit = 100,
        offset: Offset = 0,
    ) -> EnrolmentFigurePage:
        """Enrolments at my libraries by month and partner (the app as none), the latest month first; withdrawn ones
        still count. The months from `from_month` to `to_month` (default: the twelve to this one, 36 at most)."""
        period = _months(deps, from_month, to_month)
        found, total = await figures.enrolments(staff, programme_id, period, limit=limit, offset=offset)
        return Page.of([EnrolmentFigureOut.of(f) for f in found], total, limit, offset)

    @get("/packs", responses=problems(*_FIGURES, FiguresPeriodInvalid))
    async def packs(
        self,
        deps: Dependencies,
        staff: StaffUser,
        programme_id: RowId,
        from_month: Month = None,
        to_month: Month = None,
        limit: StaffLimit = 100,
        offset: Offset = 0,
    ) -> PackFigurePage:
        """Packs reserved, claimed, lapsed and given back at my libraries, by library and stage: from the pack ledger,
        within the months from `from_month` to `to_month` (default: the twelve to this one, 36 at most)."""
        period = _months(deps, from_month, to_month)
        found, total = await figures.packs(staff, programme_id, period, deps.network_time, limit=limit, offset=offset)
        return Page.of([PackFigureOut.of(f) for f in found], total, limit, offset)

    @get("/families", responses=problems(*_FIGURES))
    async def families(
        self, deps: Dependencies, staff: StaffUser, programme_id: RowId, limit: StaffLimit = 100, offset: Offset = 0
    ) -> FamilyFigurePage:
        """Families enrolled at each of my libraries, and how many were active in the last 90 days: borrowed on the
        child's card, logged a book read, or attended an event."""
        found, total = await figures.families(staff, programme_id, deps.clock.now(), limit=limit, offset=offset)
        return Page.of([FamilyFigureOut.of(f) for f in found], total, limit, offset)


def _months(deps: Dependencies, first: str | None, last: str | None) -> Months:
    today = deps.network_time.day(deps.clock.now())
    return figures.months(_first_day(first), _first_day(last), today)


def _first_day(month: str | None) -> date | None:
    return date.fromisoformat(f"{month}-01") if month else None
