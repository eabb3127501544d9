"""A child's card is served what children of its age band borrow lately: counted in PostgreSQL (Redis empty or down)
and as trained, its reason naming the band; a child without a birth month, or of a band in which fewer than five
children borrowed (however much each borrowed: its list would tell what they read), gets all children's list; an
adult's card never a band's."""

from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from backend.accounts.models import Reader, ReaderType, StaffRole
from backend.catalog.models import Record
from backend.network.models import Library
from entrypoints.embedded import free_port
from entrypoints.queue import ArqJobs
from recommendations import serving
from recommendations.explain import render
from recommendations.store import PickStore
from recommendations.training import run_training
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff
from tests.integration.recommendations.test_recommendations import Shelf
from tests.integration.service import NETWORK_TIME, Service

TODAY = NETWORK_TIME.day(datetime.now(UTC))
PICTURE_BOOKS = ["猜猜我有多爱你", "好饿的毛毛虫", "大卫不可以", "逃家小兔", "我爸爸"]
NOVELS = ["草房子", "夏洛的网", "小王子", "窗边的小豆豆", "城南旧事"]


def born_years_ago(years: int) -> str:
    return f"{TODAY.year - years}-{TODAY.month:02d}"


@pytest.fixture
async def shelf(service: Service) -> Shelf:
    await build_network()
    desk = await make_staff("bands-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    records = {
        title: await Record.create(title=title, authors=[], clc_class="I287") for title in PICTURE_BOOKS + NOVELS
    }
    return Shelf(desk, await Library.get(code="TL-A"), records)


async def _borrowed_by_children_of_each_band(shelf: Shelf) -> None:
    """Children of 3-6 borrowed the picture books, children of 9-12 the novels: the first of each most lately."""
    for n, (picture_book, novel) in enumerate(zip(PICTURE_BOOKS, NOVELS, strict=True)):
        little = await Reader.create(
            card_number=f"9100000{n:05d}", reader_type=ReaderType.CHILD, birth_month=born_years_ago(4)
        )
        older = await Reader.create(
            card_number=f"9200000{n:05d}", reader_type=ReaderType.CHILD, birth_month=born_years_ago(10)
        )
        await shelf.lend(little, picture_book, n + 1)
        await shelf.lend(older, novel, n + 1.5)


async def _child_of(service: Service, guardian: LoggedIn, name: str, birth_month: str) -> str:
    payload = {"name": name, "birth_month": birth_month, "guardian_consent": True}
    created = await service.client.post("/readers/me/children", json=payload, headers=guardian.headers)
    assert created.status_code == 201, created.text
    return f"/readers/me/children/{created.json()['id']}"


async def _page(service: Service, reader: LoggedIn, path: str, language: str = "zh") -> list[tuple[str, str]]:
    response = await service.client.get(
        f"{path}/recommendations", params={"limit": 50}, headers={**reader.headers, "Accept-Language": language}
    )
    assert response.status_code == 200, response.text
    assert response.json()["personal"] is False
    return [(item["record"]["title"], item["reason"]["text"]) for item in response.json()["items"]]


async def _counted_without_redis(child: Reader) -> list[tuple[str, str]]:
    """The card's page counted in PostgreSQL, Redis unreachable: the titles and the reason each is shown for."""
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        found = await serving.recommendations_for(
            child,
            PickStore(unreachable),
            ArqJobs(unreachable),
            datetime.now(UTC),
            TODAY,
            lists=serving.PopularLists(),
            limit=50,
            offset=0,
        )
    finally:
        await unreachable.aclose()
    return [(item.hit.record.title, render(item.reason, found.titles, "zh")) for item in found.items]


def _assert_band_first(page: list[tuple[str, str]], own: list[str], band: str, others: list[str]) -> None:
    """The band's books in their order with the band's reason, then all children's others, so the page is full."""
    assert page[: len(own)] == [(title, f"{band} 岁小读者近期热门") for title in own]
    assert sorted(page[len(own) :]) == sorted((title, "小读者近期热门") for title in others)


async def test_children_of_two_bands_get_their_bands_lists_counted_in_postgresql_with_redis_empty(
    service: Service, shelf: Shelf
) -> None:
    await _borrowed_by_children_of_each_band(shelf)
    guardian = await login_reader(service, "openid-bands-guardian")
    little = await _child_of(service, guardian, "小雨", born_years_ago(4))
    older = await _child_of(service, guardian, "小雪", born_years_ago(10))

    littles, olders = await _page(service, guardian, little), await _page(service, guardian, older)
    english = await _page(service, guardian, little, "en")

    _assert_band_first(littles, PICTURE_BOOKS, "3-6", NOVELS)
    _assert_band_first(olders, NOVELS, "9-12", PICTURE_BOOKS)
    assert english[0] == (PICTURE_BOOKS[0], "Popular lately with readers aged 3-6")
    assert await PickStore(service.redis).counted_popular("age_band:3-6")  # one count a minute for every process


async def test_children_of_two_bands_get_their_bands_lists_as_trained(service: Service, shelf: Shelf) -> None:
    await _borrowed_by_children_of_each_band(shelf)
    guardian = await login_reader(service, "openid-bands-guardian")
    little = await _child_of(service, guardian, "小雨", born_years_ago(4))
    older = await _child_of(service, guardian, "小雪", born_years_ago(10))
    store = PickStore(service.redis)

    await run_training(store, ArqJobs(service.redis), datetime.now(UTC), NETWORK_TIME)
    littles, olders = await _page(service, guardian, little), await _page(service, guardian, older)

    _assert_band_first(littles, PICTURE_BOOKS, "3-6", NOVELS)
    _assert_band_first(olders, NOVELS, "9-12", PICTURE_BOOKS)
    assert await store.counted_popular("age_band:3-6") is None  # the trained lists, no count


async def test_with_redis_down_a_child_is_still_served_its_bands_list_counted_in_postgresql(
    service: Service, shelf: Shelf
) -> None:
    await _borrowed_by_children_of_each_band(shelf)
    child = await Reader.create(
        card_number="930000000001", reader_type=ReaderType.CHILD, birth_month=born_years_ago(10)
    )

    _assert_band_first(await _counted_without_redis(child), NOVELS, "9-12", PICTURE_BOOKS)


async def test_a_child_without_a_birth_month_or_of_a_band_that_borrowed_little_gets_all_childrens_list(
    service: Service, shelf: Shelf
) -> None:
    await _borrowed_by_children_of_each_band(shelf)
    baby = await Reader.create(card_number="940000000001", reader_type=ReaderType.CHILD, birth_month=born_years_ago(1))
    await shelf.lend(baby, NOVELS[0], 0.5)  # one book of band 0-3: too little to stand for what babies read
    guardian = await login_reader(service, "openid-bands-guardian")
    unknown = await Reader.create(
        card_number="940000000002",
        reader_type=ReaderType.CHILD,
        name="小明",
        guardian=await Reader.get(openid=guardian.openid),
    )
    toddler = await _child_of(service, guardian, "小豆", born_years_ago(2))

    for path in (f"/readers/me/children/{unknown.id}", toddler):
        page = await _page(service, guardian, path)
        assert sorted(title for title, _ in page) == sorted(PICTURE_BOOKS + NOVELS)
        assert {text for _, text in page} == {"小读者近期热门"}


async def test_an_adults_card_is_never_served_an_age_bands_list(service: Service, shelf: Shelf) -> None:
    await _borrowed_by_children_of_each_band(shelf)
    adult = await login_reader(service, "openid-bands-adult")
    # A birth month on an adult's card (a card that outgrew childhood keeps it): its age does not make it a child's.
    await Reader.filter(openid=adult.openid).update(birth_month=born_years_ago(13))
    await shelf.lend(await Reader.create(card_number="950000000001"), "草房子", 1)

    counted = await _page(service, adult, "/readers/me")
    await run_training(PickStore(service.redis), ArqJobs(service.redis), datetime.now(UTC), NETWORK_TIME)
    trained = await _page(service, adult, "/readers/me")

    for page in (counted, trained):
        assert page
        assert {text for _, text in page} <= {"近期热门", "本馆近期热门"}


async def test_a_band_in_which_four_children_borrowed_serves_all_childrens_list_and_with_five_its_own(
    service: Service, shelf: Shelf
) -> None:
    await _borrowed_by_children_of_each_band(shelf)
    teens = [
        await Reader.create(card_number=f"9600000{n:05d}", reader_type=ReaderType.CHILD, birth_month=born_years_ago(13))
        for n in range(5)
    ]
    for n, title in enumerate(NOVELS):  # one of them borrowed five books, three others one each
        await shelf.lend(teens[0], title, 0.2 + n / 10)
    for n in range(1, 4):
        await shelf.lend(teens[n], PICTURE_BOOKS[n], 0.3)
    guardian = await login_reader(service, "openid-bands-guardian")
    teen = await _child_of(service, guardian, "小飞", born_years_ago(13))
    store, jobs = PickStore(service.redis), ArqJobs(service.redis)
    holder = await Reader.get(name="小飞")

    counted_four = await _counted_without_redis(holder)
    await run_training(store, jobs, datetime.now(UTC), NETWORK_TIME)
    trained_four = await _page(service, guardian, teen)
    await shelf.lend(teens[4], PICTURE_BOOKS[4], 0.1)  # a fifth child of 12 and over borrows
    counted_five = await _counted_without_redis(holder)
    await run_training(store, jobs, datetime.now(UTC), NETWORK_TIME)
    trained_five = await _page(service, guardian, teen)

    for page in (counted_four, trained_four):
        assert sorted(title for title, _ in page) == sorted(PICTURE_BOOKS + NOVELS)
        assert {text for _, text in page} == {"小读者近期热门"}
    band_books = sorted(NOVELS + PICTURE_BOOKS[1:])  # every book the five borrowed, then all children's other one
    for page in (counted_five, trained_five):
        assert sorted(title for title, _ in page[:9]) == band_books
        assert {text for _, text in page[:9]} == {"12 岁以上小读者近期热门"}
        assert page[9:] == [(PICTURE_BOOKS[0], "小读者近期热门")]
