"""A shared event link previews without logging in: published events only; a reader's token adds their bookings."""

from datetime import timedelta

from backend.accounts.models import StaffRole
from backend.events.models import EventStatus
from tests.integration.events.eventing import OPENS, make_event
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service


async def test_anyone_previews_a_published_event_and_a_reader_also_sees_their_bookings(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=3)
    service.clock.freeze_at(OPENS)
    reader = await login_reader(service, "openid-preview")
    booked = await service.client.post(f"/events/{event.id}/bookings", json={}, headers=reader.headers)

    public = await service.client.get(f"/events/{event.id}")
    mine = await service.client.get(f"/events/{event.id}", headers=reader.headers)
    bad_token = await service.client.get(f"/events/{event.id}", headers={"Authorization": "Bearer not-a-token"})

    assert public.status_code == 200, public.text
    assert public.json()["event"]["id"] == event.id and public.json()["event"]["seats_left"] == 2
    assert public.json()["my_bookings"] == []
    assert mine.status_code == 200 and [b["id"] for b in mine.json()["my_bookings"]] == [booked.json()["id"]]
    assert (bad_token.status_code, bad_token.json()["code"]) == (401, "token_invalid")


async def test_drafts_and_cancelled_events_are_not_found_without_a_login(service: Service) -> None:
    await build_network()
    await make_staff("preview-desk", StaffRole.LIBRARIAN, "TL-A")
    draft = await make_event(status=EventStatus.DRAFT)
    cancelled_draft = await make_event(status=EventStatus.DRAFT)
    service.clock.freeze_at(OPENS - timedelta(days=1))
    staff = await staff_headers(service.client, "preview-desk")
    await service.client.post(f"/staff/events/{cancelled_draft.id}/cancel", json={"reason": "改期"}, headers=staff)

    for event_id in (draft.id, cancelled_draft.id, 999_999):
        response = await service.client.get(f"/events/{event_id}")
        assert response.status_code == 404, (event_id, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "event_not_found"
