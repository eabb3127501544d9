"""Reading recommendations over HTTP: the reader's switch, trained picks and their reasons, a child's own picks, the
fallback with Redis empty, and the checkout that refreshes a reader's picks through the real worker."""

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from arq import Retry, create_pool
from arq.connections import RedisSettings

from backend.accounts.models import Reader, ReaderType, StaffRole, StaffUser
from backend.catalog.models import Copy, Record
from backend.circulation import services as circulation
from backend.network.models import Library
from entrypoints import worker
from entrypoints.queue import QUEUE, ArqJobs, recommendation_refresh_job_id
from recommendations.blend import Model
from recommendations.reasons import Pick, Reason, ReasonKind
from recommendations.store import ModelCache, PickStore, unpack_model
from recommendations.training import TRAINING_LOCK_SECONDS, load_training_data, refresh_reader, run_training
from tests.integration.circulation.lending import lend
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import BUS, NETWORK_TIME, Service
from tests.integration.test_worker import run_worker_process

CHILD = {"name": "小雨", "birth_month": "2019-05", "guardian_consent": True}
TODAY = NETWORK_TIME.day(datetime.now(UTC))


@dataclass
class Shelf:
    """A small network's catalogue and a desk at TL-A that lends from it."""

    desk: StaffUser
    library: Library
    records: dict[str, Record]
    copies: int = 0

    async def lend(self, reader: Reader, title: str, days_ago: float) -> None:
        """A copy of its own for every loan (a copy is lent once at a time), lent `days_ago`."""
        self.copies += 1
        barcode = f"R{self.copies:05d}"
        await Copy.create(
            barcode=barcode, record=self.records[title], home_library=self.library, current_library=self.library
        )
        now = datetime.now(UTC) - timedelta(days=days_ago)
        await circulation.checkout(reader, barcode, now=now, bus=BUS, network_time=NETWORK_TIME, staff=self.desk)

    def id(self, title: str) -> int:
        return self.records[title].id


TITLES = {
    "三体": "刘慈欣",
    "流浪地球": "刘慈欣",
    "球状闪电": "刘慈欣",
    "银河帝国": "阿西莫夫",
    "活着": "余华",
    "许三观卖血记": "余华",
    "平凡的世界": "路遥",
    "人生": "路遥",
    "小王子": "圣埃克苏佩里",
    "猜猜我有多爱你": "山姆·麦克布雷尼",
}


@pytest.fixture
async def shelf(service: Service) -> Shelf:
    await build_network()
    desk = await make_staff("recs-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    records = {
        title: await Record.create(title=title, authors=[{"name": author, "role": "author"}], clc_class="I247.5")
        for title, author in TITLES.items()
    }
    return Shelf(desk, await Library.get(code="TL-A"), records)


async def _readers_who_read_science_fiction(shelf: Shelf) -> None:
    """Six readers who read 三体, 流浪地球 and 银河帝国 and then 球状闪电; ten more who read 活着 and 平凡的世界."""
    for n in range(6):
        fan = await Reader.create(card_number=f"8000000{n:05d}")
        for days_ago, title in [(40, "三体"), (30, "流浪地球"), (20, "银河帝国"), (10, "球状闪电")]:
            await shelf.lend(fan, title, days_ago + n)
    for n in range(10):
        other = await Reader.create(card_number=f"8100000{n:05d}")
        for days_ago, title in [(5, "活着"), (3, "平凡的世界")]:
            await shelf.lend(other, title, days_ago)


async def _train(service: Service) -> int:
    return await run_training(PickStore(service.redis), ArqJobs(service.redis), datetime.now(UTC), NETWORK_TIME)


async def _recommendations(service: Service, reader: LoggedIn, path: str = "/readers/me", **headers: str) -> dict:
    response = await service.client.get(f"{path}/recommendations", headers={**reader.headers, **headers})
    assert response.status_code == 200, response.text
    page: dict = response.json()
    return page


async def _reader_of(logged_in: LoggedIn) -> Reader:
    return await Reader.get(openid=logged_in.openid)


async def test_personal_picks_are_on_for_an_adult_and_off_for_a_child_until_the_guardian_switches_them_on(
    service: Service,
) -> None:
    guardian = await login_reader(service, "openid-guardian")
    child = (await service.client.post("/readers/me/children", json=CHILD, headers=guardian.headers)).json()
    child_path = f"/readers/me/children/{child['id']}"

    mine = await service.client.get("/readers/me/recommendation-settings", headers=guardian.headers)
    childs = await service.client.get(f"{child_path}/recommendation-settings", headers=guardian.headers)
    switched = await service.client.put(
        f"{child_path}/recommendation-settings", json={"personal": True}, headers=guardian.headers
    )
    stranger = await login_reader(service, "openid-stranger")
    nosy = await service.client.get(f"{child_path}/recommendation-settings", headers=stranger.headers)

    assert mine.json() == {"personal": True}
    assert childs.json() == {"personal": False}
    assert switched.json() == {"personal": True}
    assert (await service.client.get(f"{child_path}/recommendation-settings", headers=guardian.headers)).json() == {
        "personal": True
    }
    assert nosy.status_code == 404


async def test_after_training_a_reader_who_borrowed_a_book_gets_a_pick_whose_reason_names_it(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    for days_ago, title in [(9, "三体"), (8, "流浪地球"), (7, "银河帝国")]:
        await shelf.lend(reader, title, days_ago)

    assert await _train(service) > 0
    page = await _recommendations(service, logged_in)
    english = await _recommendations(service, logged_in, **{"Accept-Language": "en"})

    assert page["personal"] is True
    mine = {shelf.id(t) for t in ("三体", "流浪地球", "银河帝国")}
    assert not {item["record"]["id"] for item in page["items"]} & mine  # never what they have on loan
    ball = next(item for item in page["items"] if item["record"]["id"] == shelf.id("球状闪电"))
    assert ball["reason"]["kind"] == "borrowed"
    assert ball["reason"]["record_id"] in mine
    cited = shelf.records[next(t for t in TITLES if shelf.id(t) == ball["reason"]["record_id"])].title
    assert ball["reason"]["text"] == f"因为你借过《{cited}》"
    ball_en = next(item for item in english["items"] if item["record"]["id"] == shelf.id("球状闪电"))
    assert ball_en["reason"]["text"] == f"Because you borrowed “{cited}”"
    also = await service.client.get(f"/records/{shelf.id('三体')}/also-borrowed")
    assert shelf.id("球状闪电") in [record["id"] for record in also.json()["items"]]
    assert (await service.client.get("/records/999999/also-borrowed")).status_code == 404


async def test_a_pair_two_readers_borrowed_is_a_personal_pick_and_public_only_once_five_readers_did(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    for n in range(2):
        pair = await Reader.create(card_number=f"8200000{n:05d}")
        await shelf.lend(pair, "人生", 12)
        await shelf.lend(pair, "小王子", 11)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    for days_ago, title in [(9, "人生"), (8, "活着"), (7, "平凡的世界")]:
        await shelf.lend(reader, title, days_ago)

    await _train(service)
    page = await _recommendations(service, logged_in)
    also = await service.client.get(f"/records/{shelf.id('人生')}/also-borrowed")

    prince = next(item for item in page["items"] if item["record"]["id"] == shelf.id("小王子"))
    assert prince["reason"]["kind"] == "borrowed" and prince["reason"]["record_id"] == shelf.id("人生")
    assert also.status_code == 200 and also.json()["items"] == []  # two readers: each could be told apart by it

    for n in range(2, 5):
        pair = await Reader.create(card_number=f"8200000{n:05d}")
        await shelf.lend(pair, "人生", 12)
        await shelf.lend(pair, "小王子", 11)
    await _train(service)
    also = await service.client.get(f"/records/{shelf.id('人生')}/also-borrowed")

    assert [record["id"] for record in also.json()["items"]] == [shelf.id("小王子")]


async def test_switching_personal_picks_off_deletes_the_profile_and_leaves_only_popular_lists(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    for days_ago, title in [(9, "三体"), (8, "流浪地球"), (7, "银河帝国")]:
        await shelf.lend(reader, title, days_ago)
    await _train(service)
    store = PickStore(service.redis)
    assert await store.picks(reader.id)

    off = await service.client.put(
        "/readers/me/recommendation-settings", json={"personal": False}, headers=logged_in.headers
    )
    page = await _recommendations(service, logged_in)

    assert off.status_code == 200
    assert await store.picks(reader.id) is None  # the profile is gone at once
    assert page["personal"] is False
    assert page["items"]
    assert {item["reason"]["kind"] for item in page["items"]} == {"popular_recently"}
    assert all(item["reason"]["record_id"] is None for item in page["items"])
    # Their loans stop feeding personal models: the next training has no history of theirs and no picks for them.
    data = await load_training_data(NETWORK_TIME.day(datetime.now(UTC)))
    assert str(reader.id) not in data.log.reader_keys
    await _train(service)
    assert await store.picks(reader.id) is None


async def test_a_childs_picks_come_from_the_childs_loans_never_the_guardians(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    guardian_login = await login_reader(service, "openid-guardian")
    guardian = await _reader_of(guardian_login)
    for days_ago, title in [(9, "三体"), (8, "流浪地球"), (7, "银河帝国")]:
        await shelf.lend(guardian, title, days_ago)
    created = (await service.client.post("/readers/me/children", json=CHILD, headers=guardian_login.headers)).json()
    child_path = f"/readers/me/children/{created['id']}"
    child = await Reader.get(id=created["id"])
    for days_ago, title in [(6, "小王子"), (5, "猜猜我有多爱你")]:
        await shelf.lend(child, title, days_ago)
    another_child = await Reader.create(card_number="820000000001", reader_type=ReaderType.CHILD, birth_month="2018-01")
    await shelf.lend(another_child, "人生", 4)
    before = await _recommendations(service, guardian_login, child_path)  # off by default: the children's list
    await service.client.put(
        f"{child_path}/recommendation-settings", json={"personal": True}, headers=guardian_login.headers
    )

    await _train(service)
    page = await _recommendations(service, guardian_login, child_path)

    guardians = {shelf.id(t) for t in ("三体", "流浪地球", "银河帝国")}
    childs = {shelf.id(t) for t in ("小王子", "猜猜我有多爱你")}
    assert before["personal"] is False
    assert [item["record"]["id"] for item in before["items"]] == [shelf.id("人生")]  # children's loans only
    assert before["items"][0]["reason"]["text"] == "小读者近期热门"
    assert page["personal"] is True
    assert page["items"]
    cited = {item["reason"]["record_id"] for item in page["items"]} - {None}
    assert cited <= childs
    assert not cited & guardians
    assert not {item["record"]["id"] for item in page["items"]} & childs


async def test_serving_falls_back_to_recent_popularity_when_redis_is_empty(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    await reader.fetch_related("home_library")
    await shelf.lend(reader, "三体", 2)
    await _train(service)
    assert (await _recommendations(service, logged_in))["personal"] is True

    await service.redis.flushdb()
    page = await _recommendations(service, logged_in)
    also = await service.client.get(f"/records/{shelf.id('三体')}/also-borrowed")

    assert page["personal"] is False
    ids = [item["record"]["id"] for item in page["items"]]
    assert ids[:2] == [shelf.id("平凡的世界"), shelf.id("活着")]  # borrowed by ten readers in the last days
    assert shelf.id("三体") not in ids  # on loan to them
    assert {item["reason"]["text"] for item in page["items"]} == {"近期热门"}  # no home library: the network's
    assert also.status_code == 200
    assert also.json()["items"] == []


async def test_only_books_on_a_librarys_shelves_when_the_reader_asks(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)  # every copy is out on loan
    logged_in = await login_reader(service, "openid-reader")
    await Copy.create(
        barcode="S0001", record=shelf.records["活着"], home_library=shelf.library, current_library=shelf.library
    )

    anywhere = await _recommendations(service, logged_in)
    on_shelf = await service.client.get("/readers/me/recommendations?library=TL-A", headers=logged_in.headers)
    unknown = await service.client.get("/readers/me/recommendations?library=NOPE", headers=logged_in.headers)

    assert len(anywhere["items"]) > 1
    assert [item["record"]["id"] for item in on_shelf.json()["items"]] == [shelf.id("活着")]
    assert unknown.status_code == 404


async def test_near_me_shows_the_nearest_shelf_and_with_a_distance_only_books_on_a_shelf_that_near(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)  # every copy is out on loan
    logged_in = await login_reader(service, "openid-reader")
    far = await Library.get(code="TL-B")  # about 60 km from TL-A
    await Copy.create(barcode="S0001", record=shelf.records["活着"], home_library=far, current_library=far)
    await Copy.create(
        barcode="S0002", record=shelf.records["平凡的世界"], home_library=shelf.library, current_library=shelf.library
    )
    at_tl_a = f"lat={shelf.library.latitude}&lng={shelf.library.longitude}"

    near = await service.client.get(f"/readers/me/recommendations?{at_tl_a}", headers=logged_in.headers)
    within = await service.client.get(f"/readers/me/recommendations?{at_tl_a}&within_m=2000", headers=logged_in.headers)

    nearest = {item["record"]["id"]: item["record"]["nearest_available"] for item in near.json()["items"]}
    assert nearest[shelf.id("平凡的世界")] == {
        "library_code": "TL-A",
        "library_name": shelf.library.name,
        "distance_m": 0,
    }
    assert nearest[shelf.id("活着")]["library_code"] == "TL-B"
    assert nearest[shelf.id("三体")] is None  # on loan everywhere
    assert [item["record"]["id"] for item in within.json()["items"]] == [shelf.id("平凡的世界")]
    assert within.json()["total"] == 1


async def test_a_place_asked_by_halves_is_a_clear_error_not_a_silently_unfiltered_page(service: Service) -> None:
    logged_in = await login_reader(service, "openid-reader")
    await build_network()

    codes = set()
    for query in ["lat=30.9", "within_m=2000", "within_m=2000&library=TL-A&lat=30.9&lng=117.8"]:
        response = await service.client.get(f"/readers/me/recommendations?{query}", headers=logged_in.headers)
        assert response.status_code == 422, query
        codes.add(response.json()["code"])

    assert codes == {"recommendation_place_invalid"}


async def test_a_reader_the_nightly_run_did_not_pick_for_gets_picks_on_their_next_visit(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    await shelf.lend(reader, "三体", 2)
    await _train(service)
    store = PickStore(service.redis)
    await store.forget_reader(reader.id)  # as for a reader the nightly run leaves to be picked on demand
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        await pool.delete(QUEUE)
        first = await _recommendations(service, logged_in)
        queued = await pool.zscore(QUEUE, recommendation_refresh_job_id(reader.id))
        finished = await asyncio.to_thread(run_worker_process, service)
    finally:
        await pool.aclose()

    assert first["personal"] is False  # recent popularity meanwhile
    assert queued is not None
    assert finished.returncode == 0, finished.stderr[-2000:]
    again = await _recommendations(service, logged_in)
    assert again["personal"] is True
    by_author = {item["record"]["id"]: item["reason"]["text"] for item in again["items"]}
    assert by_author[shelf.id("流浪地球")] == "你读过刘慈欣的书"  # from their own loan of 三体


async def test_a_checkout_refreshes_the_readers_picks_through_the_worker(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    await _train(service)
    logged_in = await login_reader(service, "openid-newcomer")
    reader = await _reader_of(logged_in)
    store = PickStore(service.redis)
    assert await store.picks(reader.id) is None
    await Copy.create(
        barcode="N0001", record=shelf.records["三体"], home_library=shelf.library, current_library=shelf.library
    )
    desk = await staff_headers(service.client, "recs-desk")

    lent = await lend(service, desk, logged_in, "N0001")
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        assert await pool.zscore(QUEUE, recommendation_refresh_job_id(reader.id)) is not None
        finished = await asyncio.to_thread(run_worker_process, service)
    finally:
        await pool.aclose()

    assert lent["status"] == 201, lent
    assert finished.returncode == 0, finished.stderr[-2000:]
    picks = await store.picks(reader.id)
    assert picks
    assert str(shelf.id("三体")) not in {pick.item for pick in picks}
    page = await _recommendations(service, logged_in)
    assert page["personal"] is True


async def test_shuxiang_recs_train_trains_and_serves_a_new_version(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    s = service.settings
    env = {
        **os.environ,
        "SHUXIANG_DATABASE_URL": s.database.url,
        "SHUXIANG_REDIS_URL": s.redis.url,
        "SHUXIANG_SECRET_KEY": s.security.secret_key,
    }

    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "entrypoints.cli", "recs", "train"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "trained: picks for 16 readers" in finished.stdout
    assert await PickStore(service.redis).also_borrowed(shelf.id("三体"))


async def _keys_of(service: Service, version: str) -> list[bytes]:
    return [key async for key in service.redis.scan_iter(match=f"recs:{version}:*")]


async def test_the_stored_model_keeps_no_readers_history(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    store = PickStore(service.redis)

    await _train(service)
    version = await store.current()
    assert version is not None
    chunks = await store.model_chunks(version)
    assert chunks is not None
    model = unpack_model(chunks)

    assert model.histories == {}
    assert model.recommend(model.history_from([(str(shelf.id("三体")), 0.0)]))  # serving rebuilds one when needed


class _FailingStore(PickStore):
    """Redis that fails a training run half way through writing its version."""

    async def write_popular(self, version: str, lists: object) -> None:
        raise RuntimeError("the run dies here")


async def test_a_failed_training_run_leaves_no_version_and_a_switch_off_reaches_a_version_left_behind(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    for days_ago, title in [(9, "三体"), (8, "流浪地球"), (7, "银河帝国")]:
        await shelf.lend(reader, title, days_ago)
    store = PickStore(service.redis)
    await _train(service)
    served = await store.current()

    with pytest.raises(RuntimeError):
        await run_training(_FailingStore(service.redis), ArqJobs(service.redis), datetime.now(UTC), NETWORK_TIME)
    assert await store.versions() == {served}
    # A run killed outright (no clean-up at all) leaves its version: a switch-off still deletes the picks in it.
    killed = await store.begin(b"")
    await store.write_picks(killed, {reader.id: [Pick("1", 1.0, Reason(ReasonKind.POPULAR))]})
    await service.client.put("/readers/me/recommendation-settings", json={"personal": False}, headers=logged_in.headers)
    assert not [key for key in await _keys_of(service, killed) if b":picks:" in key]
    # and the next run deletes the whole version.
    await _train(service)
    assert await store.versions() == {await store.current()}
    assert await _keys_of(service, killed) == []
    assert await _keys_of(service, str(served)) == []


class _StaleModels(ModelCache):
    """A refresh that read the version served just before a training run flipped it."""

    def __init__(self, stale: tuple[str, Model]) -> None:
        super().__init__()
        self._stale: tuple[str, Model] | None = stale

    async def model(self, store: PickStore) -> tuple[str, Model] | None:
        if self._stale is not None:
            stale, self._stale = self._stale, None
            return stale
        return await super().model(store)


async def test_a_refresh_that_read_the_version_before_a_flip_writes_nothing_into_the_deleted_version(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    reader = await Reader.create(card_number="830000000001")
    await shelf.lend(reader, "三体", 1)
    store = PickStore(service.redis)
    await _train(service)
    before = await ModelCache().model(store)
    assert before is not None
    await _train(service)
    assert await _keys_of(service, before[0]) == []

    assert await refresh_reader(store, _StaleModels(before), reader.id, TODAY)

    assert await _keys_of(service, before[0]) == []  # nothing left behind where no deletion will ever come
    assert await store.picks(reader.id)


async def test_a_second_training_run_does_not_start_while_one_holds_the_lock(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    store = PickStore(service.redis)
    assert await store.lock_training("the nightly run", TRAINING_LOCK_SECONDS)

    assert await _train(service) == 0
    assert await store.current() is None

    await store.unlock_training("the nightly run")
    assert await _train(service) > 0


async def test_a_reader_who_switched_picks_on_while_training_ran_gets_a_refresh_queued(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    logged_in = await login_reader(service, "openid-reader")
    reader = await _reader_of(logged_in)
    started = datetime.now(UTC)
    await service.client.put("/readers/me/recommendation-settings", json={"personal": True}, headers=logged_in.headers)
    await service.redis.delete(f"arq:job:{recommendation_refresh_job_id(reader.id)}")
    await service.redis.delete(QUEUE)

    await run_training(PickStore(service.redis), ArqJobs(service.redis), started, NETWORK_TIME)

    assert await service.redis.zscore(QUEUE, recommendation_refresh_job_id(reader.id)) is not None


async def test_cards_without_personal_picks_get_the_trained_popular_list_not_a_count_per_request(
    service: Service, shelf: Shelf
) -> None:
    await _readers_who_read_science_fiction(shelf)
    await _train(service)
    for n in range(12):  # after the training: the count in PostgreSQL would put 人生 first
        await shelf.lend(await Reader.create(card_number=f"8400000{n:05d}"), "人生", 0.01)
    newcomer = await login_reader(service, "openid-newcomer")

    page = await _recommendations(service, newcomer)

    assert page["personal"] is False
    assert [item["record"]["id"] for item in page["items"]][:2] == [shelf.id("平凡的世界"), shelf.id("活着")]
    # Without a model in Redis, the count in PostgreSQL, kept a minute for every process.
    await service.redis.flushdb()
    counted = await _recommendations(service, newcomer)
    assert counted["items"][0]["record"]["id"] == shelf.id("人生")
    assert await PickStore(service.redis).counted_popular("network")


async def test_a_checkout_during_the_readers_running_refresh_runs_it_again(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    reader = await Reader.create(card_number="850000000001")
    await _train(service)
    jobs = ArqJobs(service.redis)

    class CheckoutMeanwhile(ModelCache):
        async def model(self, store: PickStore) -> tuple[str, Model] | None:
            await jobs.enqueue_recommendation_refresh(reader.id)  # arq queues nothing: this job's id is running
            return await super().model(store)

    ctx = {"deps": service.app.state.deps, "job_try": 1, "recommendation_models": CheckoutMeanwhile()}
    with pytest.raises(Retry):
        await worker.refresh_recommendations(ctx, reader.id)
    ctx["recommendation_models"] = ModelCache()
    assert await worker.refresh_recommendations(ctx, reader.id) == 1  # nothing new since: done


async def test_a_model_stored_in_another_format_is_no_model(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    reader = await Reader.create(card_number="860000000001")
    store = PickStore(service.redis)
    await _train(service)
    version = await store.current()
    await service.redis.set(f"recs:{version}:model", b"shuxiang-recs-model:1\n" + b"x" * 10)

    assert await ModelCache().model(store) is None
    assert await refresh_reader(store, ModelCache(), reader.id, TODAY) is False


async def test_removing_a_childs_card_deletes_its_picks(service: Service, shelf: Shelf) -> None:
    await _readers_who_read_science_fiction(shelf)
    guardian = await login_reader(service, "openid-guardian")
    created = (await service.client.post("/readers/me/children", json=CHILD, headers=guardian.headers)).json()
    child_path = f"/readers/me/children/{created['id']}"
    await service.client.put(f"{child_path}/recommendation-settings", json={"personal": True}, headers=guardian.headers)
    store = PickStore(service.redis)
    await _train(service)
    await store.write_picks(str(await store.current()), {created["id"]: [Pick("1", 1.0, Reason(ReasonKind.POPULAR))]})

    removed = await service.client.delete(child_path, headers=guardian.headers)

    assert removed.status_code == 204, removed.text
    assert await store.picks(created["id"]) is None
