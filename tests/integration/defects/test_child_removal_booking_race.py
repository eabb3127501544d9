"""Removing a child's card gives back the seats booked for the child; while a booking for it runs, one of the two
wins, and neither answers 500."""

import asyncio

import httpx

from backend.events.models import Booking, BookingStatus
from tests.integration.events.eventing import OPENS, make_event
from tests.integration.factories import build_network, login_reader
from tests.integration.service import Service

ROUNDS = 10
CHILD = {"name": "小雨", "birth_month": "2019-05", "guardian_consent": True}
BOOKED = (201, "", 204, "")  # the booking came first: the removal takes the card and its booking with it
REMOVED = (404, "child_not_found", 204, "")  # the removal came first: there is no card to book a seat for


async def test_a_child_card_removed_during_an_event_booking_is_never_a_server_error(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=100)
    service.clock.freeze_at(OPENS)
    outcomes: list[tuple[int, str, int, str]] = []

    for i in range(ROUNDS):
        guardian = await login_reader(service, f"openid-guardian-{i}")
        created = await service.client.post("/readers/me/children", json=CHILD, headers=guardian.headers)
        child_id = created.json()["id"]
        booking = service.client.post(
            f"/events/{event.id}/bookings", json={"child_id": child_id}, headers=guardian.headers
        )
        removal = service.client.delete(f"/readers/me/children/{child_id}", headers=guardian.headers)
        if i % 2:  # either may start first
            removed, booked = await asyncio.gather(removal, booking)
        else:
            booked, removed = await asyncio.gather(booking, removal)
        outcomes.append((booked.status_code, _code(booked), removed.status_code, _code(removed)))

    assert set(outcomes) <= {BOOKED, REMOVED}, outcomes
    assert not await Booking.filter(attendee__guardian_id__isnull=False).exists()  # every child card is gone
    await event.refresh_from_db()
    assert event.seats_taken == 0  # the seats of the bookings that won went back with their cards


async def test_removing_a_child_card_offers_its_seat_to_the_waiting_list(service: Service) -> None:
    await build_network()
    event = await make_event(capacity=1, waitlist_limit=5)
    service.clock.freeze_at(OPENS)
    guardian, waiting = await login_reader(service, "openid-guardian"), await login_reader(service, "openid-waiting")
    child_id = (await service.client.post("/readers/me/children", json=CHILD, headers=guardian.headers)).json()["id"]
    booked = await service.client.post(
        f"/events/{event.id}/bookings", json={"child_id": child_id, "companions": 0}, headers=guardian.headers
    )
    assert booked.json()["status"] == "confirmed"
    assert (await service.client.post(f"/events/{event.id}/bookings", json={}, headers=waiting.headers)).json()[
        "status"
    ] == "waitlisted"

    removed = await service.client.delete(f"/readers/me/children/{child_id}", headers=guardian.headers)

    assert removed.status_code == 204
    offered = await Booking.get(event_id=event.id, attendee__openid="openid-waiting")
    assert offered.status is BookingStatus.OFFERED  # the next in line is offered the child's seat at once
    await event.refresh_from_db()
    assert (event.seats_taken, event.waitlisted) == (1, 0)


def _code(response: httpx.Response) -> str:
    return "" if response.is_success else str(response.json().get("code", ""))
