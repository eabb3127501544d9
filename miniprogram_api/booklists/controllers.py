"""Reading lists (书单): readers browse the published ones near them; staff make, publish, retire and push them."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import Parameter

from backend.accounts.errors import ReaderOnly, TokenExpired, TokenInvalid
from backend.accounts.models import Reader, StaffUser
from backend.booklists import services
from backend.booklists.errors import (
    BooklistAudienceInvalid,
    BooklistEmpty,
    BooklistEntryNotFound,
    BooklistNotFound,
    BooklistNotPublished,
    BooklistPushNotFound,
    BooklistRecordRepeated,
    BooklistRetired,
    BooklistTooLong,
)
from backend.booklists.models import BooklistAudience, BooklistStatus
from backend.booklists.services import MAX_AGE_MONTHS, BrowseQuery
from backend.catalog.errors import RecordNotFound
from backend.network.errors import LibraryNotFound, OutsideScope
from entrypoints.bootstrap import Dependencies
from miniprogram_api.booklists.schemas import (
    BooklistEntryPage,
    BooklistIn,
    BooklistOut,
    BooklistPage,
    BooklistPushPage,
    EntriesIn,
    EntryIn,
    EntryOut,
    NewBooklistIn,
    PushIn,
    PushOut,
    PushPreviewIn,
    PushPreviewOut,
    PushReportOut,
)
from miniprogram_api.deps import BEARER, OPTIONAL_BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.network.schemas import CODE_PATTERN
from miniprogram_api.schemas import Latitude, Longitude, Offset, Page, ReaderLimit, RowId, StaffLimit, matching_param
from notifications import broadcasts
from notifications.errors import IdempotencyKeyReused

_LIST = (*STAFF_PROBLEMS, BooklistNotFound, OutsideScope)
_CHANGE = (*_LIST, BooklistRetired)
_PUSH = (*STAFF_PROBLEMS, BooklistNotFound, BooklistNotPublished, OutsideScope)


class BooklistController(Controller):
    path = "/booklists"
    tags = ["Reading lists"]

    @get("/", responses=problems(LibraryNotFound))
    async def browse(
        self,
        library: Annotated[str | None, matching_param(CODE_PATTERN, "Meant for this library's readers")] = None,
        lat: Latitude = None,
        lng: Longitude = None,
        radius_m: Annotated[float, Parameter(gt=0, le=50_000, description="Libraries this near")] = 5000,
        age_months: Annotated[
            int | None, Parameter(ge=0, le=MAX_AGE_MONTHS, description="For a child this old")
        ] = None,
        audience: BooklistAudience | None = None,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> BooklistPage:
        """Published reading lists, newest first: meant for a library's readers, for the libraries near a point (with
        lat and lng), for an audience or a child of an age. Without a library or a point, every published list."""
        query = BrowseQuery(
            library_code=library,
            near=(lat, lng) if lat is not None and lng is not None else None,
            radius_m=radius_m,
            age_months=age_months,
            audience=audience,
            limit=limit,
            offset=offset,
        )
        found, total = await services.browse(query)
        return Page.of([BooklistOut.of(v) for v in found], total, limit, offset)

    @get(
        "/{booklist_id:int}",
        responses=problems(TokenInvalid, TokenExpired, ReaderOnly, BooklistNotFound),
        security=OPTIONAL_BEARER,
    )
    async def detail(self, deps: Dependencies, viewer: Reader | None, booklist_id: RowId) -> BooklistOut:
        """A published reading list; no login needed (a shared link). With a reader's token, the opening is counted
        for the list and for the pushes that told the reader of it."""
        return BooklistOut.of(await services.open_list(booklist_id, viewer, deps.clock.now()))

    @get("/{booklist_id:int}/records", responses=problems(BooklistNotFound))
    async def records(
        self,
        booklist_id: RowId,
        lat: Latitude = None,
        lng: Longitude = None,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> BooklistEntryPage:
        """A published list's books in the curator's order: each with its note, copies on the shelf network-wide and,
        with lat and lng, the nearest library with one."""
        found, total = await services.listed(booklist_id, lat, lng, limit=limit, offset=offset)
        return Page.of([EntryOut.of(listed) for listed in found], total, limit, offset)


class StaffBooklistController(Controller):
    path = "/staff/booklists"
    tags = ["Staff: reading lists"]
    security = BEARER

    @post("/", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope, BooklistAudienceInvalid))
    async def create(self, deps: Dependencies, staff: StaffUser, data: NewBooklistIn) -> BooklistOut:
        """A draft reading list of one of my libraries; readers see it once it has books and is published."""
        made = await services.create(staff, data.library_code, data.draft(), deps.clock.now())
        return BooklistOut.of(made)

    @get("/", responses=problems(*STAFF_PROBLEMS))
    async def mine(
        self, staff: StaffUser, status: BooklistStatus | None = None, limit: StaffLimit = 50, offset: Offset = 0
    ) -> BooklistPage:
        """The reading lists of my libraries and below (any status, or one), most recently changed first."""
        found, total = await services.staff_lists(staff, status, limit=limit, offset=offset)
        return Page.of([BooklistOut.of(v) for v in found], total, limit, offset)

    @get("/{booklist_id:int}", responses=problems(*_LIST))
    async def detail(self, staff: StaffUser, booklist_id: RowId) -> BooklistOut:
        """One of my libraries' reading lists, drafts and retired ones included."""
        return BooklistOut.of(await services.staff_view(staff, booklist_id))

    @put("/{booklist_id:int}", responses=problems(*_CHANGE, LibraryNotFound, BooklistAudienceInvalid))
    async def update(self, deps: Dependencies, staff: StaffUser, booklist_id: RowId, data: BooklistIn) -> BooklistOut:
        """Change a list's title, description, cover and audience (its library stays); readers see it at once."""
        return BooklistOut.of(await services.update(staff, booklist_id, data.draft(), deps.clock.now()))

    @get("/{booklist_id:int}/records", responses=problems(*_LIST))
    async def records(
        self, staff: StaffUser, booklist_id: RowId, limit: StaffLimit = 100, offset: Offset = 0
    ) -> BooklistEntryPage:
        """A list's books in their order, each with its note and copies on the shelf."""
        found, total = await services.staff_entries(staff, booklist_id, limit=limit, offset=offset)
        return Page.of([EntryOut.of(listed) for listed in found], total, limit, offset)

    @put(
        "/{booklist_id:int}/records",
        responses=problems(*_CHANGE, RecordNotFound, BooklistTooLong, BooklistRecordRepeated, BooklistEmpty),
    )
    async def set_records(
        self, deps: Dependencies, staff: StaffUser, booklist_id: RowId, data: EntriesIn
    ) -> BooklistOut:
        """Set the list's books, in order, each with its note: adds, removes and reorders in one step."""
        return BooklistOut.of(await services.set_records(staff, booklist_id, data.chosen(), deps.clock.now()))

    @post("/{booklist_id:int}/records", responses=problems(*_CHANGE, RecordNotFound, BooklistTooLong))
    async def add_record(self, deps: Dependencies, staff: StaffUser, booklist_id: RowId, data: EntryIn) -> BooklistOut:
        """Add a book at the end of the list (or change its note when it is on the list already)."""
        made = await services.add_record(staff, booklist_id, data.record_id, data.note, deps.clock.now())
        return BooklistOut.of(made)

    @delete(
        "/{booklist_id:int}/records/{record_id:int}",
        status_code=200,
        responses=problems(*_CHANGE, BooklistEntryNotFound, BooklistEmpty),
    )
    async def remove_record(
        self, deps: Dependencies, staff: StaffUser, booklist_id: RowId, record_id: RowId
    ) -> BooklistOut:
        """Take a book off the list (a published list keeps at least one)."""
        return BooklistOut.of(await services.remove_record(staff, booklist_id, record_id, deps.clock.now()))

    @post("/{booklist_id:int}/publish", status_code=200, responses=problems(*_CHANGE, BooklistEmpty))
    async def publish(self, deps: Dependencies, staff: StaffUser, booklist_id: RowId) -> BooklistOut:
        """Show the list to readers of its audience."""
        return BooklistOut.of(await services.publish(staff, booklist_id, deps.clock.now()))

    @post("/{booklist_id:int}/retire", status_code=200, responses=problems(*_LIST))
    async def retire(self, deps: Dependencies, staff: StaffUser, booklist_id: RowId) -> BooklistOut:
        """Take the list away from readers for good; its pushes' reports stay."""
        return BooklistOut.of(await services.retire(staff, booklist_id, deps.clock.now()))

    @post("/{booklist_id:int}/push-preview", status_code=200, responses=problems(*_PUSH))
    async def preview_push(
        self, deps: Dependencies, staff: StaffUser, booklist_id: RowId, data: PushPreviewIn
    ) -> PushPreviewOut:
        """Preview a list's push: the message as readers will see it and how many readers of its audience in my
        libraries it would reach; nothing is sent."""
        today = deps.network_time.day(deps.clock.now())
        shown = await broadcasts.preview_list(staff, booklist_id, data.title, data.body, today, deps.templates)
        return PushPreviewOut.of(shown)

    @post("/{booklist_id:int}/pushes", responses=problems(*_PUSH, IdempotencyKeyReused))
    async def push(self, deps: Dependencies, staff: StaffUser, booklist_id: RowId, data: PushIn) -> PushOut:
        """Push a published list to its audience in my libraries (readers of its libraries and age band; a child's
        guardian for the child) as a staff message that opens the list. Sent again with the same `idempotency_key`, it
        answers with the first push: each reader is told once."""
        now = deps.clock.now()
        today = deps.network_time.day(now)
        pushed = await broadcasts.push_list(staff, booklist_id, data.title, data.body, now, today, data.idempotency_key)
        return PushOut.of(pushed)

    @get("/{booklist_id:int}/pushes", responses=problems(*STAFF_PROBLEMS, BooklistNotFound))
    async def pushes(
        self, staff: StaffUser, booklist_id: RowId, limit: StaffLimit = 50, offset: Offset = 0
    ) -> BooklistPushPage:
        """A list's pushes by my libraries and below, newest first."""
        found, total = await services.pushes(staff, booklist_id, limit=limit, offset=offset)
        return Page.of([PushOut.of(p) for p in found], total, limit, offset)

    @get(
        "/{booklist_id:int}/pushes/{push_id:int}",
        responses=problems(*STAFF_PROBLEMS, BooklistPushNotFound, OutsideScope),
    )
    async def report(self, staff: StaffUser, booklist_id: RowId, push_id: RowId) -> PushReportOut:
        """A push's report: deliveries by outcome, and the readers told who opened the list, placed a hold on or
        borrowed a listed book within 30 days of it."""
        return PushReportOut.of(*await broadcasts.list_push_report(staff, booklist_id, push_id))
