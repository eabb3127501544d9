"""Reading recommendations: my picks (and each child card's) with their reasons, the switch that turns personal
picks off, and a record's "readers who borrowed this also borrowed"."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, put
from litestar.di import Provide
from litestar.params import Parameter

from backend.accounts.models import Reader
from backend.catalog import search
from backend.catalog.errors import RecordNotFound
from backend.network.errors import LibraryNotFound
from entrypoints.bootstrap import Dependencies
from miniprogram_api.catalog.schemas import RecordSummaryOut
from miniprogram_api.deps import BEARER, HOLDER_PROBLEMS, provide_child, provide_self
from miniprogram_api.errors import language_of, problems
from miniprogram_api.network.schemas import CODE_PATTERN
from miniprogram_api.recommendations.schemas import (
    AlsoBorrowedPage,
    ArrivalOut,
    ArrivalPage,
    RecommendationOut,
    RecommendationPage,
    RecommendationSettingsIn,
    RecommendationSettingsOut,
)
from miniprogram_api.schemas import Latitude, Longitude, Offset, Page, ReaderLimit, RowId, matching_param
from recommendations import arrivals, consent, serving
from recommendations.errors import PlaceInvalid
from recommendations.store import PickStore

ArrivalDays = Annotated[int, Parameter(ge=1, le=90, description="Copies added in the last this many days, 1 to 90")]
AvailableAt = Annotated[str | None, matching_param(CODE_PATTERN, "Only books on this library's shelves now")]
WithinM = Annotated[
    float | None,
    Parameter(gt=0, le=50_000, description="With lat/lng: only books on the shelf at a library this close"),
]


class RecommendationController(Controller):
    path = "/readers/me"
    tags = ["Recommendations"]
    security = BEARER
    dependencies = {"holder": Provide(provide_self)}

    @get("/recommendations", responses=problems(*HOLDER_PROBLEMS, LibraryNotFound, PlaceInvalid))
    async def recommendations(
        self,
        deps: Dependencies,
        holder: Reader,
        request: Request[Any, Any, Any],
        library: AvailableAt = None,
        lat: Latitude = None,
        lng: Longitude = None,
        within_m: WithinM = None,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> RecommendationPage:
        """Books for me, each with why: my personal picks, or what is popular lately when they are off or not ready;
        never what I have on loan or in my kept reading history. With my position, the nearest library with each on
        the shelf; with a distance too, only books on the shelf that near (or, with a library's code, there)."""
        now = deps.clock.now()
        found = await serving.recommendations_for(
            holder,
            PickStore(deps.redis),
            deps.jobs,
            now,
            deps.network_time.day(now),
            lists=deps.popular_lists,
            available_at=library,
            near=serving.near_of(lat, lng, within_m, library),
            limit=limit,
            offset=offset,
        )
        language = language_of(request)
        items = [RecommendationOut.of(r, found.titles, language) for r in found.items]
        return RecommendationPage.of(items, found.total, limit, offset, personal=found.personal)

    @get("/new-arrivals", responses=problems(*HOLDER_PROBLEMS))
    async def new_arrivals(
        self,
        deps: Dependencies,
        holder: Reader,
        request: Request[Any, Any, Any],
        days: ArrivalDays = 30,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> ArrivalPage:
        """New arrivals at my libraries: books added lately at my home library and where I borrowed this year, the
        ones like what I read first (each with why), newest first when my personal picks are off."""
        found = await arrivals.new_arrivals_for(holder, deps.clock.now(), days=days, limit=limit, offset=offset)
        hits = await search.availability([a.record for a in found.items], None, None)
        language = language_of(request)
        items = [ArrivalOut.of(hit, a, found.titles, language) for hit, a in zip(hits, found.items, strict=True)]
        return ArrivalPage.of(items, found.total, limit, offset, personal=found.personal)

    @get("/recommendation-settings", responses=problems(*HOLDER_PROBLEMS))
    async def settings(self, holder: Reader) -> RecommendationSettingsOut:
        """Whether I get personal picks (on unless I switched them off; a child's card: off until its guardian
        switches them on)."""
        return RecommendationSettingsOut(await consent.personal_on(holder))

    @put("/recommendation-settings", responses=problems(*HOLDER_PROBLEMS))
    async def change_settings(
        self, deps: Dependencies, holder: Reader, data: RecommendationSettingsIn
    ) -> RecommendationSettingsOut:
        """Switch personal picks on or off at any time; off deletes my recommendation profile and my loans stop
        feeding personal models."""
        await consent.set_personal(holder, data.personal, deps.clock.now(), PickStore(deps.redis), deps.jobs)
        return RecommendationSettingsOut(data.personal)


class ChildRecommendationController(RecommendationController):
    """A child's picks, from the child's card's loans and children's lists only, and the guardian's switch for them."""

    path = "/readers/me/children/{child_id:int}"
    tags = ["Recommendations"]
    dependencies = {"holder": Provide(provide_child)}


class AlsoBorrowedController(Controller):
    path = "/records"
    tags = ["Recommendations"]

    @get("/{record_id:int}/also-borrowed", responses=problems(RecordNotFound))
    async def also_borrowed(
        self, deps: Dependencies, record_id: RowId, limit: ReaderLimit = 10, offset: Offset = 0
    ) -> AlsoBorrowedPage:
        """Readers who borrowed this book also borrowed these; no login needed."""
        hits, total = await serving.also_borrowed(PickStore(deps.redis), record_id, limit=limit, offset=offset)
        return Page.of([RecordSummaryOut.of(hit) for hit in hits], total, limit, offset)
