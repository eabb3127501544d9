import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tortoise.transactions import in_transaction

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.catalog.models import Copy, CopyStatus, Record
from backend.catalog.search import index_records
from backend.circulation import holds, services
from backend.circulation.errors import HoldAlreadyPlaced, HoldLimitReached
from backend.circulation.holds import HoldPolicy
from backend.circulation.models import CreditEvent, CreditReason, Hold, HoldStatus
from backend.network.models import Library
from notifications.models import Notice, NoticeKind
from tests.integration.circulation.lending import TUESDAY, lend, my_loans, reader_id, take_back
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import BUS, NETWORK_TIME, Service

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLDS = "/readers/me/holds"


@pytest.fixture
async def title(service: Service) -> dict[str, object]:
    """活着 with a copy at TL-A (HL01) and one at TL-B (HL02); desks at TL-A, TL-B and the pickup branch TL-A-1."""
    await build_network()
    record = await Record.create(title="活着", authors=[{"name": "余华", "role": "author"}])
    for barcode, code in [("HL01", "TL-A"), ("HL02", "TL-B")]:
        library = await Library.get(code=code)
        await Copy.create(barcode=barcode, record=record, home_library=library, current_library=library)
    await index_records([record.id])
    for name, code in [("a-desk", "TL-A"), ("b-desk", "TL-B"), ("p-desk", "TL-A-1")]:
        await make_staff(name, StaffRole.LIBRARIAN, code)
    service.clock.freeze_at(TUESDAY)
    desks = {name: await staff_headers(service.client, name) for name in ("a-desk", "b-desk", "p-desk")}
    return {"record_id": record.id, **desks}


async def place(service: Service, reader: LoggedIn, record_id: object, pickup: str = "TL-A-1") -> dict[str, object]:
    response = await service.client.post(
        HOLDS, json={"record_id": record_id, "pickup_library_code": pickup}, headers=reader.headers
    )
    return {"http": response.status_code, **response.json()}


async def my_holds(service: Service, reader: LoggedIn) -> list[dict[str, object]]:
    found: list[dict[str, object]] = (await service.client.get(HOLDS, headers=reader.headers)).json()["items"]
    return found


async def receive(service: Service, desk: object, barcode: str, at: str | None = None) -> dict[str, object]:
    body = {"barcode": barcode} if at is None else {"barcode": barcode, "library_code": at}
    response = await service.client.post("/staff/transits/receive", json=body, headers=desk)
    return {"http": response.status_code, **response.json()}


async def test_a_hold_travels_to_the_pickup_library_and_waits_there_for_its_reader(
    service: Service, title: dict[str, object]
) -> None:
    first, second, other = [await login_reader(service, f"openid-{n}") for n in ("first", "second", "other")]
    await lend(service, title["a-desk"], other, "HL01")  # type: ignore[arg-type]
    await lend(service, title["b-desk"], other, "HL02")  # type: ignore[arg-type]

    placed = await place(service, first, title["record_id"])
    await place(service, second, title["record_id"])
    queue = [(await my_holds(service, reader))[0] for reader in (first, second)]
    returned = await take_back(service, title["b-desk"], "HL02")  # type: ignore[arg-type]
    on_the_way = (await my_holds(service, first))[0]
    arrived = await receive(service, title["p-desk"], "HL02")
    ready = (await my_holds(service, first))[0]
    someone_else = await lend(service, title["p-desk"], second, "HL02")  # type: ignore[arg-type]
    collected = await lend(service, title["p-desk"], first, "HL02")  # type: ignore[arg-type]

    assert placed["http"] == 201 and placed["status"] == "waiting"
    assert [(h["position"], h["waiting"]) for h in queue] == [(1, 2), (2, 2)]
    assert [h["estimated_wait_days"] for h in queue] == [30, 30]  # two copies: both in the first round of loans
    first_card = (await Reader.get(openid="openid-first")).card_number
    assert (returned["status"], returned["send_to_library_code"], returned["hold_card_number"]) == (
        "in_transit",
        "TL-A-1",
        first_card,
    )
    assert on_the_way["status"] == "in_transit"
    assert (arrived["status"], arrived["hold_card_number"]) == ("on_hold_shelf", first_card)
    expires = datetime.fromisoformat(str(ready["expires_at"])).astimezone(SHANGHAI)
    assert ready["status"] == "ready" and expires.date().isoformat() == "2026-12-08"  # 7 days on the hold shelf
    assert (someone_else["status"], someone_else["code"]) == (409, "copy_held_for_another")
    assert collected["status"] == 201
    assert await my_holds(service, first) == []
    assert [(h["position"], h["waiting"]) for h in await my_holds(service, second)] == [(1, 1)]


async def test_a_district_admin_receives_a_copy_for_an_unstaffed_library_in_their_scope(
    service: Service, title: dict[str, object]
) -> None:
    await Library.filter(code="TL-SC1").update(holds_pickup=True)  # a 24-hour library below TL-A, nobody at it
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    admin = await staff_headers(service.client, "a-admin")
    reader = await login_reader(service, "openid-night-owl")
    await place(service, reader, title["record_id"], pickup="TL-SC1")
    sent = await take_back(service, title["a-desk"], "HL01")  # pulled off TL-A's shelf for the hold

    other_branch = await receive(service, title["b-desk"], "HL01", at="TL-SC1")
    still_travelling = await Copy.get(barcode="HL01").select_related("current_library")
    landed = await receive(service, admin, "HL01", at="TL-SC1")
    copy = await Copy.get(barcode="HL01").select_related("current_library")

    assert (sent["status"], sent["send_to_library_code"]) == ("in_transit", "TL-SC1")
    assert (other_branch["http"], other_branch["code"]) == (403, "outside_staff_scope")
    assert (still_travelling.status, still_travelling.current_library.code) == (CopyStatus.IN_TRANSIT, "TL-A")
    assert (landed["http"], landed["status"]) == (200, "on_hold_shelf")
    assert (copy.status, copy.current_library.code) == (CopyStatus.ON_HOLD_SHELF, "TL-SC1")
    assert [(h["status"], h["pickup_library_code"]) for h in await my_holds(service, reader)] == [("ready", "TL-SC1")]


async def test_desks_pull_waiting_copies_from_their_shelves_for_the_hold_shelf(
    service: Service, title: dict[str, object]
) -> None:
    reader = await login_reader(service, "openid-puller")
    await place(service, reader, title["record_id"], pickup="TL-A")
    await Copy.filter(barcode="HL01").update(shelf_location="I247.57/Y8")

    to_pull = (await service.client.get("/staff/libraries/TL-A/pull-list", headers=title["a-desk"])).json()["items"]
    pulled = await take_back(service, title["a-desk"], "HL01")  # type: ignore[arg-type]
    shelf = (await service.client.get("/staff/libraries/TL-A/hold-shelf", headers=title["a-desk"])).json()["items"]
    pulled_again = (await service.client.get("/staff/libraries/TL-A/pull-list", headers=title["a-desk"])).json()
    elsewhere = await service.client.get("/staff/libraries/TL-B/pull-list", headers=title["a-desk"])

    assert [(c["barcode"], c["shelf_location"]) for c in to_pull] == [("HL01", "I247.57/Y8")]
    assert (pulled["http"], pulled["status"]) == (200, "on_hold_shelf")
    assert [(h["barcode"], h["card_number"]) for h in shelf] == [
        ("HL01", (await Reader.get(openid="openid-puller")).card_number)
    ]
    assert pulled_again["items"] == [] and pulled_again["total"] == 0
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "outside_staff_scope")


async def test_an_uncollected_hold_expires_and_its_copy_passes_to_the_next_reader(
    service: Service, title: dict[str, object]
) -> None:
    late, patient = await login_reader(service, "openid-late"), await login_reader(service, "openid-patient")
    await place(service, late, title["record_id"], pickup="TL-A")
    await place(service, patient, title["record_id"], pickup="TL-A")
    await take_back(service, title["a-desk"], "HL01")  # pulled: on the hold shelf for the first reader

    service.clock.advance(timedelta(days=8).total_seconds())
    expired = await holds.expire_uncollected(service.clock.now())
    desk = await staff_headers(service.client, "a-desk")
    to_clear = (await service.client.get("/staff/libraries/TL-A/holds-to-clear", headers=desk)).json()["items"]
    cleared = await take_back(service, desk, "HL01")
    patient = await login_reader(service, "openid-patient")

    assert expired == 1
    assert [c["barcode"] for c in to_clear] == ["HL01"]
    assert (cleared["status"], cleared["hold_card_number"]) == (
        "on_hold_shelf",
        (await Reader.get(openid="openid-patient")).card_number,
    )
    assert [h["status"] for h in await my_holds(service, patient)] == ["ready"]
    assert await Hold.get(reader__openid="openid-late").values_list("status", flat=True) == HoldStatus.EXPIRED


async def test_a_reader_can_cancel_suspend_and_move_a_hold(service: Service, title: dict[str, object]) -> None:
    reader, other = await login_reader(service, "openid-mover"), await login_reader(service, "openid-other")
    await lend(service, title["a-desk"], other, "HL01")  # type: ignore[arg-type]
    await lend(service, title["b-desk"], other, "HL02")  # type: ignore[arg-type]
    hold = await place(service, reader, title["record_id"], pickup="TL-A-1")

    away = await service.client.patch(
        f"{HOLDS}/{hold['id']}", json={"suspended_until": "2026-12-20"}, headers=reader.headers
    )
    skipped = await take_back(service, title["a-desk"], "HL01")  # suspended: the copy goes back on the shelf
    back = await service.client.patch(f"{HOLDS}/{hold['id']}", json={"suspended_until": None}, headers=reader.headers)
    sent = await take_back(service, title["b-desk"], "HL02")
    moved = await service.client.patch(
        f"{HOLDS}/{hold['id']}", json={"pickup_library_code": "TL-A"}, headers=reader.headers
    )
    no_pickup = await service.client.patch(
        f"{HOLDS}/{hold['id']}", json={"pickup_library_code": "TL-B-1"}, headers=reader.headers
    )
    arrived = await receive(service, title["a-desk"], "HL02")
    too_late = await service.client.patch(
        f"{HOLDS}/{hold['id']}", json={"pickup_library_code": "TL-A-1"}, headers=reader.headers
    )
    cancelled = await service.client.delete(f"{HOLDS}/{hold['id']}", headers=reader.headers)
    to_clear = (await service.client.get("/staff/libraries/TL-A/holds-to-clear", headers=title["a-desk"])).json()

    assert away.status_code == 200 and away.json()["suspended_until"] == "2026-12-20"
    assert away.json()["position"] == 1  # the place in the queue is kept
    assert (skipped["status"], skipped["hold_card_number"]) == ("available", None)
    assert back.json()["suspended_until"] is None
    assert (sent["status"], sent["send_to_library_code"]) == ("in_transit", "TL-A-1")
    assert moved.status_code == 200 and moved.json()["pickup_library_code"] == "TL-A"
    assert (no_pickup.status_code, no_pickup.json()["code"]) == (409, "pickup_not_offered")
    assert arrived["status"] == "on_hold_shelf"  # received where the reader now collects it
    assert (too_late.status_code, too_late.json()["code"]) == (409, "hold_not_changeable")
    assert cancelled.status_code == 204 and await my_holds(service, reader) == []
    assert [c["barcode"] for c in to_clear["items"]] == ["HL02"]


async def test_holds_are_refused_with_a_reason(service: Service, title: dict[str, object]) -> None:
    reader = await login_reader(service, "openid-refused")
    await lend(service, title["a-desk"], reader, "HL01")  # type: ignore[arg-type]

    on_loan = await place(service, reader, title["record_id"])
    other = await login_reader(service, "openid-twice")
    first = await place(service, other, title["record_id"])
    twice = await place(service, other, title["record_id"])
    no_pickup = await place(service, reader, title["record_id"], pickup="TL-B-1")
    missing = await place(service, reader, 999_999)
    second_title = await Record.create(title="许三观卖血记")
    library = await Library.get(code="TL-A")
    await Copy.create(barcode="XS01", record=second_title, home_library=library, current_library=library)
    await CreditEvent.create(
        reader_id=await reader_id(other), reason=CreditReason.STAFF_ADJUSTMENT, points=-30, created_at=TUESDAY
    )
    over_limit = await place(service, other, second_title.id)

    assert (on_loan["http"], on_loan["code"]) == (409, "title_already_on_loan")
    assert first["http"] == 201
    assert (twice["http"], twice["code"]) == (409, "hold_already_placed")
    assert (no_pickup["http"], no_pickup["code"]) == (409, "pickup_not_offered")
    assert (missing["http"], missing["code"]) == (404, "record_not_found")
    assert (over_limit["http"], over_limit["code"]) == (409, "hold_limit_reached")  # tier 一般: one hold
    assert over_limit["title"] == "已有 1 个预约，已达当前信用等级的上限 1 个"


async def test_nobody_renews_a_title_others_are_waiting_for(service: Service, title: dict[str, object]) -> None:
    borrower, waiting = await login_reader(service, "openid-keeper"), await login_reader(service, "openid-waiter")
    await lend(service, title["a-desk"], borrower, "HL01")  # type: ignore[arg-type]
    await lend(service, title["b-desk"], borrower, "HL02")  # type: ignore[arg-type]
    hold = await place(service, waiting, title["record_id"])

    loans = await my_loans(service, borrower)
    refused = await service.client.post(f"/readers/me/loans/{loans[0]['id']}/renew", headers=borrower.headers)
    await service.client.patch(f"{HOLDS}/{hold['id']}", json={"suspended_until": "2027-03-01"}, headers=waiting.headers)
    renewed = await service.client.post(f"/readers/me/loans/{loans[0]['id']}/renew", headers=borrower.headers)

    assert loans[0]["not_renewable_because"]["code"] == "holds_waiting"
    assert (refused.status_code, refused.json()["code"]) == (409, "holds_waiting")
    assert renewed.status_code == 201  # a suspended hold does not hold others up


# --- guarantees under concurrency ----------------------------------------------------------------------------------


async def _desk(code: str) -> StaffUser:
    desk = await make_staff(f"desk-{code}", StaffRole.LIBRARIAN, code)
    await desk.fetch_related("library")
    return desk


async def test_two_copies_returned_at_once_fill_two_holds_never_one_twice(service: Service) -> None:
    await build_network()
    a, b = await Library.get(code="TL-A"), await Library.get(code="TL-B")
    desk_a, desk_b = await _desk("TL-A"), await _desk("TL-B")
    policy = HoldPolicy()
    for round_ in range(5):  # a race is a matter of timing: run it several times
        record = await Record.create(title=f"热门书 {round_}")
        await Copy.create(barcode=f"P{round_}A", record=record, home_library=a, current_library=a)
        await Copy.create(barcode=f"P{round_}B", record=record, home_library=b, current_library=b)
        await Reader.bulk_create([Reader(card_number=f"8{round_}{i:010d}") for i in range(3)])
        borrower, first, second = await Reader.filter(card_number__startswith=f"8{round_}").order_by("card_number")
        await services.checkout(borrower, f"P{round_}A", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desk_a)
        await services.checkout(borrower, f"P{round_}B", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desk_b)
        for reader in (first, second):
            await holds.place_hold(
                reader, record.id, "TL-A", TUESDAY + timedelta(minutes=1 + reader.id % 2), NETWORK_TIME
            )

        returns = await asyncio.gather(
            services.check_in(f"P{round_}A", staff=desk_a, now=TUESDAY + timedelta(hours=1), policy=policy, bus=BUS),
            services.check_in(f"P{round_}B", staff=desk_b, now=TUESDAY + timedelta(hours=1), policy=policy, bus=BUS),
        )

        served = [done.hold.reader_id for done in returns if done.hold is not None]
        assert sorted(served) == sorted([first.id, second.id])
        assigned = await Hold.filter(record_id=record.id).values_list("copy_id", flat=True)
        assert len(set(assigned)) == 2


async def test_a_hold_is_filled_by_one_of_two_copies_returned_at_once(service: Service) -> None:
    await build_network()
    a, b = await Library.get(code="TL-A"), await Library.get(code="TL-B")
    desk_a, desk_b = await _desk("TL-A"), await _desk("TL-B")
    policy = HoldPolicy()
    for round_ in range(5):
        record = await Record.create(title=f"新书 {round_}")
        await Copy.create(barcode=f"Q{round_}A", record=record, home_library=a, current_library=a)
        await Copy.create(barcode=f"Q{round_}B", record=record, home_library=b, current_library=b)
        await Reader.bulk_create([Reader(card_number=f"7{round_}{i:010d}") for i in range(2)])
        borrower, waiting = await Reader.filter(card_number__startswith=f"7{round_}").order_by("card_number")
        await services.checkout(borrower, f"Q{round_}A", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desk_a)
        await services.checkout(borrower, f"Q{round_}B", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desk_b)
        await holds.place_hold(waiting, record.id, "TL-A", TUESDAY, NETWORK_TIME)

        returns = await asyncio.gather(
            services.check_in(f"Q{round_}A", staff=desk_a, now=TUESDAY + timedelta(hours=1), policy=policy, bus=BUS),
            services.check_in(f"Q{round_}B", staff=desk_b, now=TUESDAY + timedelta(hours=1), policy=policy, bus=BUS),
        )

        assert sum(done.hold is not None for done in returns) == 1
        statuses = sorted(done.copy.status for done in returns)
        # One copy for the hold (on TL-A's hold shelf or on its way there), the other back on its shelf at TL-B.
        assert CopyStatus.AVAILABLE in statuses
        assert statuses.count(CopyStatus.AVAILABLE) == 1
        assert await Hold.filter(record_id=record.id, copy_id__not_isnull=True).count() == 1


async def test_a_reader_tapping_hold_many_times_at_once_gets_one_hold_within_the_tier_limit(service: Service) -> None:
    await build_network()
    library = await Library.get(code="TL-A")
    titles = [await Record.create(title=f"同时预约 {i}") for i in range(5)]
    for i, record in enumerate(titles):
        await Copy.create(barcode=f"SAME{i}", record=record, home_library=library, current_library=library)
    reader = await Reader.create(card_number="600000000001")

    async def attempt(record_id: int) -> str:
        try:
            await holds.place_hold(reader, record_id, "TL-A", TUESDAY, NETWORK_TIME)
        except (HoldAlreadyPlaced, HoldLimitReached) as refused:
            return refused.code
        return "placed"

    same_title = await asyncio.gather(*(attempt(titles[0].id) for _ in range(10)))
    await CreditEvent.create(reader=reader, reason=CreditReason.STAFF_ADJUSTMENT, points=-30, created_at=TUESDAY)
    await Hold.filter(reader_id=reader.id).delete()
    other_titles = await asyncio.gather(*(attempt(record.id) for record in titles[1:]))

    assert sorted(same_title) == ["hold_already_placed"] * 9 + ["placed"]
    assert sorted(other_titles) == ["hold_limit_reached"] * 3 + ["placed"]  # tier 一般: one hold at a time
    assert await Hold.filter(reader_id=reader.id).count() == 1


async def test_the_hold_ready_notice_is_written_with_the_hold_or_not_at_all(service: Service) -> None:
    await build_network()
    a = await Library.get(code="TL-A")
    desk = await _desk("TL-A")
    record = await Record.create(title="平凡的世界")
    await Copy.create(barcode="RB01", record=record, home_library=a, current_library=a)
    await Reader.bulk_create([Reader(card_number=f"77{i:011d}") for i in range(2)])
    borrower, waiting = await Reader.filter(card_number__startswith="77").order_by("card_number")
    await services.checkout(borrower, "RB01", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desk)
    await holds.place_hold(waiting, record.id, "TL-A", TUESDAY + timedelta(minutes=1), NETWORK_TIME)
    returned_at = TUESDAY + timedelta(hours=1)

    class DeskCrashed(Exception):
        pass

    with pytest.raises(DeskCrashed):
        async with in_transaction():  # the return's transaction fails after the hold went on the shelf
            await services.check_in("RB01", staff=desk, now=returned_at, policy=HoldPolicy(), bus=BUS)
            assert await Notice.filter(reader_id=waiting.id, kind=NoticeKind.HOLD_READY).exists()
            raise DeskCrashed
    rolled_back = (await Hold.get(reader_id=waiting.id)).status, await Notice.filter(reader_id=waiting.id).count()
    await services.check_in("RB01", staff=desk, now=returned_at, policy=HoldPolicy(), bus=BUS)
    committed = (await Hold.get(reader_id=waiting.id)).status, await Notice.filter(reader_id=waiting.id).count()

    assert rolled_back == (HoldStatus.WAITING, 0)
    assert committed == (HoldStatus.READY, 1)
