"""Public catalogue endpoints: no login needed to see what the network holds."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from backend.catalog import search, services
from backend.catalog.errors import InvalidIsbn, RecordNotFound
from backend.catalog.models import ItemType
from backend.catalog.search import Sort
from backend.network.errors import LibraryNotFound
from miniprogram_api.catalog.schemas import RecordOut, SearchOut
from miniprogram_api.errors import problems
from miniprogram_api.schemas import RowId


class RecordController(Controller):
    path = "/records"
    tags = ["Catalogue"]

    @get("/", responses=problems(InvalidIsbn, LibraryNotFound))
    async def search(
        self,
        q: Annotated[str, Parameter(max_length=200, description="Words, pinyin, initials or an ISBN")] = "",
        author: Annotated[str, Parameter(max_length=100)] = "",
        clc: Annotated[
            str, Parameter(max_length=20, pattern=r"^[A-Za-z0-9.:/-]*$", description="CLC class prefix")
        ] = "",
        year_from: Annotated[int | None, Parameter(ge=0, le=9999)] = None,
        year_to: Annotated[int | None, Parameter(ge=0, le=9999)] = None,
        language: Annotated[str, Parameter(max_length=8, pattern=r"^[a-z]*$")] = "",
        item_type: ItemType | None = None,
        library: Annotated[str, Parameter(pattern=r"^[A-Za-z0-9_-]{0,32}$", description="Only copies here")] = "",
        sort: Sort = Sort.RELEVANCE,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
        offset: Annotated[int, Parameter(ge=0, le=10_000)] = 0,
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
