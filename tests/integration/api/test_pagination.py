from typing import Any

from backend.accounts.models import Reader, StaffRole
from notifications.models import NoticeKind
from notifications.services import NoticeDraft, notify_many
from tests.integration.events.eventing import OPENS, STARTS, make_event
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

PAGE_FIELDS = {"items", "total", "limit", "offset", "next_offset"}


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


async def test_every_list_answers_a_page_asked_for_with_a_bounded_limit_and_offset(service: Service) -> None:
    document = (await service.client.get("/docs/openapi.json")).json()

    lists, wrong = [], []
    for path, operations in document["paths"].items():
        if "get" not in operations:
            continue
        operation = operations["get"]
        json = operation["responses"].get("200", {}).get("content", {}).get("application/json")
        if json is None:  # a PNG, a CSV
            continue
        reference = json["schema"].get("$ref", "")
        schema = _resolved(json["schema"], document)
        parameters = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if schema.get("type") == "array":
            wrong.append(f"GET {path}: a bare array")
        elif "items" in schema.get("properties", {}) or {"limit", "offset"} & parameters.keys():
            lists.append(path)
            limit, offset = parameters.get("limit", {}), parameters.get("offset", {})
            fields = schema.get("properties", {})
            if not fields.keys() >= PAGE_FIELDS or fields["items"].get("type") != "array":
                wrong.append(f"GET {path}: not a page")
            if not (limit.get("minimum") == 1 and limit.get("maximum", 0) <= 200 and offset.get("maximum")):
                wrong.append(f"GET {path}: limit {limit} and offset {offset} not bounded")
            if not reference.endswith(("Page", "SearchOut")):  # named for its items, not after module paths
                wrong.append(f"GET {path}: answers {reference}")

    assert wrong == []
    assert {"/readers/me/notices", "/staff/libraries/{code}/pull-list", "/libraries/nearby", "/records"} <= set(lists)


def _notice(reader_id: int, n: int) -> NoticeDraft:
    return NoticeDraft(reader_id, NoticeKind.STAFF_MESSAGE, f"message:{n}", "sent", f"通知 {n}", "本周六闭馆一天")


async def test_a_reader_pages_through_their_notices_newest_first(service: Service) -> None:
    reader = await login_reader(service, "openid-pages")
    reader_id = (await Reader.get(openid="openid-pages")).id
    await notify_many([_notice(reader_id, n) for n in range(1, 6)], service.clock.now())

    first = (await service.client.get("/readers/me/notices", params={"limit": 3}, headers=reader.headers)).json()
    rest = (await service.client.get("/readers/me/notices", params={"offset": 3}, headers=reader.headers)).json()

    assert [n["title"] for n in first["items"] + rest["items"]] == [f"通知 {n}" for n in range(5, 0, -1)]
    assert (first["total"], first["limit"], first["offset"], first["next_offset"]) == (5, 3, 0, 3)
    assert (rest["total"], rest["limit"], rest["offset"], rest["next_offset"]) == (5, 20, 3, None)


async def test_a_librarian_pages_through_events_starting_together_without_overlap(service: Service) -> None:
    await build_network()
    await make_staff("pages-desk", StaffRole.LIBRARIAN, "TL-A")
    service.clock.freeze_at(OPENS)
    desk = await staff_headers(service.client, "pages-desk")
    made = [(await make_event(title=f"读书会 {n}", starts_at=STARTS)).id for n in range(5)]  # one start: ids decide

    pages = []
    offset: int | None = 0
    while offset is not None:
        params = {"limit": 2, "offset": offset}
        response = await service.client.get("/staff/libraries/TL-A/events", params=params, headers=desk)
        pages.append(response.json())
        offset = pages[-1]["next_offset"]

    assert [[e["id"] for e in page["items"]] for page in pages] == [made[0:2], made[2:4], made[4:]]
    assert [(page["total"], page["offset"]) for page in pages] == [(5, 0), (5, 2), (5, 4)]


async def test_the_attendee_list_pages_in_its_order_of_who_comes(service: Service) -> None:
    await build_network()
    await make_staff("pages-door", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event(capacity=2, waitlist_limit=5)
    service.clock.freeze_at(OPENS)
    door = await staff_headers(service.client, "pages-door")
    readers = [await login_reader(service, f"openid-attendee-{n}") for n in range(5)]
    booked = [
        (await service.client.post(f"/events/{event.id}/bookings", json={}, headers=r.headers)).json() for r in readers
    ]
    await service.client.delete(f"/readers/me/bookings/{booked[0]['id']}", headers=readers[0].headers)

    path = f"/staff/events/{event.id}/attendees"
    first = (await service.client.get(path, params={"limit": 2}, headers=door)).json()
    rest = (await service.client.get(path, params={"offset": 2}, headers=door)).json()

    listed = [(a["booking_id"], a["status"]) for a in first["items"] + rest["items"]]
    assert listed == [
        (booked[1]["id"], "confirmed"),
        (booked[2]["id"], "offered"),
        (booked[3]["id"], "waitlisted"),
        (booked[4]["id"], "waitlisted"),
    ]
    assert (first["total"], first["next_offset"], rest["next_offset"]) == (4, 2, None)


async def test_a_page_larger_than_the_lists_most_is_refused_naming_limit(service: Service) -> None:
    reader = await login_reader(service, "openid-page-size")

    response = await service.client.get(
        "/readers/me/notices", params={"limit": 51}, headers={**reader.headers, "Accept-Language": "en"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [(error["key"], error["source"]) for error in response.json()["errors"]] == [("limit", "query")]
