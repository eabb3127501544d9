"""The composition root: builds what the API and the worker share."""

from __future__ import annotations

from backend.catalog import search
from backend.circulation.domain_events import CopyMoved
from backend.eventbus import EventBus
from notifications import subscribers as notices


async def _refresh_search_row(event: CopyMoved) -> None:
    await search.refresh_holdings([event.record_id])  # where readers find the title, or whether they still do


def event_bus() -> EventBus:
    """Every area's handlers of the others' domain events."""
    bus = EventBus()
    bus.subscribe(CopyMoved, _refresh_search_row)
    notices.subscribe(bus)
    return bus
