from datetime import UTC, datetime

from backend.network.models import Library, LibraryLevel, LibraryService
from backend.network.services import NETWORK_ROOT, LibraryDraft, create_library
from tests.integration.factories import ROUND_THE_CLOCK, SMALL_NETWORK, build_network
from tests.integration.service import Service

# Asia/Shanghai is UTC+8 all year.
TUESDAY_10_00_SHANGHAI = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
MONDAY_10_00_SHANGHAI = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
TUESDAY_17_30_SHANGHAI = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


async def test_libraries_filter_by_level_service_and_part_of_the_network(service: Service) -> None:
    await build_network()

    everything = (await service.client.get("/libraries")).json()
    mains = (await service.client.get("/libraries", params={"level": "main"})).json()
    pickup = (await service.client.get("/libraries", params={"service": "holds_pickup"})).json()
    under_a = (await service.client.get("/libraries", params={"within": "TL-A"})).json()
    by_name = (await service.client.get("/libraries", params={"q": "枞阳"})).json()

    assert everything["total"] == 6
    assert sorted(lib["code"] for lib in mains["items"]) == ["TL-A", "TL-B"]
    assert sorted(lib["code"] for lib in pickup["items"]) == ["TL", "TL-A", "TL-A-1", "TL-B"]
    assert sorted(lib["code"] for lib in under_a["items"]) == ["TL-A", "TL-A-1", "TL-SC1"]
    assert sorted(lib["code"] for lib in by_name["items"]) == ["TL-B", "TL-B-1"]


async def test_pages_are_stable_and_complete(service: Service) -> None:
    await build_network()

    pages = [(await service.client.get("/libraries", params={"limit": 4, "offset": o})).json() for o in (0, 4)]

    codes = [lib["code"] for page in pages for lib in page["items"]]
    assert len(codes) == 6 and len(set(codes)) == 6


async def test_nearest_libraries_come_nearest_first_with_distances(service: Service) -> None:
    await build_network()
    # Standing in 人民公园, next to the swap cabinet and a few hundred metres from the central library.
    near = (await service.client.get("/libraries/nearby", params={"lat": 30.9458, "lng": 117.8131, "limit": 3})).json()[
        "items"
    ]

    assert [lib["code"] for lib in near] == ["TL-SC1", "TL", "TL-A-1"]
    assert near[0]["distance_m"] < 50 < near[1]["distance_m"] < near[2]["distance_m"]

    in_town = (
        await service.client.get("/libraries/nearby", params={"lat": 30.9458, "lng": 117.8131, "radius_m": 5000})
    ).json()["items"]
    assert "TL-B" not in {lib["code"] for lib in in_town}  # the county library is ~60 km away
    pickup = (
        await service.client.get("/libraries/nearby", params={"lat": 30.70, "lng": 117.22, "service": "holds_pickup"})
    ).json()["items"]
    assert pickup[0]["code"] == "TL-B"


async def test_walking_the_nearby_pages_visits_every_library_once_whatever_the_page_size(service: Service) -> None:
    await build_network()
    at_the_central_library = {"lat": 30.9450, "lng": 117.8120}

    for limit in range(1, len(SMALL_NETWORK) + 1):
        codes, offset = [], 0
        while offset is not None:
            params = {**at_the_central_library, "limit": limit, "offset": offset}
            page = (await service.client.get("/libraries/nearby", params=params)).json()
            codes += [lib["code"] for lib in page["items"]]
            offset = page["next_offset"]
        assert sorted(codes) == sorted(code for code, *_ in SMALL_NETWORK), limit


async def test_libraries_at_one_distance_keep_their_order_from_page_to_page(service: Service) -> None:
    await build_network()
    cabinet = await Library.get(code="TL-SC1")
    await create_library(
        LibraryDraft(
            code="TL-SC2",
            name="同址书巢",
            level=LibraryLevel.SWAP_CABINET,
            parent_code="TL-A",
            latitude=cabinet.latitude,
            longitude=cabinet.longitude,
            opening_hours=ROUND_THE_CLOCK,
            services=[LibraryService.LENDING],
        ),
        scope_path=NETWORK_ROOT,
    )
    # A staff edit that saves the same place again: the row's new version comes after the other in the table.
    await Library.filter(code="TL-SC1").update(latitude=cabinet.latitude + 1e-6)
    await Library.filter(code="TL-SC1").update(latitude=cabinet.latitude)

    at = {"lat": cabinet.latitude, "lng": cabinet.longitude, "limit": 1}
    first = (await service.client.get("/libraries/nearby", params=at)).json()["items"]
    second = (await service.client.get("/libraries/nearby", params={**at, "offset": 1})).json()["items"]

    assert [lib["code"] for lib in first + second] == ["TL-SC1", "TL-SC2"]  # the older first, each once


async def test_open_now_follows_the_library_clock(service: Service) -> None:
    await build_network()

    service.clock.freeze_at(TUESDAY_10_00_SHANGHAI)
    tuesday = (await service.client.get("/libraries/TL-A")).json()
    service.clock.freeze_at(MONDAY_10_00_SHANGHAI)
    monday = (await service.client.get("/libraries/TL-A")).json()
    cabinet = (await service.client.get("/libraries/TL-SC1")).json()
    service.clock.freeze_at(TUESDAY_17_30_SHANGHAI)
    evening = (await service.client.get("/libraries/TL-A")).json()

    assert tuesday["open_now"] is True and tuesday["hours_today"] == [["09:00", "17:00"]]
    assert monday["open_now"] is False and monday["hours_today"] == []
    assert cabinet["open_now"] is True
    assert evening["open_now"] is False


async def test_unknown_libraries_and_bad_coordinates_get_clear_problems(service: Service) -> None:
    missing = await service.client.get("/libraries/NOPE")
    bad_lat = await service.client.get("/libraries/nearby", params={"lat": 91, "lng": 117})
    not_number = await service.client.get("/libraries/nearby", params={"lat": "north", "lng": 117})
    bad_level = await service.client.get("/libraries", params={"level": "palace"})

    assert (missing.status_code, missing.json()["code"]) == (404, "library_not_found")
    for response in (bad_lat, not_number, bad_level):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_request" and response.json()["errors"]
