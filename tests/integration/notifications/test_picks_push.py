"""Pushes of each reader's own picks to a library's readers: who is told (picks on, in the staff member's scope), what
each is told (their own picks only), what the report counts and keeps, one push per request id, and the worker's job
that sends it: a batch at a time, resumed after a crash, never telling a reader twice."""

import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.catalog.models import Copy, Record
from backend.circulation import services as circulation
from backend.network.models import Library
from entrypoints import worker
from notifications import broadcasts
from notifications.models import Notice, PicksPushReader
from recommendations.reasons import Pick, Reason, ReasonKind
from recommendations.store import PickStore
from tests.integration.booklists.test_booklists import child_of, once, reader_at, told
from tests.integration.circulation.lending import TUESDAY, lend
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import BUS, NETWORK_TIME, Service

PUSHES = "/staff/picks-pushes"
DAY = 24 * 3600
TITLES = [
    "三体",
    "流浪地球",
    "球状闪电",
    "银河帝国",
    "活着",
    "许三观卖血记",
    "平凡的世界",
    "人生",
    "围城",
    "小王子",
    "猜猜我有多爱你",
    "好饿的毛毛虫",
]
INTRO = "铜官区图书馆为你挑选了几本书："  # the words of a push by TL-A's staff, unless they write their own
POPULAR = Reason(ReasonKind.POPULAR_RECENTLY)


@pytest.fixture
async def shelf(service: Service) -> dict[str, Any]:
    """The small network, three copies of each title at TL-A (barcodes `P<title number><copy>`), staff at every level,
    and the clock on a Tuesday."""
    await build_network()
    library = await Library.get(code="TL-A")
    records = {}
    for n, title in enumerate(TITLES):
        record = await Record.create(title=title, authors=[{"name": "作者", "role": "author"}])
        for copy in range(3):
            await Copy.create(barcode=f"P{n:02d}{copy}", record=record, home_library=library, current_library=library)
        records[title] = record.id
    for name, role, code in [
        ("network", StaffRole.NETWORK_ADMIN, "TL"),
        ("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A"),
        ("a1-desk", StaffRole.LIBRARIAN, "TL-A-1"),
        ("b-desk", StaffRole.LIBRARIAN, "TL-B"),
        ("a-desk", StaffRole.LIBRARIAN, "TL-A"),
    ]:
        await make_staff(name, role, code)
    service.clock.freeze_at(TUESDAY)
    return {"records": records, **{name: await staff_headers(service.client, name) for name in ("network", "a-admin")}}


def barcode(title: str) -> str:
    return f"P{TITLES.index(title):02d}0"


def picks(shelf: dict[str, Any], *titles: str, reason: Reason = POPULAR) -> list[Pick]:
    """A reader's picks, best first, each for `reason`."""
    return [Pick(str(shelf["records"][title]), float(len(titles) - n), reason) for n, title in enumerate(titles)]


async def trained(service: Service, stored: dict[int, list[Pick]]) -> None:
    """Picks as a training run leaves them in Redis: a version holding these cards' picks, served."""
    store = PickStore(service.redis)
    version = await store.begin(b"")
    await store.write_picks(version, stored)
    await store.publish(version)


async def card_of(reader: LoggedIn) -> int:
    return (await Reader.get(openid=reader.openid)).id


async def borrowed(service: Service, card: int, title: str, copy: int) -> None:
    """A loan of copy `copy` of `title` on the card, lent at TL-A now: a card with loans of its own to pick from."""
    desk = await StaffUser.get(username="a-desk").select_related("library")
    reader = await Reader.get(id=card)
    barcode = f"P{TITLES.index(title):02d}{copy}"
    now = service.clock.now()
    await circulation.checkout(reader, barcode, now=now, bus=BUS, network_time=NETWORK_TIME, staff=desk)


async def sent(service: Service, push_id: int) -> int:
    """The push's job, as the worker runs it (here, on the test's clock): the readers it told."""
    return await worker.push_picks({"deps": service.app.state.deps, "job_try": 1}, push_id)


async def report_of(service: Service, push_id: int, staff: dict[str, str]) -> dict[str, Any]:
    found = await service.client.get(f"{PUSHES}/{push_id}", headers=staff)
    assert found.status_code == 200, found.text
    counted: dict[str, Any] = found.json()
    return counted


async def switch_picks(service: Service, reader: LoggedIn, on: bool, child: int | None = None) -> None:
    path = "/readers/me" if child is None else f"/readers/me/children/{child}"
    switched = await service.client.put(
        f"{path}/recommendation-settings", json={"personal": on}, headers=reader.headers
    )
    assert switched.status_code == 200, switched.text


async def bodies(openid: str) -> list[str]:
    return [notice.body for notice in await told(openid)]


async def test_a_picks_push_tells_exactly_the_readers_whose_picks_are_on_within_the_staffs_scope(
    service: Service, shelf: dict[str, Any]
) -> None:
    adult = await reader_at(service, "openid-adult-a", "TL-A")
    at_branch = await reader_at(service, "openid-adult-a1", "TL-A-1")
    switched_off = await reader_at(service, "openid-off-a", "TL-A")
    await reader_at(service, "openid-untrained-a", "TL-A")  # picks on, but none trained yet
    other_district = await reader_at(service, "openid-adult-b", "TL-B")
    guardian = await reader_at(service, "openid-guardian-a", "TL-A")  # switched their child's picks on
    consented = await child_of(service, guardian, "2019-05")
    parent = await reader_at(service, "openid-parent-a", "TL-A")  # did not: their child's picks stay off
    unconsented = await child_of(service, parent, "2019-05")
    await switch_picks(service, guardian, True, child=consented)
    await switch_picks(service, switched_off, False)
    for n, card in enumerate([await card_of(adult), await card_of(at_branch), await card_of(guardian)]):
        await borrowed(service, card, "球状闪电", n)
    await borrowed(service, await card_of(parent), "许三观卖血记", 0)
    await borrowed(service, consented, "许三观卖血记", 1)
    # Picks stored for every card, the switched-off one's too (as Redis keeps them when it was down at the switch).
    await trained(
        service,
        {
            await card_of(adult): picks(shelf, "三体", "流浪地球"),
            await card_of(at_branch): picks(shelf, "活着"),
            await card_of(switched_off): picks(shelf, "人生"),
            await card_of(other_district): picks(shelf, "围城"),
            await card_of(guardian): picks(shelf, "平凡的世界"),
            consented: picks(shelf, "猜猜我有多爱你", "好饿的毛毛虫"),
            await card_of(parent): picks(shelf, "银河帝国"),
            unconsented: picks(shelf, "小王子"),
        },
    )
    a1_desk = await staff_headers(service.client, "a1-desk")
    b_desk = await staff_headers(service.client, "b-desk")

    preview = await service.client.post(f"{PUSHES}/preview", json={"library_code": "TL-A"}, headers=shelf["a-admin"])
    as_message = await service.client.post(
        "/staff/messages/preview", json={"audience": "picks:TL-A"}, headers=shelf["a-admin"]
    )
    branch_preview = await service.client.post(f"{PUSHES}/preview", json={"library_code": "TL-A-1"}, headers=a1_desk)
    above_branch = await service.client.post(f"{PUSHES}/preview", json={"library_code": "TL-A"}, headers=a1_desk)
    other_district_push = await service.client.post(PUSHES, json=once(library_code="TL-A"), headers=b_desk)
    unknown = await service.client.post(f"{PUSHES}/preview", json={"library_code": "NOPE"}, headers=shelf["a-admin"])
    pushed = await service.client.post(PUSHES, json=once(library_code="TL-A"), headers=shelf["a-admin"])
    queued = pushed.json()
    told_by_job = await sent(service, queued["id"])
    done = await report_of(service, queued["id"], shelf["a-admin"])

    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert (shown["audience"], shown["recipients"], shown["cards"]) == ("picks:TL-A", 4, 5)  # a guardian: two
    assert shown["skipped"] == {"no_loans": 1}  # picks on, never borrowed: nothing of theirs to pick from
    assert shown["title"] == "为你挑选的书"
    assert shown["body"] == f"{INTRO}\n《书名1》（推荐理由）、《书名2》、《书名3》"  # no reader's picks shown to staff
    assert shown["push"] is not None
    assert as_message.json() == {"audience": "picks:TL-A", "recipients": 4}
    assert branch_preview.json()["recipients"] == 1
    assert above_branch.status_code == 403 and above_branch.json()["code"] == "outside_staff_scope"
    assert other_district_push.json()["code"] == "outside_staff_scope"
    assert unknown.status_code == 404 and unknown.json()["code"] == "library_not_found"
    assert pushed.status_code == 202, pushed.text
    assert (queued["status"], queued["recipients"], queued["cards"]) == ("queued", 0, 0)
    assert told_by_job == 4
    push = done["push"]
    assert (push["status"], push["recipients"], push["cards"], push["skipped"]) == ("done", 4, 5, {"no_loans": 1})
    assert push["finished_at"] is not None
    assert done["message"]["recipients"] == 4
    assert await bodies("openid-adult-a") == [f"{INTRO}\n《三体》（近期热门）、《流浪地球》"]
    assert await bodies("openid-adult-a1") == [f"{INTRO}\n《活着》（近期热门）"]
    assert await bodies("openid-guardian-a") == [
        f"{INTRO}\n《平凡的世界》（近期热门）\n小明：《猜猜我有多爱你》（近期热门）、《好饿的毛毛虫》"
    ]
    assert await bodies("openid-parent-a") == [f"{INTRO}\n《银河帝国》（近期热门）"]  # never the child's 《小王子》
    for openid in ("openid-off-a", "openid-untrained-a", "openid-adult-b"):
        assert await told(openid) == []


async def test_each_message_names_the_readers_own_top_picks_as_served_with_the_reason_of_the_first(
    service: Service, shelf: dict[str, Any]
) -> None:
    reading = await reader_at(service, "openid-reading", "TL-A")
    other = await reader_at(service, "openid-other", "TL-A")
    lent = await lend(service, await staff_headers(service.client, "a-desk"), reading, barcode("三体"))
    cited = shelf["records"]["银河帝国"]
    await trained(
        service,
        {
            await card_of(reading): [
                *picks(shelf, "三体", reason=Reason(ReasonKind.BORROWED, record=str(cited))),
                *picks(shelf, "流浪地球", reason=Reason(ReasonKind.SAME_AUTHOR, author="刘慈欣")),
                *picks(shelf, "球状闪电", "活着", "人生"),
            ],
            await card_of(other): picks(
                shelf, "平凡的世界", "围城", reason=Reason(ReasonKind.SAME_CLASS, subject="I247.5")
            ),
        },
    )
    words = {"title": "寒假书单", "body": "寒假快乐！给你挑了几本："}

    pushed = await service.client.post(PUSHES, json=once(library_code="TL-A", **words), headers=shelf["a-admin"])
    await sent(service, pushed.json()["id"])
    report = await service.client.get(f"/staff/messages/{pushed.json()['message_id']}/report", headers=shelf["a-admin"])

    assert lent["status"] == 201 and pushed.status_code == 202, pushed.text
    # 《三体》 is on loan to the reader: the message, like the app, names the next three, the first with its reason.
    assert await bodies("openid-reading") == [
        "寒假快乐！给你挑了几本：\n《流浪地球》（你读过刘慈欣的书）、《球状闪电》、《活着》"
    ]
    assert await bodies("openid-other") == [
        "寒假快乐！给你挑了几本：\n《平凡的世界》（与你常读的 I247.5 同类）、《围城》"
    ]
    notices = await told("openid-reading")
    assert notices[0].title == "寒假书单" and notices[0].link == f"picks={await card_of(reading)}"
    message = report.json()["message"]
    assert (message["title"], message["body"], message["recipients"]) == ("寒假书单", words["body"], 2)
    assert report.json()["outcomes"] == {"pending": 2}


async def test_a_picks_push_report_counts_holds_and_loans_of_the_readers_own_pushed_books_within_30_days(
    service: Service, shelf: dict[str, Any]
) -> None:
    readers = {name: await reader_at(service, f"openid-{name}", "TL-A") for name in ("holder", "borrower", "stranger")}
    readers["late"] = await reader_at(service, "openid-late", "TL-A")
    await trained(
        service,
        {
            await card_of(readers["holder"]): picks(shelf, "三体", "流浪地球", "球状闪电"),
            await card_of(readers["borrower"]): picks(shelf, "活着", "人生", "围城"),
            await card_of(readers["stranger"]): picks(shelf, "平凡的世界", "许三观卖血记", "银河帝国"),
            await card_of(readers["late"]): picks(shelf, "小王子", "猜猜我有多爱你", "好饿的毛毛虫"),
        },
    )
    queued = (await service.client.post(PUSHES, json=once(library_code="TL-A"), headers=shelf["a-admin"])).json()
    await sent(service, queued["id"])
    pushed = (await report_of(service, queued["id"], shelf["a-admin"]))["push"]
    records = shelf["records"]

    service.clock.advance(DAY)
    holder = await login_reader(service, "openid-holder")  # fresh tokens on the moved clock
    (notice,) = (await service.client.get("/readers/me/notices", headers=holder.headers)).json()["items"]
    read = await service.client.post(f"/readers/me/notices/{notice['id']}/read", headers=holder.headers)
    hold = await service.client.post(
        "/readers/me/holds",
        json={"record_id": records["流浪地球"], "pickup_library_code": "TL-A"},
        headers=holder.headers,
    )
    desk = await staff_headers(service.client, "a-desk")
    borrowed = await lend(service, desk, await login_reader(service, "openid-borrower"), barcode("人生"))
    stranger = await login_reader(service, "openid-stranger")
    not_theirs = await lend(service, desk, stranger, barcode("三体"))  # the holder's pick, never the stranger's
    not_theirs_held = await service.client.post(
        "/readers/me/holds",
        json={"record_id": records["活着"], "pickup_library_code": "TL-A"},
        headers=stranger.headers,
    )

    async def report() -> dict[str, Any]:
        return await report_of(service, pushed["id"], await staff_headers(service.client, "a-admin"))

    service.clock.advance(28 * DAY)  # 29 days after the push: its window is open
    too_soon = await broadcasts.settle_picks_reports(service.clock.now())
    service.clock.advance(2 * DAY)  # 31 days after
    too_late = await lend(
        service,
        await staff_headers(service.client, "a-desk"),
        await login_reader(service, "openid-late"),
        barcode("小王子"),
    )
    live = await report()
    now: datetime = service.clock.now()
    settled, again = await broadcasts.settle_picks_reports(now), await broadcasts.settle_picks_reports(now)
    kept = await report()

    assert read.status_code == 204 and hold.status_code == 201, hold.text
    assert borrowed["status"] == 201 and not_theirs["status"] == 201 and not_theirs_held.status_code == 201
    assert too_late["status"] == 201
    assert too_soon == 0
    assert (live["recipients"], live["opened"], live["held"], live["borrowed"], live["acted"]) == (4, 1, 1, 1, 2)
    assert live["push"] == pushed and live["outcomes"] == {"pending": 4}
    assert (settled, again) == (1, 0)
    assert await PicksPushReader.filter(push_id=pushed["id"]).count() == 0
    assert kept == live


async def test_two_settlings_at_once_keep_a_picks_push_report_once(service: Service, shelf: dict[str, Any]) -> None:
    readers = [await reader_at(service, f"openid-settle-{n}", "TL-A") for n in range(2)]
    await trained(service, {await card_of(reader): picks(shelf, TITLES[n]) for n, reader in enumerate(readers)})
    queued = (await service.client.post(PUSHES, json=once(library_code="TL-A"), headers=shelf["a-admin"])).json()
    await sent(service, queued["id"])
    service.clock.advance(31 * DAY)
    live = await report_of(service, queued["id"], await staff_headers(service.client, "a-admin"))
    now: datetime = service.clock.now()

    settled = await asyncio.gather(*(broadcasts.settle_picks_reports(now) for _ in range(2)))
    kept = await report_of(service, queued["id"], await staff_headers(service.client, "a-admin"))

    assert sorted(settled) == [0, 1]
    assert kept == live and kept["recipients"] == 2
    assert await PicksPushReader.filter(push_id=queued["id"]).count() == 0


async def test_a_picks_push_report_is_for_staff_of_the_pushing_library_and_above(
    service: Service, shelf: dict[str, Any]
) -> None:
    reader = await reader_at(service, "openid-reader-a1", "TL-A-1")
    await trained(service, {await card_of(reader): picks(shelf, "三体")})
    a1_desk = await staff_headers(service.client, "a1-desk")
    b_desk = await staff_headers(service.client, "b-desk")
    message = await service.client.post(
        "/staff/messages",
        json={
            "audience": "picks:TL-A-1",
            "title": "新书推荐",
            "body": "看看这些：",
            "idempotency_key": str(uuid.uuid4()),
        },
        headers=a1_desk,
    )
    (queued,) = (await service.client.get(PUSHES, headers=shelf["a-admin"])).json()["items"]
    await sent(service, queued["id"])
    (push,) = (await service.client.get(PUSHES, headers=shelf["a-admin"])).json()["items"]

    by_district = await service.client.get(f"{PUSHES}/{push['id']}", headers=shelf["a-admin"])
    by_other = await service.client.get(f"{PUSHES}/{push['id']}", headers=b_desk)
    message_by_other = await service.client.get(f"/staff/messages/{message.json()['id']}/report", headers=b_desk)
    missing = await service.client.get(f"{PUSHES}/999", headers=shelf["a-admin"])

    assert message.status_code == 201, message.text
    assert (queued["status"], queued["recipients"]) == ("queued", 0)
    assert (push["message_id"], push["audience"], push["recipients"]) == (message.json()["id"], "picks:TL-A-1", 1)
    assert await bodies("openid-reader-a1") == ["看看这些：\n《三体》（近期热门）"]
    assert by_district.status_code == 200 and by_district.json()["recipients"] == 1
    assert by_other.json()["code"] == "outside_staff_scope"
    assert message_by_other.json()["code"] == "outside_staff_scope"
    assert (await service.client.get(PUSHES, headers=b_desk)).json()["items"] == []
    assert missing.status_code == 404 and missing.json()["code"] == "picks_push_not_found"


async def test_a_picks_push_sent_twice_at_once_or_again_is_made_once_and_tells_each_reader_once(
    service: Service, shelf: dict[str, Any]
) -> None:
    readers = [await reader_at(service, f"openid-twice-{n}", "TL-A") for n in range(3)]
    await trained(service, {await card_of(reader): picks(shelf, TITLES[n]) for n, reader in enumerate(readers)})
    tap = once(library_code="TL-A")

    double_tap = await asyncio.gather(
        *(service.client.post(PUSHES, json=tap, headers=shelf["a-admin"]) for _ in range(2))
    )
    retried = await service.client.post(PUSHES, json=tap, headers=shelf["a-admin"])
    reworded = await service.client.post(PUSHES, json={**tap, "title": "别的话"}, headers=shelf["a-admin"])
    other_staff = await service.client.post(PUSHES, json=tap, headers=shelf["network"])
    no_key = await service.client.post(PUSHES, json={"library_code": "TL-A"}, headers=shelf["a-admin"])
    listed = (await service.client.get(PUSHES, headers=shelf["network"])).json()
    jobs = [await sent(service, push["id"]) for push in listed["items"]]
    again = [await sent(service, push["id"]) for push in listed["items"]]  # a job run again: done, sends nothing

    assert [r.status_code for r in double_tap] == [202, 202], [r.text for r in double_tap]
    first = double_tap[0].json()
    assert double_tap[1].json() == first and retried.json() == first
    assert reworded.status_code == 409 and reworded.json()["code"] == "idempotency_key_reused"
    assert other_staff.status_code == 202 and other_staff.json()["id"] != first["id"]
    assert (jobs, again) == ([3, 3], [0, 0])
    assert no_key.status_code == 400
    assert sorted(p["id"] for p in listed["items"]) == sorted([first["id"], other_staff.json()["id"]])
    for n in range(3):
        told_of = await Notice.filter(reader__openid=f"openid-twice-{n}").values_list("message_id", flat=True)
        assert sorted(told_of) == sorted([first["message_id"], other_staff.json()["message_id"]])
