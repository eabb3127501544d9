"""A push of readers' own picks run by the worker on a trained model: every reader whose personal picks are on is
reached, those the nightly run left out with picks made then; nobody switched off or without their guardian's consent
is; a run stopped part-way by an outage goes on where it stopped, one whose job was lost is queued again by the
watchdog, and two runs at once tell each reader once."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.constants import job_key_prefix
from redis.asyncio import Redis

from backend.accounts.models import Reader, ReaderType, StaffRole
from backend.catalog.models import Record
from backend.network.models import Library
from entrypoints import worker
from entrypoints.embedded import free_port
from entrypoints.queue import QUEUE, ArqJobs, picks_push_job_id
from notifications import broadcasts
from notifications.models import Notice, PicksPush, PicksPushReader, StaffMessage
from recommendations import pushes
from recommendations.blend import Model
from recommendations.consent import set_personal
from recommendations.pushes import PicksSource
from recommendations.store import ModelCache, PickStore
from recommendations.training import run_training
from tests.integration.booklists.test_booklists import once
from tests.integration.factories import build_network, make_staff, staff_headers
from tests.integration.recommendations.test_recommendations import TITLES, Shelf
from tests.integration.service import NETWORK_TIME, Service
from tests.integration.test_worker import run_worker_process

PUSHES = "/staff/picks-pushes"
LONG_AGO = 200  # days: before the nightly run's 90, so it leaves the card to be picked on demand


@dataclass
class Audience:
    """TL-A, and the cards of a push's audience by what they are."""

    library: Library
    cards: dict[str, Reader]


async def _reader(card: str, library: Library | None, **fields: object) -> Reader:
    return await Reader.create(card_number=card, home_library=library, **fields)


@pytest.fixture
async def tl_a(service: Service) -> Audience:
    """A trained model; at TL-A (and a branch below it) a reader who borrowed lately (picked by the nightly run), one
    who borrowed long ago (left out by it), one who never borrowed, one who switched picks off, a guardian who never
    borrowed with a child whose picks they switched on and one whose they did not (both borrowed long ago); a reader
    of TL-B who borrowed long ago. The queue is emptied after the setup: what the push does, the push does."""
    await build_network()
    desk = await make_staff("push-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    await make_staff("push-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("push-b-desk", StaffRole.LIBRARIAN, "TL-B")
    at_a, at_branch, at_b = [await Library.get(code=code) for code in ("TL-A", "TL-A-1", "TL-B")]
    records = {
        title: await Record.create(title=title, authors=[{"name": author, "role": "author"}], clc_class="I247.5")
        for title, author in TITLES.items()
    }
    shelf = Shelf(desk, at_a, records)
    for n in range(6):  # the co-borrowing the model learns from: readers of no library's audience
        fan = await _reader(f"8000000{n:05d}", None)
        for days_ago, title in [(40, "三体"), (30, "流浪地球"), (20, "银河帝国"), (10, "球状闪电")]:
            await shelf.lend(fan, title, days_ago + n)
        little = await _reader(f"8100000{n:05d}", None, reader_type=ReaderType.CHILD, name="读者")
        for days_ago, title in [(30, "小王子"), (20, "猜猜我有多爱你")]:
            await shelf.lend(little, title, days_ago + n)
    now = datetime.now(UTC)
    store, jobs = PickStore(service.redis), ArqJobs(service.redis)
    guardian = await _reader("820000000001", at_a, name="家长")
    cards = {
        "recent": await _reader("820000000002", at_a),
        "lapsed": await _reader("820000000003", at_branch),
        "never": await _reader("820000000004", at_a),
        "off": await _reader("820000000005", at_a),
        "guardian": guardian,
        "child": await _reader(
            "820000000006", None, reader_type=ReaderType.CHILD, guardian=guardian, name="小明", birth_month="2019-05"
        ),
        "unconsented": await _reader(
            "820000000007", None, reader_type=ReaderType.CHILD, guardian=guardian, name="小红", birth_month="2019-05"
        ),
        "elsewhere": await _reader("820000000008", at_b),
    }
    await shelf.lend(cards["recent"], "三体", 5)
    for name in ("lapsed", "off", "elsewhere"):
        await shelf.lend(cards[name], "三体", LONG_AGO)
        await shelf.lend(cards[name], "流浪地球", LONG_AGO - 1)
    for name in ("child", "unconsented"):
        await shelf.lend(cards[name], "小王子", LONG_AGO)
    await set_personal(cards["off"], False, now, store, jobs)
    await set_personal(cards["child"], True, now, store, jobs)
    await run_training(store, jobs, now, NETWORK_TIME)
    await service.redis.delete(QUEUE)
    return Audience(at_a, cards)


async def _told(reader: Reader) -> list[Notice]:
    return await Notice.filter(reader_id=reader.id, kind="staff_message").order_by("id")


async def _push(service: Service, library_code: str = "TL-A") -> int:
    pushed = await service.client.post(
        PUSHES, json=once(library_code=library_code), headers=await staff_headers(service.client, "push-admin")
    )
    assert pushed.status_code == 202, pushed.text
    push_id: int = pushed.json()["id"]
    return push_id


def _source(service: Service, models: ModelCache) -> PicksSource:
    deps = service.app.state.deps
    return PicksSource(service.redis, deps.jobs, deps.popular_lists, models)


async def test_a_push_run_by_the_worker_reaches_every_reader_whose_picks_are_on_those_left_out_at_night_too(
    service: Service, tl_a: Audience
) -> None:
    cards, store = tl_a.cards, PickStore(service.redis)
    admin = await staff_headers(service.client, "push-admin")
    picked_at_night = {name: await store.picks(card.id) for name, card in cards.items()}

    preview = await service.client.post(f"{PUSHES}/preview", json={"library_code": "TL-A"}, headers=admin)
    refused = await service.client.post(
        PUSHES, json=once(library_code="TL-A"), headers=await staff_headers(service.client, "push-b-desk")
    )
    push_id = await _push(service)
    queued = (await service.client.get(f"{PUSHES}/{push_id}", headers=admin)).json()
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        queued_jobs = await pool.zcard(QUEUE)
        finished = await asyncio.to_thread(run_worker_process, service)
    finally:
        await pool.aclose()
    report = (await service.client.get(f"{PUSHES}/{push_id}", headers=admin)).json()

    assert picked_at_night["recent"] and picked_at_night["lapsed"] is None and picked_at_night["child"] is None
    assert preview.json()["recipients"] == 3 and preview.json()["cards"] == 3
    assert preview.json()["skipped"] == {"no_loans": 2}  # the reader who never borrowed, the guardian's own card
    assert refused.status_code == 403 and refused.json()["code"] == "outside_staff_scope"
    assert (queued["push"]["status"], queued["push"]["recipients"], queued_jobs) == ("queued", 0, 1)
    assert finished.returncode == 0, finished.stderr[-2000:]
    push = report["push"]
    assert (push["status"], push["recipients"], push["cards"], push["skipped"]) == ("done", 3, 3, {"no_loans": 2})
    assert report["message"]["recipients"] == 3 and report["recipients"] == 3
    words = "铜官区图书馆为你挑选了几本书："
    for name in ("recent", "lapsed"):
        (notice,) = await _told(cards[name])
        first, mine = notice.body.split("\n")
        assert first == words and mine.startswith("《") and "三体" not in mine  # on loan to them: never named
    (to_guardian,) = await _told(cards["guardian"])  # of the child's card only: their own has no loans
    assert to_guardian.body.split("\n")[0] == words and to_guardian.body.split("\n")[1].startswith("小明：《")
    assert "小红" not in to_guardian.body
    # Made by the push, as on demand: the cards left out at night have their picks now, and serve them in the app.
    assert await store.picks(cards["lapsed"].id) and await store.picks(cards["child"].id)
    for name in ("never", "off", "unconsented", "elsewhere"):
        assert await _told(cards[name]) == []
        assert await store.picks(cards[name].id) is None, name  # nobody's picks made without their consent
    assert set(await PicksPushReader.filter(push_id=push_id).values_list("reader_id", flat=True)) == {
        cards[name].id for name in ("recent", "lapsed", "child")
    }


class _Outage(ModelCache):
    """The model of the version served, until Redis goes away after `calls` reads (a push's run stopped part-way)."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.calls = calls

    async def model(self, store: PickStore) -> tuple[str, Model] | None:
        if self.calls == 0:
            raise ConnectionError("Redis went away")
        self.calls -= 1
        return await super().model(store)


async def _told_once_each(tl_a: Audience, push_id: int) -> None:
    push = await PicksPush.get(id=push_id)
    message = await StaffMessage.get(id=push.message_id)
    told = {name: len(await _told(card)) for name, card in tl_a.cards.items()}
    assert told == {
        "recent": 1,
        "lapsed": 1,
        "never": 0,
        "off": 0,
        "guardian": 1,
        "child": 0,
        "unconsented": 0,
        "elsewhere": 0,
    }
    assert (push.status, push.recipients, push.cards, push.skipped) == ("done", 3, 3, {"no_loans": 2})
    assert message.recipients == 3
    assert await PicksPushReader.filter(push_id=push_id).count() == 3


async def test_a_push_stopped_part_way_goes_on_where_it_stopped_and_tells_nobody_twice(
    service: Service, tl_a: Audience
) -> None:
    await PickStore(service.redis).forget_reader(tl_a.cards["recent"].id)  # every card of the push picked by it
    push_id = await _push(service)
    run_limit = timedelta(hours=1)

    with pytest.raises(ConnectionError):  # after the first reader's batch: the worker tries the job again later
        await broadcasts.run_picks_push(
            push_id, _source(service, _Outage(calls=1)), service.clock.now, NETWORK_TIME, run_limit, batch=1
        )
    stopped = await PicksPush.get(id=push_id)
    told_before = sum([len(await _told(card)) for card in tl_a.cards.values()])
    again = await worker.push_picks({"deps": service.app.state.deps, "job_try": 2}, push_id)
    once_more = await worker.push_picks({"deps": service.app.state.deps, "job_try": 1}, push_id)

    assert (stopped.status, stopped.recipients, told_before) == ("running", 1, 1)
    assert (again, once_more) == (2, 0)
    await _told_once_each(tl_a, push_id)


async def test_two_runs_of_a_push_at_once_tell_each_reader_once(service: Service, tl_a: Audience) -> None:
    push_id = await _push(service)
    run_limit = timedelta(hours=1)

    told = await asyncio.gather(
        *(
            broadcasts.run_picks_push(
                push_id, _source(service, ModelCache()), service.clock.now, NETWORK_TIME, run_limit, batch=1
            )
            for _ in range(2)
        )
    )

    assert sum(n or 0 for n in told) == 3  # each batch committed by one of them
    await _told_once_each(tl_a, push_id)


async def test_a_push_whose_job_was_lost_is_queued_again_and_goes_on_one_silent_at_its_run_limit_fails(
    service: Service, tl_a: Audience
) -> None:
    await PickStore(service.redis).forget_reader(tl_a.cards["recent"].id)  # every card of the push picked by it
    lost, timed_out = await _push(service), await _push(service)
    run_limit, jobs = timedelta(hours=1), ArqJobs(service.redis)
    with pytest.raises(ConnectionError):  # after the first reader's batch
        await broadcasts.run_picks_push(
            lost, _source(service, _Outage(calls=1)), service.clock.now, NETWORK_TIME, run_limit, batch=1
        )
    now = service.clock.now()
    # Still writing 55 minutes into its hour when its worker died: arq's timeout ended it, and it could not say so.
    await PicksPush.filter(id=timed_out).update(
        status="running", started_at=now - timedelta(minutes=55), heartbeat_at=now
    )
    # arq gave up on both jobs (its tries spent in an outage), or Redis lost them.
    await service.redis.delete(QUEUE, *(job_key_prefix + picks_push_job_id(push) for push in (lost, timed_out)))

    early = await broadcasts.look_after_picks_pushes(service.clock.now(), run_limit, jobs)
    service.clock.advance(broadcasts.PICKS_PUSH_SILENT_FOR.total_seconds() + 60)
    swept = await broadcasts.look_after_picks_pushes(service.clock.now(), run_limit, jobs)
    queued = await service.redis.zrange(QUEUE, 0, -1)
    swept_again = await broadcasts.look_after_picks_pushes(service.clock.now(), run_limit, jobs)
    queued_again = await service.redis.zcard(QUEUE)
    told = await worker.push_picks({"deps": service.app.state.deps, "job_try": 1}, lost)

    assert (early, swept) == (0, 2)  # silent only after a while; then one queued again, one failed
    assert queued == [picks_push_job_id(lost).encode()]
    assert (swept_again, queued_again) == (1, 1)  # queued again while in hand: still one job
    assert told == 2  # after the reader told before the job was lost
    await _told_once_each(tl_a, lost)
    failed = await PicksPush.get(id=timed_out)
    assert (failed.status, failed.recipients) == ("failed", 0) and failed.finished_at is not None


async def test_a_card_switched_off_while_a_push_is_under_way_is_not_told_and_counted_as_switched_off(
    service: Service, tl_a: Audience
) -> None:
    cards, now = tl_a.cards, service.clock.now()
    audience = await pushes.audience(tl_a.library)  # as the push read it as it began
    store, jobs = PickStore(service.redis), ArqJobs(service.redis)
    await set_personal(cards["lapsed"], False, now, store, jobs)
    # Switched off while Redis was unreachable: the switch holds, the picks the nightly run stored are still there.
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        await set_personal(cards["recent"], False, now, PickStore(unreachable), jobs)
    finally:
        await unreachable.aclose()

    picked = await pushes.picks_for(audience, _source(service, ModelCache()), now, NETWORK_TIME.day(now))

    assert {card.card for card in picked.told} == {cards["child"].id}
    assert picked.skipped == {"no_loans": 2, "switched_off": 2}
    assert await store.picks(cards["lapsed"].id) is None  # the refresh the push asked for made none
