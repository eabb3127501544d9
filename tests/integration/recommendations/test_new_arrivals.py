"""New arrivals at my libraries over HTTP: what I read ranks them, the switch makes them newest first, and only
copies added lately where I borrow are listed."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.catalog.models import Copy, Record
from backend.circulation import services as circulation
from backend.network.models import Library
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff
from tests.integration.service import BUS, NETWORK_TIME, Service

CHILD = {"name": "小雨", "birth_month": "2019-05", "guardian_consent": True}
SAME_CLASS = re.compile(r"^与你常读的 I2[0-9.]* 同类$")


@dataclass
class Network:
    desk: StaffUser
    copies: int = 0

    async def record(self, title: str, author: str, clc_class: str) -> Record:
        return await Record.create(title=title, authors=[{"name": author, "role": "author"}], clc_class=clc_class)

    async def add_copy(self, record: Record, library_code: str, days_ago: float) -> None:
        self.copies += 1
        library = await Library.get(code=library_code)
        copy = await Copy.create(
            barcode=f"N{self.copies:05d}", record=record, home_library=library, current_library=library
        )
        await Copy.filter(id=copy.id).update(created_at=datetime.now(UTC) - timedelta(days=days_ago))

    async def lend(self, reader: Reader, record: Record, days_ago: float) -> None:
        """Lent at TL-A, which makes it one of the reader's libraries, from a copy the library has had for long."""
        self.copies += 1
        barcode = f"N{self.copies:05d}"
        copy = await Copy.create(
            barcode=barcode, record=record, home_library=self.desk.library, current_library=self.desk.library
        )
        await Copy.filter(id=copy.id).update(created_at=datetime.now(UTC) - timedelta(days=400))
        now = datetime.now(UTC) - timedelta(days=days_ago)
        await circulation.checkout(reader, barcode, now=now, bus=BUS, network_time=NETWORK_TIME, staff=self.desk)


@dataclass
class Arrived:
    novel: Record  # I247.5, at TL-A, five days ago
    manual: Record  # TP311, at TL-A, yesterday: the newest


@pytest.fixture
async def network(service: Service) -> Network:
    await build_network()
    desk = await make_staff("arrivals-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    return Network(desk)


@pytest.fixture
async def arrived(network: Network) -> Arrived:
    novel = await network.record("长恨歌", "王安忆", "I247.5")
    manual = await network.record("编程珠玑", "Jon Bentley", "TP311")
    await network.add_copy(novel, "TL-A", 5)
    await network.add_copy(manual, "TL-A", 1)
    await network.add_copy(await network.record("白鹿原", "陈忠实", "I247.5"), "TL-A", 60)  # too long ago
    await network.add_copy(await network.record("繁花", "金宇澄", "I247.5"), "TL-B", 1)  # not one of mine
    return Arrived(novel, manual)


async def _arrivals(
    service: Service, reader: LoggedIn, path: str = "/readers/me", query: str = "", **headers: str
) -> dict:
    response = await service.client.get(f"{path}/new-arrivals{query}", headers={**reader.headers, **headers})
    assert response.status_code == 200, response.text
    page: dict = response.json()
    return page


async def _novel_reader(service: Service, network: Network) -> LoggedIn:
    logged_in = await login_reader(service, "openid-arrivals")
    reader = await Reader.get(openid=logged_in.openid)
    await network.lend(reader, await network.record("活着", "余华", "I247.5"), 20)
    return logged_in


async def test_a_reader_who_borrowed_an_i247_novel_sees_a_new_i247_book_first(
    service: Service, network: Network, arrived: Arrived
) -> None:
    reader = await _novel_reader(service, network)

    page = await _arrivals(service, reader)
    english = await _arrivals(service, reader, **{"Accept-Language": "en"})

    assert page["personal"] is True
    assert [item["record"]["id"] for item in page["items"]] == [arrived.novel.id, arrived.manual.id]
    assert page["total"] == 2
    assert page["next_offset"] is None
    first, second = page["items"]
    assert first["reason"]["kind"] == "same_class"
    assert SAME_CLASS.match(first["reason"]["text"]), first["reason"]["text"]
    assert first["libraries"] == [{"code": "TL-A", "name": "铜官区图书馆"}]
    assert second["reason"] == {"kind": None, "text": "新到馆", "record_id": None}
    assert english["items"][0]["reason"]["text"].startswith("Like the I2")
    assert english["items"][1]["reason"]["text"] == "New at your library"


async def test_with_personal_picks_off_new_arrivals_are_newest_first_with_a_reason_that_is_not_personal(
    service: Service, network: Network, arrived: Arrived
) -> None:
    reader = await _novel_reader(service, network)
    off = await service.client.put(
        "/readers/me/recommendation-settings", json={"personal": False}, headers=reader.headers
    )

    page = await _arrivals(service, reader)

    assert off.status_code == 200
    assert page["personal"] is False
    assert [item["record"]["id"] for item in page["items"]] == [arrived.manual.id, arrived.novel.id]
    assert {(item["reason"]["kind"], item["reason"]["text"]) for item in page["items"]} == {(None, "新到馆")}


async def test_a_copy_added_60_days_ago_is_listed_only_when_the_reader_asks_for_that_many_days(
    service: Service, network: Network, arrived: Arrived
) -> None:
    reader = await _novel_reader(service, network)

    month = await _arrivals(service, reader)
    quarter = await _arrivals(service, reader, query="?days=90")
    too_long = await service.client.get("/readers/me/new-arrivals?days=91", headers=reader.headers)

    titles = {item["record"]["title"] for item in month["items"]}
    assert "白鹿原" not in titles
    assert "白鹿原" in {item["record"]["title"] for item in quarter["items"]}
    assert too_long.status_code == 400


async def test_another_librarys_new_arrival_is_not_listed(service: Service, network: Network, arrived: Arrived) -> None:
    reader = await _novel_reader(service, network)

    page = await _arrivals(service, reader, query="?days=90")

    assert "繁花" not in {item["record"]["title"] for item in page["items"]}
    assert {library["code"] for item in page["items"] for library in item["libraries"]} == {"TL-A"}


async def test_pages_of_new_arrivals_follow_one_order(service: Service, network: Network, arrived: Arrived) -> None:
    reader = await _novel_reader(service, network)

    first = await _arrivals(service, reader, query="?limit=1")
    second = await _arrivals(service, reader, query="?limit=1&offset=1")

    assert first["next_offset"] == 1
    assert [first["items"][0]["record"]["id"], second["items"][0]["record"]["id"]] == [
        arrived.novel.id,
        arrived.manual.id,
    ]
    assert second["next_offset"] is None


async def test_a_reader_who_never_borrowed_nor_has_a_home_library_has_no_libraries_and_an_empty_page(
    service: Service, arrived: Arrived
) -> None:
    reader = await login_reader(service, "openid-new")

    page = await _arrivals(service, reader)

    assert page == {"items": [], "total": 0, "limit": 20, "offset": 0, "next_offset": None, "personal": False}


async def test_a_childs_new_arrivals_follow_the_childs_loans_never_the_guardians(
    service: Service, network: Network, arrived: Arrived
) -> None:
    guardian_login = await login_reader(service, "openid-guardian")
    guardian = await Reader.get(openid=guardian_login.openid)
    guardians_book = await network.record("算法导论", "Thomas Cormen", "TP311")
    await network.lend(guardian, guardians_book, 10)
    created = (await service.client.post("/readers/me/children", json=CHILD, headers=guardian_login.headers)).json()
    child_path = f"/readers/me/children/{created['id']}"
    child = await Reader.get(id=created["id"])
    await network.lend(child, await network.record("草房子", "曹文轩", "I287.45"), 6)

    before = await _arrivals(service, guardian_login, child_path)  # a child's card: personal off until switched on
    await service.client.put(
        f"{child_path}/recommendation-settings", json={"personal": True}, headers=guardian_login.headers
    )
    page = await _arrivals(service, guardian_login, child_path)
    guardians = await _arrivals(service, guardian_login)

    assert before["personal"] is False
    assert before["items"][0]["record"]["id"] == arrived.manual.id  # newest first
    assert page["personal"] is True
    assert page["items"][0]["record"]["id"] == arrived.novel.id  # like the child's 草房子 (I2...)
    assert page["items"][0]["reason"]["kind"] == "same_class"
    assert guardians["items"][0]["record"]["id"] == arrived.manual.id  # like the guardian's 算法导论 (TP311)
    assert guardians["items"][0]["reason"]["kind"] == "same_class"
    assert guardians_book.id not in {item["reason"]["record_id"] for item in page["items"]}
