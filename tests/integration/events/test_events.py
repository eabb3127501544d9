"""Readers book events on their phones and staff run them: windows, audiences, the waiting list, the door."""

import asyncio
import contextlib
from datetime import timedelta

from backend.accounts.models import Reader, StaffRole
from backend.circulation.models import CreditEvent, CreditReason
from backend.crypto import Keys
from backend.events import booking, doors, services
from backend.events.booking import EventPolicy, FullMark, barred_until, lapse_offers
from backend.events.errors import EventFull, EventNotFound
from backend.events.models import Audience, Booking, BookingStatus, Event, EventSeries
from backend.network.models import Library
from tests.integration.events.eventing import OPENS, STARTS, at, make_event, many_readers
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import BUS, NETWORK_TIME, Service

NEW_EVENT = {
    "library_code": "TL-A",
    "title": "铜都讲坛：徽州的书院",
    "category": "lecture",
    "starts_at": STARTS.isoformat(),
    "ends_at": (STARTS + timedelta(hours=2)).isoformat(),
    "capacity": 2,
    "booking_opens_at": OPENS.isoformat(),
    "booking_closes_at": (STARTS - timedelta(hours=1)).isoformat(),
    "cancel_until": (STARTS - timedelta(days=1)).isoformat(),
    "audience": "adults",
    "place": "三楼报告厅",
}


async def _book(service: Service, reader: LoggedIn, event_id: int, **body: object) -> dict[str, object]:
    response = await service.client.post(f"/events/{event_id}/bookings", json=body, headers=reader.headers)
    return {"http": response.status_code, **response.json()}


async def test_staff_publish_an_event_and_readers_book_it_once_each(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    service.clock.freeze_at(OPENS - timedelta(days=1))
    staff = await staff_headers(service.client, "a-events")
    created = (await service.client.post("/staff/events", json=NEW_EVENT, headers=staff)).json()
    no_room = await service.client.post("/staff/events", json={**NEW_EVENT, "library_code": "TL-A-1"}, headers=staff)
    backwards = await service.client.post(
        "/staff/events", json={**NEW_EVENT, "ends_at": NEW_EVENT["starts_at"]}, headers=staff
    )
    hidden = (await service.client.get("/events", params={"library": "TL-A"})).json()["items"]
    await service.client.post(f"/staff/events/{created['id']}/publish", headers=staff)
    reader, other = await login_reader(service, "openid-r1"), await login_reader(service, "openid-r2")

    early = await _book(service, reader, created["id"])
    reader, other = await at(service, OPENS, reader, other)
    booked = await _book(service, reader, created["id"])
    again = await _book(service, reader, created["id"])
    detail = (await service.client.get(f"/events/{created['id']}", headers=reader.headers)).json()
    listed = (await service.client.get("/events", params={"library": "TL-A", "has_seats": True})).json()["items"]
    await _book(service, other, created["id"])
    full_now = (await service.client.get("/events", params={"library": "TL-A", "has_seats": True})).json()["items"]

    assert created["status"] == "draft" and hidden == []
    assert (no_room.status_code, no_room.json()["code"]) == (409, "no_events_here")
    assert (backwards.status_code, backwards.json()["code"]) == (422, "event_times_invalid")
    assert (early["http"], early["code"]) == (409, "booking_not_open")
    assert (booked["http"], booked["status"]) == (201, "confirmed")
    assert again["id"] == booked["id"]
    assert detail["event"]["seats_left"] == 1 and [b["id"] for b in detail["my_bookings"]] == [booked["id"]]
    assert [e["id"] for e in listed] == [created["id"]] and full_now == []


async def test_a_parent_child_event_takes_children_of_its_ages_with_their_companions(service: Service) -> None:
    await build_network()
    event = await make_event(audience=Audience.CHILDREN, min_age_months=36, max_age_months=72, max_companions=1)
    service.clock.freeze_at(OPENS)
    mum = await login_reader(service, "openid-mum")
    young = await service.client.post(
        "/readers/me/children",
        json={"name": "小米", "birth_month": "2025-01", "guardian_consent": True},
        headers=mum.headers,
    )
    right = await service.client.post(
        "/readers/me/children",
        json={"name": "小豆", "birth_month": "2022-06", "guardian_consent": True},
        headers=mum.headers,
    )

    for_herself = await _book(service, mum, event.id)
    too_young = await _book(service, mum, event.id, child_id=young.json()["id"])
    too_many = await _book(service, mum, event.id, child_id=right.json()["id"], companions=2)
    booked = await _book(service, mum, event.id, child_id=right.json()["id"], companions=1)

    assert (for_herself["http"], for_herself["code"]) == (409, "child_card_required")
    assert (too_young["http"], too_young["code"]) == (409, "outside_age_range")
    assert "3岁至6岁" in str(too_young["title"])
    assert too_many["code"] == "too_many_companions"
    assert (booked["status"], booked["seats"], booked["attendee_name"]) == ("confirmed", 2, "小豆")
    mine = (await service.client.get("/readers/me/bookings", headers=mum.headers)).json()["items"]
    assert [b["id"] for b in mine] == [booked["id"]]


async def test_a_freed_seat_is_offered_down_the_waiting_list_until_someone_takes_it(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=1, waitlist_limit=2)
    service.clock.freeze_at(OPENS)
    first, second, third, late = [await login_reader(service, f"openid-{n}") for n in ("a", "b", "c", "d")]
    seat = await _book(service, first, event.id)
    waiting = [await _book(service, r, event.id) for r in (second, third)]
    refused = await _book(service, late, event.id)

    await service.client.delete(f"/readers/me/bookings/{seat['id']}", headers=first.headers)
    offered = (await service.client.get("/readers/me/bookings", headers=second.headers)).json()["items"][0]
    declined = await service.client.post(f"/readers/me/bookings/{waiting[0]['id']}/decline", headers=second.headers)
    now_offered = (await service.client.get("/readers/me/bookings", headers=third.headers)).json()["items"][0]
    third, late = await at(service, OPENS + timedelta(hours=3), third, late)  # the offer lapses unanswered
    lapsed = await lapse_offers(service.clock.now(), EventPolicy(NETWORK_TIME), FullMark(service.redis), BUS)
    too_late = await service.client.post(f"/readers/me/bookings/{waiting[1]['id']}/accept", headers=third.headers)

    assert [w["status"] for w in waiting] == ["waitlisted", "waitlisted"]
    assert (refused["http"], refused["code"]) == (409, "event_full")
    assert offered["status"] == "offered" and offered["offer_expires_at"] is not None
    assert declined.status_code == 204
    assert now_offered["status"] == "offered"
    assert lapsed == 1
    assert (too_late.status_code, too_late.json()["code"]) == (409, "no_offer_pending")
    again = await _book(service, late, event.id)
    assert again["status"] == "confirmed"  # the seat came free again and the list was empty


async def test_an_offer_accepted_in_time_is_a_seat_and_cancelling_after_the_cut_off_is_refused(
    service: Service,
) -> None:
    await build_network()
    event = await make_event(capacity=1, waitlist_limit=1)
    service.clock.freeze_at(OPENS)
    first, second = await login_reader(service, "openid-a"), await login_reader(service, "openid-b")
    seat = await _book(service, first, event.id)
    waiting = await _book(service, second, event.id)
    await service.client.delete(f"/readers/me/bookings/{seat['id']}", headers=first.headers)

    accepted = await service.client.post(f"/readers/me/bookings/{waiting['id']}/accept", headers=second.headers)
    (second,) = await at(service, STARTS - timedelta(hours=12), second)
    late_cancel = await service.client.delete(f"/readers/me/bookings/{waiting['id']}", headers=second.headers)

    assert accepted.status_code == 200 and accepted.json()["status"] == "confirmed"
    assert (late_cancel.status_code, late_cancel.json()["code"]) == (409, "cancel_cutoff_passed")


async def test_at_the_door_a_ticket_checks_in_once_and_the_door_code_inside_the_window(service: Service) -> None:
    await build_network()
    await make_staff("a-door", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("b-door", StaffRole.LIBRARIAN, "TL-B")
    event = await make_event()
    service.clock.freeze_at(OPENS)
    guest, walker = await login_reader(service, "openid-guest"), await login_reader(service, "openid-walker")
    booked = await _book(service, guest, event.id)
    walking = await _book(service, walker, event.id)

    guest, walker = await at(service, STARTS - timedelta(minutes=10), guest, walker)
    door, elsewhere = await staff_headers(service.client, "a-door"), await staff_headers(service.client, "b-door")
    ticket = (await service.client.get(f"/readers/me/bookings/{booked['id']}/ticket", headers=guest.headers)).json()
    wrong_desk = await service.client.post(
        "/staff/event-check-ins", json={"payload": ticket["payload"]}, headers=elsewhere
    )
    ticket = (await service.client.get(f"/readers/me/bookings/{booked['id']}/ticket", headers=guest.headers)).json()
    scanned = await service.client.post("/staff/event-check-ins", json={"payload": ticket["payload"]}, headers=door)
    replayed = await service.client.post("/staff/event-check-ins", json={"payload": ticket["payload"]}, headers=door)
    forged = await service.client.post(
        "/staff/event-check-ins", json={"payload": ticket["payload"][:-2] + "xx"}, headers=door
    )
    scene = doors.door_scene(Keys(service.settings.effective_secret_key), event.id)
    wrong_code = await service.client.post(
        f"/readers/me/bookings/{walking['id']}/check-in", json={"scene": f"e{event.id}.forged"}, headers=walker.headers
    )
    (walker,) = await at(service, STARTS - timedelta(hours=1), walker)
    too_early = await service.client.post(
        f"/readers/me/bookings/{walking['id']}/check-in", json={"scene": scene}, headers=walker.headers
    )
    (walker,) = await at(service, STARTS + timedelta(minutes=5), walker)
    at_door = await service.client.post(
        f"/readers/me/bookings/{walking['id']}/check-in", json={"scene": scene}, headers=walker.headers
    )

    assert (wrong_desk.status_code, wrong_desk.json()["code"]) == (403, "outside_staff_scope")
    assert scanned.status_code == 200 and scanned.json()["status"] == "checked_in"
    assert (replayed.status_code, replayed.json()["code"]) == (409, "ticket_replayed")
    assert forged.json()["code"] == "ticket_invalid"
    assert wrong_code.json()["code"] == "door_code_invalid"
    assert (too_early.status_code, too_early.json()["code"]) == (409, "check_in_not_open")
    assert at_door.status_code == 200 and at_door.json()["status"] == "checked_in"


async def test_no_shows_cost_credit_once_and_three_in_a_month_bar_booking(service: Service) -> None:
    await build_network()
    service.clock.freeze_at(OPENS)
    reader = await login_reader(service, "openid-absent")
    events = [
        await make_event(
            title=f"故事会{i}", starts_at=STARTS + timedelta(days=i), ends_at=STARTS + timedelta(days=i, hours=2)
        )
        for i in range(3)
    ]
    for event in events:
        await _book(service, reader, event.id)
    after = STARTS + timedelta(days=3)
    policy = EventPolicy(NETWORK_TIME)

    marked = [await doors.mark_no_shows(after, policy, BUS) for _ in range(2)]
    (reader,) = await at(service, after, reader)
    nxt = await make_event(
        title="下一场",
        starts_at=after + timedelta(days=3),
        ends_at=after + timedelta(days=3, hours=2),
        booking_opens_at=after - timedelta(days=1),
        booking_closes_at=after + timedelta(days=2),
    )
    barred = await _book(service, reader, nxt.id)
    reader_id = (await Booking.get(event_id=events[0].id)).booked_by_id

    assert marked == [3, 0]
    assert await CreditEvent.filter(reader_id=reader_id, reason=CreditReason.EVENT_NO_SHOW).count() == 3
    assert (barred["http"], barred["code"]) == (409, "booking_barred")
    assert await Booking.filter(status=BookingStatus.NO_SHOW).count() == 3
    # Ningbo's stricter rule, one no-show bars for 7 days, is the same policy with other numbers.
    ningbo = EventPolicy(NETWORK_TIME, no_show_limit=1, no_show_bar=timedelta(days=7))
    first_end = events[0].ends_at
    assert await barred_until(reader_id, first_end + timedelta(days=6), ningbo) is not None
    assert await barred_until(reader_id, events[2].ends_at + timedelta(days=8), ningbo) is None


async def test_staff_cancel_an_event_and_export_who_had_booked(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event(capacity=1)
    service.clock.freeze_at(OPENS)
    staff = await staff_headers(service.client, "a-events")
    reader, second = await login_reader(service, "openid-one"), await login_reader(service, "openid-two")
    await service.client.patch("/readers/me", json={"name": "王小明"}, headers=reader.headers)
    await _book(service, reader, event.id)
    await _book(service, second, event.id)

    csv = await service.client.get(f"/staff/events/{event.id}/attendees.csv", headers=staff)
    cancelled = await service.client.post(
        f"/staff/events/{event.id}/cancel", json={"reason": "场馆维修"}, headers=staff
    )
    mine = (await service.client.get(f"/events/{event.id}", headers=reader.headers)).json()

    assert csv.status_code == 200 and "王小明" in csv.text and csv.text.count("\n") == 3
    assert cancelled.json()["status"] == "cancelled"
    assert mine["event"]["cancel_reason"] == "场馆维修"
    assert [b["status"] for b in mine["my_bookings"]] == ["event_cancelled"]
    assert await Booking.filter(event_id=event.id, status__in=["confirmed", "waitlisted"]).count() == 0


async def test_a_series_limits_how_many_of_its_events_a_reader_holds_at_once(service: Service) -> None:
    await build_network()
    series = await EventSeries.create(library=await Library.get(code="TL-A"), name="月读公社", max_active_bookings=2)
    club = [
        await make_event(title=f"月读公社·第{i}期", series=series, starts_at=STARTS + timedelta(days=i))
        for i in range(3)
    ]
    service.clock.freeze_at(OPENS)
    reader = await login_reader(service, "openid-club")

    booked = [await _book(service, reader, event.id) for event in club]
    await service.client.delete(f"/readers/me/bookings/{booked[0]['id']}", headers=reader.headers)
    after_cancelling = await _book(service, reader, club[2].id)

    assert [b["http"] for b in booked] == [201, 201, 409]
    assert booked[2]["code"] == "series_limit_reached" and "月读公社" in str(booked[2]["title"])
    assert after_cancelling["status"] == "confirmed"


async def test_the_latest_bar_counts_and_a_family_misses_an_event_once(service: Service) -> None:
    await build_network()
    service.clock.freeze_at(OPENS)
    mum = await login_reader(service, "openid-late-mum")
    for birth in ("2019-05", "2020-05"):
        await service.client.post(
            "/readers/me/children",
            json={"name": "孩子", "birth_month": birth, "guardian_consent": True},
            headers=mum.headers,
        )
    children = (await service.client.get("/readers/me/children", headers=mum.headers)).json()["items"]
    days = [0, 1, 2, 10]
    events = [
        await make_event(
            title=f"故事会{day}", starts_at=STARTS + timedelta(days=day), ends_at=STARTS + timedelta(days=day, hours=1)
        )
        for day in days
    ]
    for event in events:
        for child in children:
            await _book(service, mum, event.id, child_id=child["id"])
    await doors.mark_no_shows(STARTS + timedelta(days=11), EventPolicy(NETWORK_TIME), BUS)
    booker = (await Booking.get(event_id=events[0].id, attendee_id=children[0]["id"])).booked_by_id

    bar = await barred_until(booker, STARTS + timedelta(days=12), EventPolicy(NETWORK_TIME))

    # Days 0-2 set a bar to day 16; day 10 made four inside 30 days, a bar to day 24: the latest counts.
    assert bar == (4, events[3].ends_at + timedelta(days=14))
    no_show_lines = await CreditEvent.filter(reader_id=booker, reason=CreditReason.EVENT_NO_SHOW).count()
    assert no_show_lines == 4  # one per event missed, not one per child


async def test_event_times_need_an_offset_and_door_codes_are_checked_as_given(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event()
    service.clock.freeze_at(OPENS)
    staff = await staff_headers(service.client, "a-events")
    reader = await login_reader(service, "openid-scene")
    booked = await _book(service, reader, event.id)

    naive = await service.client.post(
        "/staff/events", json={**NEW_EVENT, "starts_at": "2026-12-12T10:00:00"}, headers=staff
    )
    odd_scene = await service.client.post(
        f"/readers/me/bookings/{booked['id']}/check-in", json={"scene": "门口的码"}, headers=reader.headers
    )

    assert (naive.status_code, naive.json()["code"]) == (400, "invalid_request")
    assert (odd_scene.status_code, odd_scene.json()["code"]) == (422, "door_code_invalid")


async def test_no_booking_survives_an_event_cancelled_in_the_middle_of_a_rush(service: Service) -> None:
    await build_network()
    staff = await make_staff("a-cancel", StaffRole.LIBRARIAN, "TL-A")
    await staff.fetch_related("library")
    event = await make_event(capacity=50)
    readers = await many_readers(200)

    async def attempt(reader: Reader) -> None:
        with contextlib.suppress(EventFull, EventNotFound):
            await booking.book(
                reader,
                event.id,
                child_id=None,
                companions=0,
                now=OPENS,
                policy=EventPolicy(NETWORK_TIME),
                full=FullMark(service.redis),
            )

    cancel = services.cancel_event(staff, event.id, "暴雨停馆", OPENS, EventPolicy(NETWORK_TIME), BUS)
    await asyncio.gather(*(attempt(r) for r in readers[:100]), cancel, *(attempt(r) for r in readers[100:]))

    assert await Booking.filter(event_id=event.id, status__in=["confirmed", "waitlisted", "offered"]).count() == 0
    assert (await Event.get(id=event.id)).seats_taken == 0
