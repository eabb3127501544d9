from backend.accounts.models import StaffRole, StaffUser
from backend.catalog.models import Copy, Record
from backend.demo.network import DEMO_PASSWORD, seed_demo
from backend.network.models import Library, LibraryLevel
from tests.integration.factories import login_reader
from tests.integration.service import Service


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
    assert first.records == await Record.all().count() == 300
    assert first.copies == await Copy.all().count() >= 300
    # goodbooks stored ISBN-10s as numbers: the leading zero of The Hunger Games' 0439023483 is restored.
    hunger_games = await Record.get(title__startswith="The Hunger Games")
    assert hunger_games.isbn13 == "9780439023481"
    assert await Record.filter(isbn13__isnull=False).count() > 280


async def test_demo_staff_work_within_their_scope(service: Service) -> None:
    await seed_demo()
    login = await service.client.post("/staff/auth/login", json={"username": "yian-admin", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    listed = await service.client.get("/staff/staff-users", headers=headers)
    foreign = await service.client.patch("/staff/libraries/TL-ZY", json={"phone": "1"}, headers=headers)

    assert [s["username"] for s in listed.json()] == ["yian-admin"]
    assert foreign.status_code == 403


async def test_the_demo_events_are_open_for_booking(service: Service) -> None:
    summary = await seed_demo()
    reader = await login_reader(service, "openid-demo-events")

    listed = (await service.client.get("/events", params={"limit": 50})).json()
    lecture = next(e for e in listed if e["category"] == "lecture")
    booked = await service.client.post(f"/events/{lecture['id']}/bookings", json={}, headers=reader.headers)
    toddlers = (await service.client.get("/events", params={"age_months": 18})).json()

    assert len(listed) == summary.events == 6
    assert booked.status_code == 201 and booked.json()["status"] == "confirmed"
    assert [e["title"] for e in toddlers] == ["阳光周末·宝宝爬爬阅读会"]
