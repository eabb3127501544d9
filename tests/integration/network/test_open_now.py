from datetime import UTC, datetime
from typing import Any

from backend.network.models import LibraryLevel, LibraryService
from backend.network.services import NETWORK_ROOT, LibraryDraft, create_library
from tests.integration.factories import CLOSED_MONDAYS_9_TO_17, ROUND_THE_CLOCK, build_network
from tests.integration.service import Service

# Asia/Shanghai is UTC+8 all year, Asia/Urumqi UTC+6.
TUESDAY_NOON_SHANGHAI = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 10:00 in Urumqi
MONDAY_10_00_SHANGHAI = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TUESDAY_03_00_SHANGHAI = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
TUESDAY_17_30_SHANGHAI = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # 15:30 in Urumqi

EVERY_LIBRARY = ["TL", "TL-A", "TL-A-1", "TL-B", "TL-B-1", "TL-SC1", "TL-SS1", "TL-XJ"]


async def add_libraries() -> None:
    """A 24-hour self-service library, and a reading room keeping 9 to 17 on Urumqi's clock."""
    for code, level, timezone, weekly in (
        ("TL-SS1", LibraryLevel.SELF_SERVICE, "Asia/Shanghai", ROUND_THE_CLOCK),
        ("TL-XJ", LibraryLevel.BRANCH, "Asia/Urumqi", CLOSED_MONDAYS_9_TO_17),
    ):
        draft = LibraryDraft(
            code=code,
            name=f"{code} 阅览室",
            level=level,
            parent_code="TL",
            latitude=30.95,
            longitude=117.81,
            timezone=timezone,
            opening_hours=weekly,
            services=[LibraryService.LENDING],
        )
        await create_library(draft, scope_path=NETWORK_ROOT)


async def open_now(service: Service, **params: Any) -> dict[str, Any]:
    response = await service.client.get("/libraries", params={"open_now": "true", **params})
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def codes(page: dict[str, Any]) -> list[str]:
    return [library["code"] for library in page["items"]]


async def test_open_now_lists_only_the_libraries_open_on_their_own_clock(service: Service) -> None:
    await build_network()
    await add_libraries()

    service.clock.freeze_at(TUESDAY_NOON_SHANGHAI)
    tuesday_noon = await open_now(service)
    service.clock.freeze_at(MONDAY_10_00_SHANGHAI)
    monday = await open_now(service)
    service.clock.freeze_at(TUESDAY_03_00_SHANGHAI)
    night = await open_now(service)
    service.clock.freeze_at(TUESDAY_17_30_SHANGHAI)
    evening = await open_now(service)
    everything = (await service.client.get("/libraries")).json()

    assert sorted(codes(tuesday_noon)) == EVERY_LIBRARY and tuesday_noon["total"] == 8
    assert sorted(codes(monday)) == ["TL-SC1", "TL-SS1"]  # closed on Mondays but for the round-the-clock ones
    assert sorted(codes(night)) == ["TL-SC1", "TL-SS1"]
    assert sorted(codes(evening)) == ["TL-SC1", "TL-SS1", "TL-XJ"]  # 15:30 in Urumqi
    assert all(library["open_now"] for page in (tuesday_noon, monday, night, evening) for library in page["items"])
    assert everything["total"] == 8  # without the filter, closed libraries are listed too


async def test_open_now_counts_and_pages_only_the_open_libraries(service: Service) -> None:
    await build_network()
    await add_libraries()
    service.clock.freeze_at(TUESDAY_17_30_SHANGHAI)

    first = await open_now(service, limit=2)
    second = await open_now(service, limit=2, offset=2)
    lending_in_the_county = await open_now(service, within="TL-B")

    assert (first["total"], second["total"]) == (3, 3)
    assert sorted(codes(first) + codes(second)) == ["TL-SC1", "TL-SS1", "TL-XJ"] and len(codes(first)) == 2
    assert (lending_in_the_county["total"], codes(lending_in_the_county)) == (0, [])
