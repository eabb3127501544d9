"""Events for tests: a published event at TL-A opening for booking at a known moment, and a door desk."""

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.accounts.models import Reader
from backend.events.models import Audience, Event, EventCategory, EventStatus
from backend.network.models import Library
from tests.integration.factories import LoggedIn, login_reader
from tests.integration.service import Service

# Booking opens on a Monday at 10:00 in Tongling; the event is that Saturday morning.
OPENS = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
STARTS = OPENS + timedelta(days=5)


async def make_event(**overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "library": await Library.get(code="TL-A"),
        "title": "阳光周末·绘本故事会",
        "category": EventCategory.PARENT_CHILD,
        "starts_at": STARTS,
        "ends_at": STARTS + timedelta(hours=2),
        "audience": Audience.EVERYONE,
        "capacity": 100,
        "waitlist_limit": 100,
        "booking_opens_at": OPENS,
        "booking_closes_at": STARTS - timedelta(hours=2),
        "cancel_until": STARTS - timedelta(days=1),
        "status": EventStatus.PUBLISHED,
        **overrides,
    }
    return await Event.create(**fields)


async def many_readers(count: int) -> list[Reader]:
    await Reader.bulk_create([Reader(card_number=f"8{i:011d}") for i in range(count)])
    return await Reader.filter(card_number__startswith="8").order_by("id")


async def at(service: Service, moment: datetime, *readers: LoggedIn) -> list[LoggedIn]:
    """Move the service's clock to `moment`; access tokens last minutes, so the readers log in again then."""
    service.clock.freeze_at(moment)
    return [await login_reader(service, reader.openid) for reader in readers]
