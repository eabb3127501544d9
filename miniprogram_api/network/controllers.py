"""Public endpoints of the network map: no login needed to find a library."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from backend.network import services
from backend.network.errors import LibraryNotFound
from backend.network.models import LibraryLevel, LibraryService
from entrypoints.bootstrap import Dependencies
from miniprogram_api.errors import problems
from miniprogram_api.network.schemas import CODE_PATTERN, LibraryCodeParam, LibraryOut, LibraryPage
from miniprogram_api.schemas import Offset, Page, ReaderLimit, StaffLimit, matching_param, text_param


class LibraryController(Controller):
    path = "/libraries"
    tags = ["Libraries"]

    @get("/", responses=problems(LibraryNotFound))
    async def list_libraries(
        self,
        deps: Dependencies,
        level: LibraryLevel | None = None,
        service: LibraryService | None = None,
        within: Annotated[str | None, matching_param(CODE_PATTERN, "List this library's sub-tree")] = None,
        q: Annotated[str | None, text_param(50, "Part of a name or address")] = None,
        open_now: Annotated[bool, Parameter(description="Only the libraries open at this moment")] = False,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> LibraryPage:
        """Libraries of the network: filtered by level, service offered, part of the network, or open now."""
        now = deps.clock.now()
        found, total = await services.list_libraries(
            level=level,
            service=service,
            within=within,
            query=q,
            open_at=now if open_now else None,
            limit=limit,
            offset=offset,
        )
        return Page.of([LibraryOut.of(lib, now) for lib in found], total, limit, offset)

    @get("/nearby", responses=problems())
    async def nearby(
        self,
        deps: Dependencies,
        lat: Annotated[float, Parameter(ge=-90, le=90)],
        lng: Annotated[float, Parameter(ge=-180, le=180)],
        limit: ReaderLimit = 10,
        offset: Offset = 0,
        radius_m: Annotated[float | None, Parameter(gt=0, le=500_000)] = None,
        service: LibraryService | None = None,
    ) -> LibraryPage:
        """The nearest libraries to a point, nearest first, with distances (the ten-minute reading circle). Without
        `radius_m` the circle widens (2, 10, 50, 300 km) until it holds the page asked for, and `total` counts the
        libraries in the circle searched."""
        found, total = await services.nearest_libraries(
            lat, lng, limit=limit, offset=offset, radius_m=radius_m, service=service
        )
        now = deps.clock.now()
        return Page.of([LibraryOut.of(lib, now, distance) for lib, distance in found], total, limit, offset)

    @get("/{code:str}", responses=problems(LibraryNotFound))
    async def detail(self, deps: Dependencies, code: LibraryCodeParam) -> LibraryOut:
        """One library, with whether it is open now in its own time zone and today's hours."""
        library = await services.get_library(code)
        return LibraryOut.of(library, deps.clock.now())
