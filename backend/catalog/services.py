"""Reading the union catalogue: a record with every copy in the network, grouped by the library it is at."""

from __future__ import annotations

from dataclasses import dataclass

from backend.catalog.errors import RecordNotFound
from backend.catalog.models import Copy, CopyStatus, Record
from backend.network import geo
from backend.network.models import Library


@dataclass(frozen=True, slots=True)
class Holding:
    """The copies of one record at one library, as a reader choosing where to go sees them."""

    library: Library
    copies: list[Copy]
    distance_m: float | None

    @property
    def available(self) -> int:
        return sum(copy.status is CopyStatus.AVAILABLE for copy in self.copies)


async def record_with_holdings(
    record_id: int, *, latitude: float | None = None, longitude: float | None = None
) -> tuple[Record, list[Holding]]:
    """A record and its holdings: libraries with a copy available first, then the nearest (when the reader sent a
    location), then by name. Withdrawn copies are no longer part of the collection and are left out."""
    record = await Record.get_or_none(id=record_id)
    if record is None:
        raise RecordNotFound()
    copies = (
        await Copy.filter(record_id=record_id)
        .exclude(status=CopyStatus.WITHDRAWN)
        .select_related("current_library")
        .order_by("barcode")
    )
    by_library: dict[int, list[Copy]] = {}
    for copy in copies:
        by_library.setdefault(copy.current_library.id, []).append(copy)
    holdings = [
        Holding(
            library=group[0].current_library,
            copies=group,
            distance_m=None
            if latitude is None or longitude is None
            else geo.distance_m(
                latitude, longitude, group[0].current_library.latitude, group[0].current_library.longitude
            ),
        )
        for group in by_library.values()
    ]
    holdings.sort(key=lambda h: (h.available == 0, h.distance_m or 0.0, h.library.name))
    return record, holdings
