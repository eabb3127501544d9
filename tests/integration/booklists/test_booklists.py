import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest

from backend.accounts.models import Reader, StaffRole
from backend.booklists import services as booklists
from backend.booklists.models import BooklistOpen, BooklistPushReader
from backend.catalog.models import Copy, Record
from backend.catalog.search import index_records
from backend.network.models import Library
from notifications.models import Notice, StaffMessage
from tests.integration.circulation.lending import TUESDAY, lend
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

LISTS = "/staff/booklists"
DAY = 24 * 3600


@pytest.fixture
async def network(service: Service) -> dict[str, Any]:
    """The small network with three books (copies at TL-A), staff at every level, and the clock on a Tuesday."""
    await build_network()
    records = []
    for n, title in enumerate(["猜猜我有多爱你", "好饿的毛毛虫", "三体"]):
        record = await Record.create(title=title, authors=[{"name": f"作者{n}", "role": "author"}])
        library = await Library.get(code="TL-A")
        for copy in range(3):
            await Copy.create(barcode=f"BL{n}{copy:03d}", record=record, home_library=library, current_library=library)
        records.append(record.id)
    await index_records(records)
    for name, role, code in [
        ("network", StaffRole.NETWORK_ADMIN, "TL"),
        ("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A"),
        ("a1-desk", StaffRole.LIBRARIAN, "TL-A-1"),
        ("b-desk", StaffRole.LIBRARIAN, "TL-B"),
        ("a-desk", StaffRole.LIBRARIAN, "TL-A"),
    ]:
        await make_staff(name, role, code)
    service.clock.freeze_at(TUESDAY)
    return {
        "records": records,
        **{
            name: await staff_headers(service.client, name)
            for name in ("a-admin", "a1-desk", "b-desk", "a-desk", "network")
        },
    }


def once(**fields: Any) -> dict[str, Any]:
    """A push's body with a request id of its own, as the client makes one per tap."""
    return {"idempotency_key": str(uuid.uuid4()), **fields}


async def make_list(service: Service, staff: dict[str, str], records: list[int], **fields: Any) -> int:
    body = {"title": "月读公社·十二月", "description": "本月共读\n第二行", **fields}
    made = await service.client.post(LISTS, json=body, headers=staff)
    assert made.status_code == 201, made.text
    list_id: int = made.json()["id"]
    entries = [{"record_id": r, "note": f"第{n}本"} for n, r in enumerate(records, start=1)]
    response = await service.client.put(f"{LISTS}/{list_id}/records", json={"records": entries}, headers=staff)
    assert response.status_code == 200, response.text
    return list_id


async def publish(service: Service, staff: dict[str, str], list_id: int) -> None:
    response = await service.client.post(f"{LISTS}/{list_id}/publish", headers=staff)
    assert response.status_code == 200 and response.json()["status"] == "published", response.text


async def reader_at(service: Service, openid: str, library: str) -> LoggedIn:
    reader = await login_reader(service, openid)
    response = await service.client.patch("/readers/me", json={"home_library_code": library}, headers=reader.headers)
    assert response.status_code == 200, response.text
    return reader


async def child_of(service: Service, guardian: LoggedIn, birth_month: str) -> int:
    response = await service.client.post(
        "/readers/me/children",
        json={"name": "小明", "birth_month": birth_month, "guardian_consent": True},
        headers=guardian.headers,
    )
    assert response.status_code == 201, response.text
    child_id: int = response.json()["id"]
    return child_id


async def told(openid: str) -> list[Notice]:
    reader = await Reader.get(openid=openid)
    return await Notice.filter(reader_id=reader.id, kind="staff_message")


async def test_a_draft_is_invisible_to_readers_a_published_list_is_shown_where_it_is_meant_and_a_retired_one_is_gone(
    service: Service, network: dict[str, Any]
) -> None:
    staff = network["a-admin"]
    list_id = await make_list(service, staff, network["records"][::-1], library_codes=["TL-A"])

    draft_browse = (await service.client.get("/booklists", params={"library": "TL-A-1"})).json()
    draft_detail = await service.client.get(f"/booklists/{list_id}")
    await publish(service, staff, list_id)
    at_branch = (await service.client.get("/booklists", params={"library": "TL-A-1"})).json()
    elsewhere = (await service.client.get("/booklists", params={"library": "TL-B"})).json()
    near = (await service.client.get("/booklists", params={"lat": 30.9410, "lng": 117.8190})).json()
    detail = (await service.client.get(f"/booklists/{list_id}")).json()
    books = (await service.client.get(f"/booklists/{list_id}/records")).json()
    retired = await service.client.post(f"{LISTS}/{list_id}/retire", headers=staff)
    gone_browse = (await service.client.get("/booklists", params={"library": "TL-A-1"})).json()
    gone_detail = await service.client.get(f"/booklists/{list_id}")
    edit_retired = await service.client.put(f"{LISTS}/{list_id}", json={"title": "改"}, headers=staff)

    assert draft_browse["items"] == [] and draft_detail.status_code == 404
    assert [b["id"] for b in at_branch["items"]] == [list_id] and elsewhere["items"] == []
    assert [b["id"] for b in near["items"]] == [list_id]
    assert detail["records"] == 3 and detail["libraries"] == [{"code": "TL-A", "name": "铜官区图书馆"}]
    assert [(e["position"], e["note"], e["record"]["id"]) for e in books["items"]] == [
        (1, "第1本", network["records"][2]),
        (2, "第2本", network["records"][1]),
        (3, "第3本", network["records"][0]),
    ]
    assert books["items"][0]["record"]["available"] == 3
    assert retired.json()["status"] == "retired"
    assert gone_browse["items"] == [] and gone_detail.status_code == 404
    assert edit_retired.json()["code"] == "booklist_retired"


async def test_a_list_for_a_child_s_age_is_found_by_that_age_only(service: Service, network: dict[str, Any]) -> None:
    staff = network["a-admin"]
    babies = await make_list(
        service, staff, network["records"][:2], audience="children", min_age_months=0, max_age_months=18
    )
    adults = await make_list(service, staff, network["records"][2:], audience="adults")
    for list_id in (babies, adults):
        await publish(service, staff, list_id)

    baby = (await service.client.get("/booklists", params={"age_months": 12})).json()
    older = (await service.client.get("/booklists", params={"age_months": 18})).json()
    wrong_band = await service.client.post(
        LISTS, json={"title": "x", "audience": "adults", "min_age_months": 3}, headers=staff
    )

    assert [b["id"] for b in baby["items"]] == [babies]
    assert older["items"] == []
    assert wrong_band.json()["code"] == "booklist_audience_invalid"


async def test_staff_edit_and_push_only_within_their_scope(service: Service, network: dict[str, Any]) -> None:
    list_id = await make_list(service, network["a-admin"], network["records"], library_codes=["TL-A"])
    await publish(service, network["a-admin"], list_id)

    other_district_edit = await service.client.put(
        f"{LISTS}/{list_id}", json={"title": "改"}, headers=network["b-desk"]
    )
    other_district_push = await service.client.post(f"{LISTS}/{list_id}/pushes", json=once(), headers=network["b-desk"])
    other_district_view = await service.client.get(f"{LISTS}/{list_id}", headers=network["b-desk"])
    branch_edit = await service.client.put(f"{LISTS}/{list_id}", json={"title": "改"}, headers=network["a1-desk"])
    outside_audience = await service.client.post(
        LISTS, json={"title": "x", "library_codes": ["TL-B"]}, headers=network["a-admin"]
    )
    as_message = await service.client.post(
        "/staff/messages/preview", json={"audience": f"booklist:{list_id}"}, headers=network["b-desk"]
    )
    mine = (await service.client.get(LISTS, headers=network["b-desk"])).json()

    assert other_district_edit.status_code == 403 and other_district_edit.json()["code"] == "outside_staff_scope"
    assert other_district_push.json()["code"] == "outside_staff_scope"
    assert other_district_view.json()["code"] == "outside_staff_scope"
    assert branch_edit.json()["code"] == "outside_staff_scope"
    assert outside_audience.json()["code"] == "outside_staff_scope"
    assert as_message.json()["code"] == "outside_staff_scope"
    assert mine["items"] == []


async def test_a_pushed_list_reaches_exactly_its_audience_within_staff_scope(
    service: Service, network: dict[str, Any]
) -> None:
    # December 2026: a child born in December 2025 is 12 months old, one born in December 2021 is 60.
    in_band = await reader_at(service, "openid-baby-a", "TL-A")
    await child_of(service, in_band, "2025-12")
    too_old = await reader_at(service, "openid-older-a", "TL-A")
    await child_of(service, too_old, "2021-12")
    other_district = await reader_at(service, "openid-baby-b", "TL-B")
    await child_of(service, other_district, "2025-12")
    at_branch = await reader_at(service, "openid-baby-a1", "TL-A-1")
    await child_of(service, at_branch, "2025-04")  # 20 months
    await child_of(service, at_branch, "2026-06")  # a second child in the band: the guardian is told once
    await reader_at(service, "openid-adult-a", "TL-A")  # no children: not a baby list's reader
    babies = await make_list(
        service,
        network["a-admin"],
        network["records"][:2],
        audience="children",
        min_age_months=0,
        max_age_months=36,
        library_codes=["TL-A"],
    )
    await publish(service, network["a-admin"], babies)

    branch_preview = await service.client.post(f"{LISTS}/{babies}/push-preview", json={}, headers=network["a1-desk"])
    district_preview = await service.client.post(
        f"{LISTS}/{babies}/push-preview", json={"title": "宝宝书单"}, headers=network["a-admin"]
    )
    pushed = await service.client.post(f"{LISTS}/{babies}/pushes", json=once(), headers=network["a1-desk"])
    city_pushed = await service.client.post(f"{LISTS}/{babies}/pushes", json=once(), headers=network["network"])

    assert branch_preview.status_code == 200, branch_preview.text
    preview = branch_preview.json()
    assert preview["recipients"] == 1 and preview["audience"] == f"booklist:{babies}"
    assert preview["title"] == "书单推荐｜月读公社·十二月" and preview["link"] == f"booklist={babies}"
    assert preview["body"].startswith("新华书店阅读点为你推荐书单《月读公社·十二月》：本月共读")
    assert preview["push"] is not None and len(preview["push"]["thing1"]) <= 20
    assert district_preview.json()["recipients"] == 2 and district_preview.json()["title"] == "宝宝书单"
    assert pushed.json()["recipients"] == 1 and city_pushed.json()["recipients"] == 2
    branch_notices = await told("openid-baby-a1")
    assert [n.link for n in branch_notices] == [f"booklist={babies}"] * 2  # the branch's push and the city's
    assert [n.link for n in await told("openid-baby-a")] == [f"booklist={babies}"]  # the city's only
    for openid in ("openid-older-a", "openid-baby-b", "openid-adult-a"):
        assert await told(openid) == []


async def test_a_push_report_counts_opens_holds_and_loans_within_30_days_and_nothing_from_before_or_after(
    service: Service, network: dict[str, Any]
) -> None:
    first, second, _ = network["records"]
    readers = {name: await reader_at(service, f"openid-{name}", "TL-A") for name in ("before", "opener", "late", "on")}
    list_id = await make_list(service, network["a-admin"], [first, second], library_codes=["TL-A"])
    await publish(service, network["a-admin"], list_id)
    assert (await lend(service, network["a-desk"], readers["before"], "BL0000"))["status"] == 201
    service.clock.advance(DAY)
    admin = await staff_headers(service.client, "a-admin")
    pushed = (await service.client.post(f"{LISTS}/{list_id}/pushes", json=once(), headers=admin)).json()

    service.clock.advance(2 * DAY)
    opener = await login_reader(service, "openid-opener")  # a fresh token on the moved clock
    opened = await service.client.get(f"/booklists/{list_id}", headers=opener.headers)
    await service.client.get(f"/booklists/{list_id}", headers=opener.headers)  # counted once
    hold = await service.client.post(
        "/readers/me/holds", json={"record_id": second, "pickup_library_code": "TL-A"}, headers=opener.headers
    )
    on_time = await login_reader(service, "openid-on")
    desk = await staff_headers(service.client, "a-desk")
    lent = await lend(service, desk, on_time, "BL1001")
    service.clock.advance(28 * DAY)  # 31 days after the push
    late = await login_reader(service, "openid-late")
    desk = await staff_headers(service.client, "a-desk")
    lent_late = await lend(service, desk, late, "BL0001")
    admin = await staff_headers(service.client, "a-admin")
    report = await service.client.get(f"{LISTS}/{list_id}/pushes/{pushed['id']}", headers=admin)
    pushes = (await service.client.get(f"{LISTS}/{list_id}/pushes", headers=admin)).json()
    message = await service.client.get(f"/staff/messages/{pushed['message_id']}/report", headers=admin)

    assert opened.status_code == 200 and opened.json()["readers_opened"] == 1
    assert hold.status_code == 201, hold.text
    assert lent["status"] == 201 and lent_late["status"] == 201
    assert report.status_code == 200, report.text
    counted = report.json()
    assert (counted["recipients"], counted["opened"], counted["held"], counted["borrowed"], counted["acted"]) == (
        4,
        1,
        1,
        1,
        2,
    )
    assert counted["outcomes"] == {"pending": 4}
    assert [p["id"] for p in pushes["items"]] == [pushed["id"]]
    assert message.status_code == 200 and message.json()["message"]["recipients"] == 4


async def test_a_push_report_is_for_staff_of_the_pushing_library_and_above(
    service: Service, network: dict[str, Any]
) -> None:
    await reader_at(service, "openid-reader-a1", "TL-A-1")
    list_id = await make_list(service, network["network"], network["records"][:1])
    await publish(service, network["network"], list_id)
    pushed = (await service.client.post(f"{LISTS}/{list_id}/pushes", json=once(), headers=network["a1-desk"])).json()

    by_district = await service.client.get(f"{LISTS}/{list_id}/pushes/{pushed['id']}", headers=network["a-admin"])
    by_other = await service.client.get(f"{LISTS}/{list_id}/pushes/{pushed['id']}", headers=network["b-desk"])
    draft = await make_list(service, network["a-admin"], network["records"][:1])
    draft_push = await service.client.post(f"{LISTS}/{draft}/pushes", json=once(), headers=network["a-admin"])

    assert pushed["recipients"] == 1
    assert by_district.status_code == 200 and by_district.json()["recipients"] == 1
    assert by_other.json()["code"] == "outside_staff_scope"
    assert draft_push.json()["code"] == "booklist_not_published"


async def test_a_push_sent_twice_at_once_or_again_is_made_once_and_tells_each_reader_once(
    service: Service, network: dict[str, Any]
) -> None:
    for n in range(3):
        await reader_at(service, f"openid-twice-{n}", "TL-A")
    list_id = await make_list(service, network["a-admin"], network["records"][:1], library_codes=["TL-A"])
    other_list = await make_list(service, network["a-admin"], network["records"][1:2], library_codes=["TL-A"])
    for made in (list_id, other_list):
        await publish(service, network["a-admin"], made)
    tap = once()

    double_tap = await asyncio.gather(
        *(service.client.post(f"{LISTS}/{list_id}/pushes", json=tap, headers=network["a-admin"]) for _ in range(2))
    )
    retried = await service.client.post(f"{LISTS}/{list_id}/pushes", json=tap, headers=network["a-admin"])
    same_id_other_list = await service.client.post(f"{LISTS}/{other_list}/pushes", json=tap, headers=network["a-admin"])
    same_id_other_staff = await service.client.post(f"{LISTS}/{list_id}/pushes", json=tap, headers=network["network"])
    no_id = await service.client.post(f"{LISTS}/{list_id}/pushes", json={}, headers=network["a-admin"])
    pushes = (await service.client.get(f"{LISTS}/{list_id}/pushes", headers=network["network"])).json()

    assert [r.status_code for r in double_tap] == [201, 201], [r.text for r in double_tap]
    first = double_tap[0].json()
    assert double_tap[1].json() == first and retried.json() == first
    assert same_id_other_list.status_code == 409 and same_id_other_list.json()["code"] == "idempotency_key_reused"
    assert same_id_other_staff.status_code == 201 and same_id_other_staff.json()["id"] != first["id"]
    assert no_id.status_code == 400
    assert sorted(p["id"] for p in pushes["items"]) == sorted([first["id"], same_id_other_staff.json()["id"]])
    for n in range(3):
        told_of = await Notice.filter(reader__openid=f"openid-twice-{n}").values_list("message_id", flat=True)
        assert sorted(told_of) == sorted([first["message_id"], same_id_other_staff.json()["message_id"]])


async def test_a_staff_message_sent_twice_at_once_with_one_idempotency_key_is_sent_once(
    service: Service, network: dict[str, Any]
) -> None:
    await reader_at(service, "openid-message-twice", "TL-A")
    body = {"audience": "library:TL-A", "title": "闭馆通知", "body": "周六闭馆", "idempotency_key": str(uuid.uuid4())}

    sent = await asyncio.gather(
        *(service.client.post("/staff/messages", json=body, headers=network["a-admin"]) for _ in range(2))
    )
    reworded = await service.client.post(
        "/staff/messages", json={**body, "body": "周日闭馆"}, headers=network["a-admin"]
    )

    assert [r.status_code for r in sent] == [201, 201], [r.text for r in sent]
    assert sent[0].json() == sent[1].json()
    assert await StaffMessage.all().count() == 1
    assert len(await told("openid-message-twice")) == 1
    assert reworded.json()["code"] == "idempotency_key_reused"


async def test_a_push_report_keeps_its_numbers_and_forgets_its_readers_once_its_window_closes(
    service: Service, network: dict[str, Any]
) -> None:
    first, second, _ = network["records"]
    readers = {name: await reader_at(service, f"openid-{name}", "TL-A") for name in ("opener", "borrower", "idle")}
    list_id = await make_list(service, network["a-admin"], [first, second], library_codes=["TL-A"])
    await publish(service, network["a-admin"], list_id)
    pushed = (await service.client.post(f"{LISTS}/{list_id}/pushes", json=once(), headers=network["a-admin"])).json()
    service.clock.advance(DAY)
    opener = await login_reader(service, "openid-opener")
    await service.client.get(f"/booklists/{list_id}", headers=opener.headers)
    hold = await service.client.post(
        "/readers/me/holds", json={"record_id": second, "pickup_library_code": "TL-A"}, headers=opener.headers
    )
    borrower = await login_reader(service, "openid-borrower")
    lent = await lend(service, await staff_headers(service.client, "a-desk"), borrower, "BL0000")
    assert hold.status_code == 201 and lent["status"] == 201 and readers["idle"]

    async def report() -> dict[str, Any]:
        admin = await staff_headers(service.client, "a-admin")
        found = await service.client.get(f"{LISTS}/{list_id}/pushes/{pushed['id']}", headers=admin)
        listed = await service.client.get(f"{LISTS}/{list_id}", headers=admin)
        assert found.status_code == 200 and listed.status_code == 200, found.text
        return {**found.json(), "readers_opened": listed.json()["readers_opened"]}

    service.clock.advance(28 * DAY)  # 29 days after the push: its window is open
    too_soon = (await booklists.settle_reports(service.clock.now()), await booklists.purge_opens(service.clock.now()))
    service.clock.advance(2 * DAY)  # 31 days after
    live = await report()
    now: datetime = service.clock.now()
    settled = (await booklists.settle_reports(now), await booklists.purge_opens(now))
    again = (await booklists.settle_reports(now), await booklists.purge_opens(now))
    kept = await report()

    assert too_soon == (0, 0)
    assert (live["recipients"], live["opened"], live["held"], live["borrowed"], live["acted"]) == (3, 1, 1, 1, 2)
    assert live["readers_opened"] == 1
    assert settled == (1, 1) and again == (0, 0)
    assert await BooklistPushReader.filter(push_id=pushed["id"]).count() == 0
    assert await BooklistOpen.filter(booklist_id=list_id).count() == 0
    assert kept == live
