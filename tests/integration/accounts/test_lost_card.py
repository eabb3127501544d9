import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend.accounts import tokens
from backend.accounts.cards import luhn_digit
from backend.accounts.models import Reader, StaffRole
from backend.accounts.tokens import Principal, PrincipalKind
from backend.catalog.models import Copy, ItemType, Record
from backend.network.models import Library
from tests.integration.circulation.lending import TUESDAY, lend, my_loans, take_back
from tests.integration.events.eventing import OPENS, STARTS, at, make_event
from tests.integration.factories import LoggedIn, bearer, build_network, login_reader, make_staff, staff_headers
from tests.integration.outages.faults import HeldWrites
from tests.integration.service import Service

# 01:30 on 2 December in Tongling, still 1 December in UTC: the desk is told the network's date.
LATE_NIGHT = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)


@pytest.fixture
async def desk(service: Service) -> dict[str, str]:
    """A network with one title's copies at TL-A, and a librarian at a branch of the other county (TL-B-1)."""
    await build_network()
    record = await Record.create(title="三体", authors=[{"name": "刘慈欣", "role": "author"}], isbn13="9787536692930")
    tl_a = await Library.get(code="TL-A")
    for barcode in ("A0001", "A0002", "A0003"):
        await Copy.create(
            barcode=barcode, record=record, home_library=tl_a, current_library=tl_a, item_type=ItemType.BOOK
        )
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("far-desk", StaffRole.LIBRARIAN, "TL-B-1")
    return await staff_headers(service.client, "far-desk")


async def _card(service: Service, reader: LoggedIn) -> dict[str, Any]:
    response = await service.client.get("/readers/me/card", headers=reader.headers)
    assert response.status_code == 200, response.text
    card: dict[str, Any] = response.json()
    return card


async def _report_lost(service: Service, reader: LoggedIn, card_number: str, **body: object) -> httpx.Response:
    return await service.client.post(
        "/readers/me/card/replacement", json={"card_number": card_number, **body}, headers=reader.headers
    )


async def _replace_at_desk(
    service: Service, desk: dict[str, str], card_number: str, *, end_sessions: bool
) -> httpx.Response:
    return await service.client.post(
        f"/staff/readers/{card_number}/card-replacement", json={"end_sessions": end_sessions}, headers=desk
    )


async def _verify(service: Service, desk: dict[str, str], payload: str) -> httpx.Response:
    return await service.client.post("/staff/cards/verify", json={"payload": payload}, headers=desk)


def _sequence(card_number: str) -> int:
    return int(card_number[-9:-1])  # the eight digits between the network prefix and the check digit


def _never_issued(card_number: str) -> str:
    body = card_number[:-9] + "99999999"  # the network's prefix, a sequence number far ahead of the counter
    return body + luhn_digit(body)


def _listed(body: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_a_reader_reports_the_card_lost_and_its_old_codes_and_number_are_refused_as_lost(
    service: Service, desk: dict[str, str]
) -> None:
    service.clock.freeze_at(LATE_NIGHT)
    reader = await login_reader(service, "openid-lost")
    before = await _card(service, reader)
    old = before["card_number"]
    shown_before = before["payload"]  # still within its minute when the desk scans it below

    reported = await _report_lost(service, reader, old)
    me = (await service.client.get("/readers/me", headers=reader.headers)).json()
    scanned_old = await _verify(service, desk, shown_before)
    typed_old = await service.client.get(f"/staff/readers/{old}/credit", headers=desk)
    typed_old_en = await service.client.get(f"/staff/readers/{old}/credit", headers={**desk, "Accept-Language": "en"})
    never_issued = await service.client.get(f"/staff/readers/{_never_issued(old)}/credit", headers=desk)
    scanned_new = await _verify(service, desk, (await _card(service, reader))["payload"])

    assert reported.status_code == 200, reported.text
    new = reported.json()["card_number"]
    assert new != old and _sequence(new) == _sequence(old) + 1
    assert reported.json()["replaced_card_number"] == old
    assert (reported.json()["reported_by"], reported.json()["sessions_ended"]) == ("reader", 0)
    assert me["card_number"] == new  # the same account, its token still good: a lost card is not a lost phone
    assert (scanned_old.status_code, scanned_old.json()["code"]) == (409, "card_reported_lost")
    assert (typed_old.status_code, typed_old.json()["code"]) == (409, "card_reported_lost")
    assert "2026-12-02" in typed_old.json()["title"] and "挂失" in typed_old.json()["title"]
    assert typed_old_en.json()["title"].startswith(f"The card {old} was reported lost on 2026-12-02")
    assert (never_issued.status_code, never_issued.json()["code"]) == (404, "reader_card_not_found")
    assert scanned_new.status_code == 200 and scanned_new.json()["card_number"] == new
    with pytest.raises(IntegrityError):  # whatever happens to the counter, the lost number is never a card again
        await Reader.create(card_number=old)


async def test_the_same_report_sent_at_once_from_the_app_and_a_desk_gives_one_new_number(
    service: Service, desk: dict[str, str]
) -> None:
    reader = await login_reader(service, "openid-double-tap")
    old = (await _card(service, reader))["card_number"]

    answers = await asyncio.gather(
        *(_report_lost(service, reader, old) for _ in range(4)),
        *(_replace_at_desk(service, desk, old, end_sessions=False) for _ in range(4)),
    )
    later = await _report_lost(service, reader, old)
    someone_else = await login_reader(service, "openid-next-in-line")
    their_number = (await _card(service, someone_else))["card_number"]

    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    numbers = {a.json()["card_number"] for a in answers}
    assert len(numbers) == 1 and old not in numbers
    (new,) = numbers
    assert len({(a.json()["reported_by"], a.json()["reported_lost_at"]) for a in answers}) == 1  # one report
    assert later.status_code == 200 and later.json()["card_number"] == new
    assert _sequence(their_number) == _sequence(new) + 1  # no number was spent on the repeats


async def test_loans_history_and_credit_follow_the_reader_to_the_new_card(
    service: Service, desk: dict[str, str]
) -> None:
    service.clock.freeze_at(TUESDAY)
    a_desk = await staff_headers(service.client, "a-desk")
    reader = await login_reader(service, "openid-borrower")
    await service.client.put("/readers/me/reading-history", json={"keep": True}, headers=reader.headers)
    assert (await lend(service, a_desk, reader, "A0001"))["status"] == 201
    assert (await lend(service, a_desk, reader, "A0002"))["status"] == 201
    assert (await take_back(service, a_desk, "A0002"))["http"] == 200
    old = (await _card(service, reader))["card_number"]
    stale_payload = (await _card(service, reader))["payload"]

    replaced = await _replace_at_desk(service, desk, old, end_sessions=False)
    new = replaced.json()["card_number"]
    loans = await my_loans(service, reader)
    history = _listed((await service.client.get("/readers/me/reading-history", headers=reader.headers)).json())
    credit = await service.client.get(f"/staff/readers/{new}/credit", headers=desk)
    refused = await service.client.post(
        "/staff/checkouts", json={"card_payload": stale_payload, "barcode": "A0003"}, headers=a_desk
    )
    lent_on_new = await lend(service, a_desk, reader, "A0003")

    assert replaced.status_code == 200 and replaced.json()["reported_by"] == "staff"
    assert replaced.json()["wechat_freeze_advice"] is None  # a lost card, not a lost phone
    assert [loan["barcode"] for loan in loans] == ["A0001"]
    assert [item["title"] for item in history] == ["三体"]
    assert credit.status_code == 200
    assert (credit.json()["score"], credit.json()["on_loan"]) == (101, 1)  # the on-time return is theirs still
    assert (refused.status_code, refused.json()["code"]) == (409, "card_reported_lost")
    assert lent_on_new["status"] == 201 and lent_on_new["card_number"] == new


async def test_a_desk_ends_the_logins_of_a_reader_who_lost_their_phone_at_once(
    service: Service, desk: dict[str, str]
) -> None:
    phone = await login_reader(service, "openid-phone-lost")
    tablet = await login_reader(service, "openid-phone-lost")
    old = (await _card(service, phone))["card_number"]

    replaced = await _replace_at_desk(service, desk, old, end_sessions=True)
    # No clock moved: the access tokens still have their 15 minutes, and are refused all the same.
    on_phone = await service.client.get("/readers/me", headers=phone.headers)
    on_tablet = await service.client.get("/readers/me/card", headers=tablet.headers)
    refreshed = await service.client.post("/auth/refresh", json={"refresh_token": phone.tokens["refresh_token"]})
    new_phone = await login_reader(service, "openid-phone-lost")
    me = await service.client.get("/readers/me", headers=new_phone.headers)

    assert replaced.status_code == 200 and replaced.json()["sessions_ended"] == 2
    # The app on a phone still signed in to WeChat logs in again by itself (as `new_phone` does): the desk is told so.
    assert "冻结微信账号" in replaced.json()["wechat_freeze_advice"]
    assert (on_phone.status_code, on_phone.json()["code"]) == (401, "token_invalid")
    assert (on_tablet.status_code, on_tablet.json()["code"]) == (401, "token_invalid")
    assert (refreshed.status_code, refreshed.json()["code"]) == (401, "refresh_token_invalid")
    assert me.status_code == 200 and me.json()["card_number"] == replaced.json()["card_number"]


async def test_no_login_refreshed_while_the_desk_ends_them_survives(service: Service, desk: dict[str, str]) -> None:
    logins = [await login_reader(service, "openid-racing") for _ in range(12)]
    old = (await _card(service, logins[0]))["card_number"]

    refreshes = [
        service.client.post("/auth/refresh", json={"refresh_token": login.tokens["refresh_token"]}) for login in logins
    ]
    *answers, replaced = await asyncio.gather(*refreshes, _replace_at_desk(service, desk, old, end_sessions=True))
    survivors = [a.json() for a in answers if a.status_code == 200]
    still_in = [
        (await service.client.get("/readers/me", headers=bearer(s["access_token"]))).status_code for s in survivors
    ]
    refreshed_again = [
        (await service.client.post("/auth/refresh", json={"refresh_token": s["refresh_token"]})).status_code
        for s in survivors
    ]

    assert replaced.status_code == 200
    assert {a.status_code for a in answers} <= {200, 401}
    assert still_in == [401] * len(survivors)
    assert refreshed_again == [401] * len(survivors)


async def test_a_guardian_reports_a_childs_card_lost(service: Service, desk: dict[str, str]) -> None:
    guardian = await login_reader(service, "openid-guardian")
    stranger = await login_reader(service, "openid-stranger")
    child = await service.client.post(
        "/readers/me/children",
        json={"name": "小明", "birth_month": "2021-03", "guardian_consent": True},
        headers=guardian.headers,
    )
    child_id, old = child.json()["id"], child.json()["card_number"]
    shown = (await service.client.get(f"/readers/me/children/{child_id}/card", headers=guardian.headers)).json()

    not_theirs = await service.client.post(
        f"/readers/me/children/{child_id}/card/replacement", json={"card_number": old}, headers=stranger.headers
    )
    wrong_number = await service.client.post(
        f"/readers/me/children/{child_id}/card/replacement",
        json={"card_number": (await _card(service, guardian))["card_number"]},
        headers=guardian.headers,
    )
    reported = await service.client.post(
        f"/readers/me/children/{child_id}/card/replacement",
        json={"card_number": old, "end_sessions": True},
        headers=guardian.headers,
    )
    after = (await service.client.get(f"/readers/me/children/{child_id}", headers=guardian.headers)).json()
    scanned_old = await _verify(service, desk, shown["payload"])
    guardian_still_in = await service.client.get("/readers/me", headers=guardian.headers)

    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "child_not_found")
    assert (wrong_number.status_code, wrong_number.json()["code"]) == (409, "card_not_current")
    assert reported.status_code == 200
    assert (reported.json()["reported_by"], reported.json()["reader_type"]) == ("guardian", "child")
    assert reported.json()["sessions_ended"] == 0  # a child has no login, and the guardian's are the guardian's
    assert after["card_number"] == reported.json()["card_number"] != old
    assert (scanned_old.status_code, scanned_old.json()["code"]) == (409, "card_reported_lost")
    assert guardian_still_in.status_code == 200


async def test_an_event_ticket_shown_before_the_card_was_replaced_still_lets_the_reader_in(service: Service) -> None:
    await build_network()
    await make_staff("door", StaffRole.LIBRARIAN, "TL-A")
    event = await make_event()
    service.clock.freeze_at(OPENS)
    reader = await login_reader(service, "openid-ticket-holder")
    booked = await service.client.post(f"/events/{event.id}/bookings", json={}, headers=reader.headers)
    (reader,) = await at(service, STARTS - timedelta(minutes=10), reader)
    door = await staff_headers(service.client, "door")
    ticket = await service.client.get(f"/readers/me/bookings/{booked.json()['id']}/ticket", headers=reader.headers)
    old = (await _card(service, reader))["card_number"]

    replaced = await _report_lost(service, reader, old)
    checked_in = await service.client.post(
        "/staff/event-check-ins", json={"payload": ticket.json()["payload"]}, headers=door
    )

    # A ticket names the booking, not the card: the seat is the reader's whatever their card's number.
    assert replaced.status_code == 200
    assert checked_in.status_code == 200 and checked_in.json()["status"] == "checked_in"


async def test_desk_replacements_need_a_staff_login_and_a_real_card_number(
    service: Service, desk: dict[str, str]
) -> None:
    reader = await login_reader(service, "openid-nosy")
    own = (await _card(service, reader))["card_number"]

    as_reader = await _replace_at_desk(service, reader.headers, own, end_sessions=False)
    mistyped = await _replace_at_desk(service, desk, own[:-1] + str((int(own[-1]) + 1) % 10), end_sessions=False)
    unknown = await _replace_at_desk(service, desk, _never_issued(own), end_sessions=False)
    without_choice = await service.client.post(f"/staff/readers/{own}/card-replacement", json={}, headers=desk)
    not_this_card = await _report_lost(service, reader, _never_issued(own))

    assert (as_reader.status_code, as_reader.json()["code"]) == (403, "staff_only")
    assert (mistyped.status_code, mistyped.json()["code"]) == (422, "card_number_invalid")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reader_card_not_found")
    assert without_choice.status_code == 400  # the desk must ask whether the phone was lost too
    assert (not_this_card.status_code, not_this_card.json()["code"]) == (409, "card_not_current")
    assert (await _card(service, reader))["card_number"] == own


async def test_a_login_opened_while_the_desk_ends_the_readers_logins_keeps_no_token_of_the_old_generation(
    service: Service, postgres_url: str
) -> None:
    reader = await login_reader(service, "openid-login-racing")
    reader_id = (await Reader.get(openid="openid-login-racing")).id
    ending, release = asyncio.Event(), asyncio.Event()

    async def desk_ending_sessions() -> None:
        async with in_transaction():  # as a desk's replacement does: the reader's row lock, then their sessions
            await Reader.select_for_update().get(id=reader_id)
            await tokens.end_reader_sessions(reader_id, service.clock.now())
            ending.set()
            await release.wait()

    ended = asyncio.create_task(desk_ending_sessions())
    await ending.wait()
    login = asyncio.create_task(
        tokens.open_session(
            service.app.state.deps.tokens, Principal(PrincipalKind.READER, reader_id), service.clock.now()
        )
    )
    monitor = await asyncpg.connect(postgres_url)
    try:
        await HeldWrites(monitor).until_waiting(1)  # the login waits on the desk's transaction
    finally:
        await monitor.close()
    release.set()
    await ended
    pair = await login

    me = await service.client.get("/readers/me", headers=bearer(pair.access_token))
    refreshed = await service.client.post("/auth/refresh", json={"refresh_token": pair.refresh_token})
    old_login = await service.client.get("/readers/me", headers=reader.headers)

    # The login came after the end of the sessions (it waited for it), so both its tokens are of the new generation.
    # Had it read the old generation, its access token would be refused and its refresh token would still work.
    assert (me.status_code, refreshed.status_code) == (200, 200), (me.text, refreshed.text)
    assert old_login.status_code == 401


async def test_a_search_by_a_card_number_reported_lost_says_so_as_every_desk_look_up_does(
    service: Service, desk: dict[str, str]
) -> None:
    reader = await login_reader(service, "openid-searched-lost")
    old = (await _card(service, reader))["card_number"]
    assert (await _report_lost(service, reader, old)).status_code == 200

    lost = await service.client.get("/staff/readers", params={"card_number": old}, headers=desk)
    never_issued = await service.client.get("/staff/readers", params={"card_number": _never_issued(old)}, headers=desk)

    assert (lost.status_code, lost.json()["code"]) == (409, "card_reported_lost")
    assert never_issued.status_code == 200 and never_issued.json()["total"] == 0
