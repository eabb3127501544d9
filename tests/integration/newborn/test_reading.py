from datetime import timedelta

from backend.circulation.domain_events import LoanOpened
from backend.eventbus import record
from backend.events.models import Audience
from backend.network.models import Library
from backend.newborn.models import ReadingLogEntry
from tests.integration.circulation.lending import lend, take_back
from tests.integration.events.eventing import make_event
from tests.integration.newborn.enrolling import at_ward, born_days_ago, enrol, guardian, set_up, today
from tests.integration.newborn.recording import (
    Family,
    catalogue,
    enrolled_family,
    lend_to_child,
    log_book,
    tla_desk,
)
from tests.integration.service import BUS, Service

PROBLEM = "application/problem+json"


async def titles(service: Service, family: Family, **params: int) -> list[str]:
    page = await service.client.get(f"{family.record}/reading", params=params, headers=family.parent.headers)
    assert page.status_code == 200, page.text
    return [entry["title"] for entry in page.json()["items"]]


async def test_a_guardian_logs_books_read_at_home_from_the_catalogue_by_isbn_and_by_title(service: Service) -> None:
    family = await enrolled_family(service, "openid-reads")
    books = await catalogue()
    yesterday = (today(service) - timedelta(days=1)).isoformat()

    picked = await log_book(service, family, record_id=books["9787533259563"].id, minutes=15, note="宝宝一直在笑")
    scanned = await log_book(service, family, isbn="978-7-5332-5893-1")
    unknown = await log_book(service, family, isbn="9787511012340", title="家里的布书")
    bare = await log_book(service, family, isbn="9787511012340")
    typed = await log_book(service, family, title="  奶奶讲的故事  ", read_on=yesterday)
    first = await service.client.get(f"{family.record}/reading?limit=3", headers=family.parent.headers)
    rest = await service.client.get(f"{family.record}/reading?limit=3&offset=3", headers=family.parent.headers)

    assert [r.status_code for r in (picked, scanned, unknown, bare, typed)] == [201] * 5, typed.text
    entries = [r.json()["entry"] for r in (picked, scanned, unknown, bare, typed)]
    assert [(e["source"], e["title"], e["record_id"], e["isbn13"]) for e in entries] == [
        ("catalogue", "猜猜我有多爱你", books["9787533259563"].id, "9787533259563"),
        ("isbn", "好饿的毛毛虫", books["9787533258931"].id, "9787533258931"),
        ("isbn", "家里的布书", None, "9787511012340"),
        ("isbn", "ISBN 9787511012340", None, "9787511012340"),
        ("free_text", "奶奶讲的故事", None, None),
    ]
    assert (entries[0]["minutes"], entries[0]["note"], entries[4]["read_on"]) == (15, "宝宝一直在笑", yesterday)
    assert [r.json()["books_read"] for r in (picked, scanned, unknown, bare, typed)] == [1, 2, 3, 4, 5]
    assert (first.json()["total"], first.json()["next_offset"], rest.json()["next_offset"]) == (5, 3, None)
    listed = [e["title"] for e in first.json()["items"] + rest.json()["items"]]
    assert listed == ["ISBN 9787511012340", "家里的布书", "好饿的毛毛虫", "猜猜我有多爱你", "奶奶讲的故事"]


async def test_a_book_that_cannot_be_logged_is_refused_with_its_reason(service: Service) -> None:
    family = await enrolled_family(service, "openid-refused")
    books = await catalogue()
    tomorrow = (today(service) + timedelta(days=1)).isoformat()
    before_birth = born_days_ago(service, 11)

    answers = {
        "tomorrow": await log_book(service, family, title="明天的书", read_on=tomorrow),
        "before birth": await log_book(service, family, title="出生前", read_on=before_birth),
        "no minutes": await log_book(service, family, title="一本书", minutes=0),
        "a day long": await log_book(service, family, title="一本书", minutes=1441),
        "long note": await log_book(service, family, title="一本书", note="好" * 501),
        "no book": await log_book(service, family),
        "blank title": await log_book(service, family, title=" "),
        "two books": await log_book(service, family, record_id=books["9787533259563"].id, isbn="9787533258931"),
        "bad isbn": await log_book(service, family, isbn="9787544269474"),
        "no record": await log_book(service, family, record_id=999_999),
    }

    codes = {name: (r.status_code, r.json()["code"]) for name, r in answers.items()}
    assert codes == {
        "tomorrow": (422, "newborn_reading_day_invalid"),
        "before birth": (422, "newborn_reading_day_invalid"),
        "no minutes": (400, "invalid_request"),
        "a day long": (400, "invalid_request"),
        "long note": (400, "invalid_request"),
        "no book": (422, "newborn_reading_book_required"),
        "blank title": (422, "newborn_reading_book_required"),
        "two books": (422, "newborn_reading_book_required"),
        "bad isbn": (422, "invalid_isbn"),
        "no record": (404, "record_not_found"),
    }
    assert await titles(service, family) == []


async def test_a_guardian_corrects_and_removes_entries_of_the_record(service: Service) -> None:
    family = await enrolled_family(service, "openid-corrects")
    entry = (await log_book(service, family, title="月亮，晚安")).json()["entry"]
    path, headers = f"{family.record}/reading/{entry['id']}", family.parent.headers
    yesterday = (today(service) - timedelta(days=1)).isoformat()

    corrected = await service.client.put(
        path, json={"read_on": yesterday, "minutes": 20, "note": "睡前读了两遍"}, headers=headers
    )
    future = await service.client.put(path, json={"read_on": born_days_ago(service, -2)}, headers=headers)
    removed = await service.client.delete(path, headers=headers)
    removed_again = await service.client.delete(path, headers=headers)
    changed_after = await service.client.put(path, json={"read_on": yesterday}, headers=headers)

    assert corrected.status_code == 200, corrected.text
    body = corrected.json()
    assert (body["title"], body["read_on"]) == ("月亮，晚安", yesterday)
    assert (body["minutes"], body["note"]) == (20, "睡前读了两遍")
    assert future.json()["code"] == "newborn_reading_day_invalid"
    assert removed.status_code == 204
    assert [removed_again.json()["code"], changed_after.json()["code"]] == ["newborn_reading_entry_not_found"] * 2
    assert await titles(service, family) == []


async def test_only_the_childs_guardian_sees_or_changes_the_childs_record(service: Service) -> None:
    family = await enrolled_family(service, "openid-own-mum")
    neighbour = await enrolled_family(service, "openid-neighbour", setup=family.setup, child_name="邻家宝宝")
    entry = (await log_book(service, family, title="小兔子乖乖")).json()["entry"]
    theirs, other = family.record, neighbour.parent.headers
    reads = [
        "/reading-list",
        "/events",
        "/reading",
        "/milestones",
        "/milestones/10/certificate.png",
        "/record",
        "/record.zip",
    ]

    answers = [await service.client.get(f"{theirs}{path}", headers=other) for path in reads]
    answers += [
        await service.client.post(
            f"{theirs}/reading", json={"title": "偷偷记一本", "read_on": today(service).isoformat()}, headers=other
        ),
        await service.client.put(
            f"{theirs}/reading/{entry['id']}", json={"read_on": today(service).isoformat()}, headers=other
        ),
        await service.client.delete(f"{theirs}/reading/{entry['id']}", headers=other),
    ]
    through_their_own_child = [
        await service.client.put(
            f"{neighbour.record}/reading/{entry['id']}", json={"read_on": today(service).isoformat()}, headers=other
        ),
        await service.client.delete(f"{neighbour.record}/reading/{entry['id']}", headers=other),
    ]
    anonymous = await service.client.get(f"{theirs}/reading")

    assert {(a.status_code, a.headers["content-type"], a.json()["code"]) for a in answers} == {
        (404, PROBLEM, "child_not_found")
    }
    assert [a.json()["code"] for a in through_their_own_child] == ["newborn_reading_entry_not_found"] * 2
    assert anonymous.status_code == 401
    assert await titles(service, family) == ["小兔子乖乖"]
    assert await titles(service, neighbour) == []


async def test_a_child_of_mine_not_enrolled_has_no_record(service: Service) -> None:
    await set_up(service)
    parent = await guardian(service, "openid-not-enrolled")
    card = await service.client.post(
        "/readers/me/children",
        json={"name": "大宝", "birth_month": "2022-03", "guardian_consent": True},
        headers=parent.headers,
    )
    child = card.json()["id"]

    answer = await service.client.get(f"/readers/me/children/{child}/newborn/reading", headers=parent.headers)

    assert (answer.status_code, answer.json()["code"]) == (404, "newborn_child_not_enrolled")


async def test_a_loan_on_the_childs_card_goes_into_the_record_once(service: Service) -> None:
    family = await enrolled_family(service, "openid-borrows")
    books = await catalogue()
    desk = await tla_desk(service)

    loan_id = await lend_to_child(service, desk, family.parent, family.child_id, "9787533258931-1")
    own = await lend(service, desk, family.parent, "9787533259563-1")  # the guardian's own card: not the child's
    async with BUS.transaction():  # the checkout's event handled a second time
        tla = await Library.get(code="TL-A")
        lent = LoanOpened(loan_id, family.child_id, books["9787533258931"].id, tla.id, service.clock.now())
        record(lent)
    returned = await take_back(service, desk, "9787533258931-1")
    shown = await service.client.get(f"{family.record}/reading", headers=family.parent.headers)

    assert own["status"] == 201 and returned["http"] == 200
    (entry,) = shown.json()["items"]
    assert (entry["source"], entry["title"], entry["record_id"]) == ("loan", "好饿的毛毛虫", books["9787533258931"].id)
    assert entry["read_on"] == today(service).isoformat()
    assert (await ReadingLogEntry.get(id=entry["id"])).loan_id == loan_id


async def test_loans_from_before_the_enrolment_are_not_in_the_record(service: Service) -> None:
    setup = await set_up(service)
    await catalogue()
    desk = await tla_desk(service)
    parent = await guardian(service, "openid-card-first")
    born = born_days_ago(service, 10)
    card = await service.client.post(
        "/readers/me/children",
        json={"name": "小宝", "birth_month": born[:7], "guardian_consent": True},
        headers=parent.headers,
    )
    child_id = card.json()["id"]
    await lend_to_child(service, desk, parent, child_id, "9787533258931-1")

    enrolled = await enrol(
        service.client, parent, at_ward(service, setup, child_name=None, child_id=child_id, date_of_birth=born)
    )
    family = Family(setup, parent, child_id, enrolled.json()["id"])
    before = await titles(service, family)
    await lend_to_child(service, desk, parent, child_id, "9787533259563-1")

    assert enrolled.status_code == 201, enrolled.text
    assert before == []
    assert await titles(service, family) == ["猜猜我有多爱你"]


async def test_the_stage_shows_its_reading_list_and_the_events_for_the_childs_age_nearby(service: Service) -> None:
    family = await enrolled_family(service, "openid-stage")
    books = await catalogue()
    admin = family.setup.admin
    made = await service.client.post(
        "/staff/booklists",
        json={"title": "0-6个月宝宝书单", "audience": "children", "min_age_months": 0, "max_age_months": 6},
        headers=admin,
    )
    booklist_id = made.json()["id"]
    chosen = [{"record_id": r.id} for r in books.values()]
    await service.client.put(f"/staff/booklists/{booklist_id}/records", json={"records": chosen}, headers=admin)
    await service.client.post(f"/staff/booklists/{booklist_id}/publish", headers=admin)
    programme = f"/staff/newborn/programmes/{family.setup.programme_id}"
    stages = (await service.client.get(programme, headers=admin)).json()["stages"]
    linked = [
        {
            "id": s["id"],
            "name": s["name"],
            "min_age_months": s["min_age_months"],
            "max_age_months": s["max_age_months"],
            "pack_type_id": s["pack_type"]["id"],
            "booklist_id": booklist_id if s["min_age_months"] == 0 else None,
        }
        for s in stages
    ]
    assert (await service.client.put(f"{programme}/stages", json={"stages": linked}, headers=admin)).status_code == 200
    soon = service.clock.now() + timedelta(days=3)
    tla, tlb = await Library.get(code="TL-A"), await Library.get(code="TL-B")
    for title, library, low, high, audience, online, hours in [
        ("宝宝爬爬乐", tla, 0, 12, Audience.CHILDREN, False, 0),
        ("线上育儿讲座", tla, None, None, Audience.EVERYONE, True, 1),
        ("绘本剧场（3-6岁）", tla, 36, 72, Audience.CHILDREN, False, 2),
        ("家长读书会", tla, None, None, Audience.ADULTS, False, 3),
        ("枞阳宝宝故事会", tlb, 0, 12, Audience.CHILDREN, False, 4),
    ]:
        await make_event(
            title=title,
            library=library,
            min_age_months=low,
            max_age_months=high,
            audience=audience,
            online=online,
            starts_at=soon + timedelta(hours=hours),
            ends_at=soon + timedelta(hours=hours + 1),
            booking_opens_at=service.clock.now(),
            booking_closes_at=soon,
            cancel_until=soon,
        )
    headers = family.parent.headers

    stage = await service.client.get(f"{family.record}/reading-list", headers=headers)
    nearby = await service.client.get(f"{family.record}/events", headers=headers)
    near_tlb = await service.client.get(
        f"{family.record}/events", params={"lat": tlb.latitude, "lng": tlb.longitude}, headers=headers
    )
    await service.client.post(f"/staff/booklists/{booklist_id}/retire", headers=admin)
    retired = await service.client.get(f"{family.record}/reading-list", headers=headers)

    assert stage.status_code == 200, stage.text
    shown = stage.json()
    assert (shown["age_months"], shown["stage"]["name"], shown["stage"]["booklist_id"]) == (0, "0-6个月", booklist_id)
    assert (shown["booklist"]["id"], shown["booklist"]["title"], shown["booklist"]["records"]) == (
        booklist_id,
        "0-6个月宝宝书单",
        3,
    )
    assert [e["title"] for e in nearby.json()["items"]] == ["宝宝爬爬乐", "线上育儿讲座"]
    assert [e["title"] for e in near_tlb.json()["items"]] == ["线上育儿讲座", "枞阳宝宝故事会"]
    assert retired.json()["booklist"] is None and retired.json()["stage"]["name"] == "0-6个月"
