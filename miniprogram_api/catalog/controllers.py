"""Public catalogue endpoints: no login needed to see what the network holds."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.params import Parameter

from backend.accounts.models import StaffUser
from backend.catalog import cataloguing, search, services
from backend.catalog.errors import (
    BarcodeTaken,
    CopyInCirculation,
    CopyNotFound,
    InvalidIsbn,
    RecordIsbnTaken,
    RecordNotFound,
    RecordTitleRequired,
)
from backend.catalog.models import ItemType
from backend.catalog.search import Sort
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.ratelimits import Kind, RateLimited
from miniprogram_api.catalog.schemas import (
    BARCODE_PATTERN,
    CopyIn,
    MoveIn,
    RecordIn,
    RecordOut,
    SearchOut,
    StaffCopyOut,
)
from miniprogram_api.deps import BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.limits import rate_limited
from miniprogram_api.schemas import RowId, matching_param, page_size, text_param

BarcodeParam = Annotated[str, matching_param(BARCODE_PATTERN)]


class RecordController(Controller):
    path = "/records"
    tags = ["Catalogue"]

    @get("/", responses=problems(InvalidIsbn, LibraryNotFound, RateLimited), guards=[rate_limited(Kind.SEARCH)])
    async def search(
        self,
        q: Annotated[str, text_param(200, "Words, pinyin, initials or an ISBN")] = "",
        author: Annotated[str, text_param(100)] = "",
        clc: Annotated[str, matching_param(r"[A-Za-z0-9.:/-]{0,20}", "CLC class prefix")] = "",
        year_from: Annotated[int | None, Parameter(ge=0, le=9999)] = None,
        year_to: Annotated[int | None, Parameter(ge=0, le=9999)] = None,
        language: Annotated[str, matching_param(r"[a-z]{0,8}")] = "",
        item_type: ItemType | None = None,
        library: Annotated[str, matching_param(r"[A-Za-z0-9_-]{0,32}", "Only copies here")] = "",
        age: Annotated[int | None, Parameter(ge=0, le=18, description="Children's books for this age")] = None,
        within_m: Annotated[
            float | None, Parameter(gt=0, le=50_000, description="With lat/lng: on the shelf at a library this close")
        ] = None,
        sort: Sort = Sort.RELEVANCE,
        limit: Annotated[int, page_size(50)] = 20,
        offset: Annotated[int, Parameter(ge=0, le=search.CONSIDERED)] = 0,
        lat: Annotated[float | None, Parameter(ge=-90, le=90, description="Reader's position, for distances")] = None,
        lng: Annotated[float | None, Parameter(ge=-180, le=180)] = None,
    ) -> SearchOut:
        """Search the whole network's catalogue: Chinese or English words, pinyin or its initials (the last word
        may be unfinished), or an ISBN in any form; with filters, facet counts and availability per record."""
        result = await search.search(
            search.SearchQuery(
                text=q,
                author=author,
                clc_prefix=clc,
                year_from=year_from,
                year_to=year_to,
                language=language,
                item_type=item_type,
                library_code=library,
                audience_age=age,
                available_within_m=within_m,
                sort=sort,
                limit=limit,
                offset=offset,
                latitude=lat,
                longitude=lng,
            )
        )
        return SearchOut.of(result, limit, offset)

    @get("/{record_id:int}", responses=problems(RecordNotFound))
    async def detail(
        self,
        record_id: RowId,
        lat: Annotated[float | None, Parameter(ge=-90, le=90, description="Reader's position, for distances")] = None,
        lng: Annotated[float | None, Parameter(ge=-180, le=180)] = None,
    ) -> RecordOut:
        """A record with every copy in the network, grouped by library: available ones and the nearest first."""
        record, holdings = await services.record_with_holdings(record_id, latitude=lat, longitude=lng)
        return RecordOut.of(record, holdings)


class StaffCatalogueController(Controller):
    path = "/staff"
    tags = ["Staff: catalogue"]
    security = BEARER

    @post("/records", responses=problems(*STAFF_PROBLEMS, RecordTitleRequired, RecordIsbnTaken, InvalidIsbn))
    async def add_record(self, staff: StaffUser, data: RecordIn) -> RecordOut:
        """Catalogue a new title for the whole network (联合编目); its copies are added separately."""
        record = await cataloguing.add_record(data.draft())
        return RecordOut.of(*await services.record_with_holdings(record.id))

    @patch(
        "/records/{record_id:int}", responses=problems(*STAFF_PROBLEMS, RecordNotFound, RecordIsbnTaken, InvalidIsbn)
    )
    async def correct_record(self, staff: StaffUser, record_id: RowId, data: RecordIn) -> RecordOut:
        """Correct a record's bibliographic fields."""
        await cataloguing.correct_record(record_id, data.draft())
        return RecordOut.of(*await services.record_with_holdings(record_id))

    @post("/copies", responses=problems(*STAFF_PROBLEMS, RecordNotFound, LibraryNotFound, OutsideScope, BarcodeTaken))
    async def add_copy(self, staff: StaffUser, data: CopyIn) -> StaffCopyOut:
        """Add a barcoded copy of a record to a library in the caller's scope."""
        copy = await cataloguing.add_copy(
            data.record_id,
            barcode=data.barcode,
            library_code=data.library_code,
            shelf_location=data.shelf_location,
            item_type=data.item_type,
            floating=data.floating,
            scope_path=staff.library.path,
        )
        return StaffCopyOut.of(copy)

    @post(
        "/copies/{barcode:str}/move",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, CopyNotFound, LibraryNotFound, OutsideScope, CopyInCirculation),
    )
    async def move_copy(self, staff: StaffUser, barcode: BarcodeParam, data: MoveIn) -> StaffCopyOut:
        """Transfer a copy from a library in the caller's scope to any library of the network."""
        return StaffCopyOut.of(await cataloguing.move_copy(barcode, data.library_code, scope_path=staff.library.path))

    @post(
        "/copies/{barcode:str}/withdraw",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, CopyNotFound, OutsideScope, CopyInCirculation),
    )
    async def withdraw_copy(self, staff: StaffUser, barcode: BarcodeParam) -> StaffCopyOut:
        """Take a copy out of the collection; readers no longer see it."""
        return StaffCopyOut.of(await cataloguing.withdraw_copy(barcode, scope_path=staff.library.path))
