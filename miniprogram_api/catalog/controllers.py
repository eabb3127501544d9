"""Public catalogue endpoints: no login needed to see what the network holds."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from backend.catalog import services
from backend.catalog.errors import RecordNotFound
from miniprogram_api.catalog.schemas import RecordOut
from miniprogram_api.errors import problems
from miniprogram_api.schemas import RowId


class RecordController(Controller):
    path = "/records"
    tags = ["Catalogue"]

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
