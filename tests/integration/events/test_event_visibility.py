from datetime import timedelta

from backend.accounts.models import StaffRole
from backend.events.models import EventStatus
from tests.integration.events.eventing import OPENS, make_event
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service


async def test_readers_see_neither_drafts_nor_events_cancelled_before_they_booked_them(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    draft = await make_event(status=EventStatus.DRAFT, title="未公开的讲座")
    withdrawn = await make_event(status=EventStatus.DRAFT, title="取消的草稿")
    service.clock.freeze_at(OPENS - timedelta(days=1))
    staff = await staff_headers(service.client, "a-events")
    await service.client.post(f"/staff/events/{withdrawn.id}/cancel", json={"reason": "不办了"}, headers=staff)
    reader = await login_reader(service, "openid-curious")

    for event in (draft, withdrawn):
        anonymous = await service.client.get(f"/events/{event.id}")
        logged_in = await service.client.get(f"/events/{event.id}", headers=reader.headers)
        assert (anonymous.status_code, anonymous.json()["code"]) == (404, "event_not_found")
        assert (logged_in.status_code, logged_in.json()["code"]) == (404, "event_not_found")


async def test_a_cancelled_event_is_shown_to_whoever_booked_it(service: Service) -> None:
    await build_network()
    await make_staff("a-events", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event()
    service.clock.freeze_at(OPENS)
    staff = await staff_headers(service.client, "a-events")
    booker, other = await login_reader(service, "openid-booker"), await login_reader(service, "openid-other")
    booked = await service.client.post(f"/events/{event.id}/bookings", json={}, headers=booker.headers)
    assert booked.status_code == 201, booked.text
    await service.client.post(f"/staff/events/{event.id}/cancel", json={"reason": "场馆维修"}, headers=staff)

    mine = await service.client.get(f"/events/{event.id}", headers=booker.headers)
    theirs = await service.client.get(f"/events/{event.id}", headers=other.headers)
    shared_link = await service.client.get(f"/events/{event.id}")

    assert mine.status_code == 200
    assert mine.json()["event"]["cancel_reason"] == "场馆维修"
    assert [b["status"] for b in mine.json()["my_bookings"]] == ["event_cancelled"]
    assert (theirs.status_code, theirs.json()["code"]) == (404, "event_not_found")
    assert (shared_link.status_code, shared_link.json()["code"]) == (404, "event_not_found")
