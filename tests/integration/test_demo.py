import asyncio
import csv
import gzip
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.catalog.isbn import normalise_isbn
from backend.catalog.models import Copy, Record
from backend.circulation.models import Hold, Loan
from backend.demo.network import DEMO_PASSWORD, seed_demo
from backend.demo.newborn import ENROLLER
from backend.events.models import Booking, Event
from backend.network.models import Library, LibraryLevel
from entrypoints.cli import demo_services
from tests.integration.factories import login_reader
from tests.integration.service import Service

CLC = Path(__file__).resolve().parents[3] / "shared" / "data" / "clc" / "clc_flat.csv.gz"


def items(body: Any) -> list[Any]:
    """The items of a page (`{items, total, limit, offset, next_offset}`)."""
    found: list[Any] = body["items"]
    return found


def chinese_books() -> list[dict[str, str]]:
    text = resources.files("backend.demo").joinpath("data", "chinese_books.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


async def test_the_demo_network_is_shaped_like_tonglings_and_loads_once(service: Service) -> None:
    first = await seed_demo()
    second = await seed_demo()

    assert first.loaded and not second.loaded
    counts = first.counts
    assert counts[LibraryLevel.CENTRAL] == 1 and counts[LibraryLevel.MAIN] == 4
    assert counts[LibraryLevel.SELF_SERVICE] == 5 and counts[LibraryLevel.SWAP_CABINET] == 30
    assert 45 <= counts[LibraryLevel.BRANCH] <= 60 and counts[LibraryLevel.SERVICE_POINT] >= 50
    assert await Library.all().count() == first.total
    for library in await Library.all().select_related("parent"):
        assert library.parent is None or library.path.startswith(library.parent.path)
    assert await StaffUser.filter(role=StaffRole.NETWORK_ADMIN).count() == 1
    assert first.records == await Record.all().count() == 300 + len(chinese_books())
    assert await Record.filter(language="chi").count() == len(chinese_books()) >= 60
    assert first.copies == await Copy.all().count() >= 300 + 2 * len(chinese_books())
    # goodbooks stored ISBN-10s as numbers: the leading zero of The Hunger Games' 0439023483 is restored.
    hunger_games = await Record.get(title__startswith="The Hunger Games")
    assert hunger_games.isbn13 == "9780439023481"
    assert await Record.filter(isbn13__isnull=False).count() > 280


async def test_the_demo_readers_load_with_the_network_once(service: Service) -> None:
    first = await seed_demo(demo_services(service.app.state.deps))
    second = await seed_demo(demo_services(service.app.state.deps))

    assert first.loaded and not second.loaded
    assert await Reader.filter(openid__startswith="demo-openid-").count() == 2  # alice and bob; carol is not yet
    assert await Reader.all().count() == 3  # and alice's child
    assert await Loan.all().count() == 6 and await Hold.all().count() == 2 and await Booking.all().count() == 2
    assert any("demo-alice" in line for line in first.lines())


async def test_demo_staff_work_within_their_scope(service: Service) -> None:
    await seed_demo()
    login = await service.client.post("/staff/auth/login", json={"username": "yian-admin", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    listed = await service.client.get("/staff/staff-users", headers=headers)
    foreign = await service.client.patch("/staff/libraries/TL-ZY", json={"phone": "1"}, headers=headers)

    assert [s["username"] for s in items(listed.json())] == ["yian-admin"]
    assert foreign.status_code == 403


async def test_the_demo_events_are_open_for_booking(service: Service) -> None:
    summary = await seed_demo()
    reader = await login_reader(service, "openid-demo-events")

    listed = items((await service.client.get("/events", params={"limit": 50})).json())
    lecture = next(e for e in listed if e["category"] == "lecture")
    booked = await service.client.post(f"/events/{lecture['id']}/bookings", json={}, headers=reader.headers)
    toddlers = items((await service.client.get("/events", params={"age_months": 18})).json())

    assert len(listed) == summary.events == 6
    assert booked.status_code == 201 and booked.json()["status"] == "confirmed"
    assert [e["title"] for e in toddlers] == ["阳光周末·宝宝爬爬阅读会"]


async def test_the_demo_finds_a_chinese_classic_by_characters_pinyin_and_initials(service: Service) -> None:
    await seed_demo()

    for query in ("红楼梦", "hongloumeng", "hlm", "HongLouMeng", "红楼"):
        found = await service.client.get("/records", params={"q": query})

        assert found.status_code == 200
        assert "红楼梦" in [hit["title"] for hit in items(found.json())], query


async def test_the_demo_browses_chinese_titles_by_clc_class(service: Service) -> None:
    await seed_demo()

    novels = (await service.client.get("/records", params={"clc": "I24", "language": "chi", "limit": 50})).json()
    luxun = (await service.client.get("/records", params={"q": "鲁迅"})).json()
    picture_books = (await service.client.get("/records", params={"age": 3, "item_type": "picture_book"})).json()

    assert novels["total"] >= 30
    assert {"红楼梦", "活着", "三体"} <= {hit["title"] for hit in items(novels)}
    assert all(hit["clc_class"].startswith("I24") for hit in items(novels))
    literature = {facet["value"]: facet for facet in luxun["facets"]["clc_class"]}["I"]
    assert literature["label"] == "文学" and literature["count"] >= 4
    assert "小蝌蚪找妈妈" in {hit["title"] for hit in items(picture_books)}


async def test_every_24_hour_library_and_swap_cabinet_has_books_to_take(service: Service) -> None:
    await seed_demo()
    points = [
        library
        for level in (LibraryLevel.SELF_SERVICE, LibraryLevel.SWAP_CABINET)
        for library in items(
            (await service.client.get("/libraries", params={"level": level.value, "limit": 200})).json()
        )
    ]

    assert len(points) == 35
    for point in points:
        stocked = items((await service.client.get("/records", params={"library": point["code"], "limit": 1})).json())
        assert stocked, point["name"]
        record = (await service.client.get(f"/records/{stocked[0]['id']}")).json()
        holding = next(h for h in record["holdings"] if h["library_code"] == point["code"])
        assert holding["available"] >= 1
    youth_palace = next(point for point in points if "青少年宫" in point["name"])
    childrens = await service.client.get("/records", params={"library": youth_palace["code"], "age": 6})
    assert childrens.json()["total"] >= 3


def test_the_chinese_demo_books_have_real_clc_classes_and_valid_isbns() -> None:
    books = chinese_books()
    with gzip.open(CLC, "rt", encoding="utf-8") as rows:
        codes = {row["code"] for row in csv.DictReader(rows)}

    assert [book["title"] for book in books if book["clc_class"] not in codes] == []
    assert len({book["title"] for book in books}) == len(books)
    for book in books:
        if book["isbn"]:
            assert normalise_isbn(book["isbn"]) == book["isbn"]


async def test_a_demo_network_loaded_before_its_readers_gets_them_once(service: Service) -> None:
    services = demo_services(service.app.state.deps)
    await seed_demo()  # as before the demo had readers

    first, second = await asyncio.gather(seed_demo(services), seed_demo(services))  # two starts at once
    third = await seed_demo(services)
    alice = await Reader.get(openid="demo-openid-alice")

    assert not first.loaded and not second.loaded and not third.loaded
    assert sorted([bool(first.readers), bool(second.readers)]) == [False, True] and not third.readers
    assert await Reader.filter(openid__startswith="demo-openid-").count() == 2
    assert await Loan.filter(reader=alice, returned_at__isnull=True).count() == 3
    assert await Hold.filter(reader=alice).count() == 2 and await Booking.all().count() == 2
    assert any("demo-alice" in line for line in (first.lines() if first.readers else second.lines()))


async def test_readers_of_a_demo_network_whose_events_have_closed_come_without_bookings(service: Service) -> None:
    await seed_demo()
    await Event.all().update(booking_closes_at=datetime.now(UTC) - timedelta(minutes=1))

    summary = await seed_demo(demo_services(service.app.state.deps))

    assert await Loan.filter(reader__openid="demo-openid-alice", returned_at__isnull=True).count() == 3
    assert await Booking.all().count() == 0
    assert "booked" not in summary.readers[0]


async def test_a_network_that_is_not_the_demo_gets_no_demo_readers(service: Service) -> None:
    await seed_demo()
    await StaffUser.filter(username=ENROLLER).delete()  # as a network bootstrapped by its operator has none

    summary = await seed_demo(demo_services(service.app.state.deps))

    assert not summary.readers and await Reader.all().count() == 0
