import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from backend.accounts.models import Reader, StaffRole
from backend.catalog.models import Copy, CopyStatus, Record
from backend.circulation import services
from backend.circulation.errors import CheckoutRefused
from backend.circulation.models import (
    CreditEvent,
    CreditReason,
    CreditTier,
    Loan,
    LoanRule,
    Suspension,
    SuspensionKind,
)
from backend.network.models import Library
from tests.integration.circulation.lending import TUESDAY, lend, my_credit, my_loans, reader_id, take_back
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import BUS, NETWORK_TIME, Service

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_a_reader_borrows_at_a_desk_and_renews_once(service: Service, desks: dict[str, dict[str, str]]) -> None:
    reader = await login_reader(service, "openid-borrower")

    lent = await lend(service, desks["a-desk"], reader, "A0001")
    loans = await my_loans(service, reader)
    renewed = await service.client.post(f"/readers/me/loans/{loans[0]['id']}/renew", headers=reader.headers)
    again = await service.client.post(f"/readers/me/loans/{loans[0]['id']}/renew", headers=reader.headers)

    assert lent["status"] == 201 and lent["title"] == "三体"
    # Due by the end of the 30th day, Tongling time; renewed by 30 days from the old due date.
    due = datetime.fromisoformat(str(loans[0]["due_at"])).astimezone(SHANGHAI)
    assert (due.date().isoformat(), due.hour, due.minute) == ("2026-12-31", 23, 59)
    assert loans[0]["renewable"] is True and loans[0]["overdue_days"] == 0
    assert renewed.status_code == 201
    assert datetime.fromisoformat(renewed.json()["due_at"]).astimezone(SHANGHAI).date().isoformat() == "2027-01-30"
    assert (again.status_code, again.json()["code"]) == (409, "renewals_used_up")
    assert again.json()["title"] == "已续借 1 次，不能再续借"
    after = (await my_loans(service, reader))[0]
    assert after["renewable"] is False and after["not_renewable_because"]["code"] == "renewals_used_up"


async def test_a_barcode_scanned_in_lower_case_is_the_copy_catalogued_in_upper_case(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-lower-case")

    lent = await lend(service, desks["a-desk"], reader, "a0001")
    returned = await take_back(service, desks["a-desk"], "a0001")

    assert (lent["status"], lent["barcode"]) == (201, "A0001")
    assert (returned["http"], returned["barcode"], returned["status"]) == (200, "A0001", "available")


async def test_the_loan_rule_table_picks_the_most_specific_rule(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-rules")
    district = await Library.get(code="TL-A")
    await LoanRule.create(library=district, term="loan_days", value="21")

    for desk, barcode in [("a-desk", "A0003"), ("a-desk", "A1001"), ("b-desk", "B0001"), ("b-desk", "B0002")]:
        await lend(service, desks[desk], reader, barcode)

    lent_on = TUESDAY.astimezone(SHANGHAI).date()
    days = {
        loan["barcode"]: (datetime.fromisoformat(str(loan["due_at"])).astimezone(SHANGHAI).date() - lent_on).days
        for loan in await my_loans(service, reader)
    }
    # TL-A's rule covers its branches and, the library weighing most (Koha's order), its periodicals too; at TL-B
    # the network's periodical rule and the fallback apply.
    assert days == {"A0003": 21, "A1001": 21, "B0001": 30, "B0002": 14}


async def test_returned_anywhere_a_book_travels_home_and_the_reader_earns_credit(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-traveller")
    await lend(service, desks["a-desk"], reader, "A0001")
    await lend(service, desks["a-desk"], reader, "F0001")

    returned = await take_back(service, desks["b-desk"], "A0001")
    floating = await take_back(service, desks["b-desk"], "F0001")
    nowhere = await take_back(service, desks["b-desk"], "A0001")
    at_b_before = (await service.client.get("/records", params={"q": "三体", "library": "TL-B"})).json()["total"]
    received_wrongly = await service.client.post(
        "/staff/transits/receive", json={"barcode": "F0001"}, headers=desks["a-desk"]
    )
    received = await service.client.post("/staff/transits/receive", json={"barcode": "A0001"}, headers=desks["a-desk"])

    assert (returned["http"], returned["status"], returned["send_to_library_code"]) == (200, "in_transit", "TL-A")
    assert returned["overdue_days"] == 0
    assert (floating["status"], floating["send_to_library_code"]) == ("available", None)  # it floats: stays at TL-B
    assert (nowhere["http"], nowhere["code"]) == (409, "copy_not_on_loan")
    assert at_b_before == 1
    assert (received_wrongly.status_code, received_wrongly.json()["code"]) == (409, "copy_not_in_transit")
    assert received.status_code == 200 and received.json()["status"] == "available"
    copy = await Copy.get(barcode="A0001").prefetch_related("current_library")
    assert (copy.status, copy.current_library.code) == (CopyStatus.AVAILABLE, "TL-A")
    assert await my_loans(service, reader) == []
    credit = await my_credit(service, reader)
    assert credit["score"] == 102 and [line["reason"] for line in credit["ledger"]] == ["on_time_return"] * 2


async def test_overdue_days_are_charged_once_and_block_borrowing_until_returned(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-late")
    await lend(service, desks["a-desk"], reader, "A0001")

    service.clock.advance(timedelta(days=33).total_seconds())  # due 31 Dec; now 3 Jan, 10:00 in Tongling
    await services.charge_overdue_loans(service.clock.now())
    await services.charge_overdue_loans(service.clock.now())  # the job run again the same day charges nothing
    reader = await login_reader(service, "openid-late")  # a month on, both log in again
    desk = await staff_headers(service.client, "a-desk")
    late = (await my_loans(service, reader))[0]
    blocked = await lend(service, desk, reader, "A0002")
    returned = await take_back(service, desk, "A0001")
    unblocked = await lend(service, desk, reader, "A0002")

    assert (late["overdue_days"], late["overdue_fee_cents"], late["renewable"]) == (3, 30, False)
    assert late["not_renewable_because"]["code"] == "overdue_not_renewable"
    assert (blocked["status"], blocked["code"]) == (409, "overdue_items_block")
    assert blocked["title"] == "有 1 册图书逾期未还，归还后即可继续借阅"
    assert returned["overdue_days"] == 3
    assert unblocked["status"] == 201
    credit = await my_credit(service, reader)
    assert credit["score"] == 97 and [line["reason"] for line in credit["ledger"]] == ["overdue"] * 3


async def test_a_refused_checkout_gives_every_reason_at_once(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader, other = await login_reader(service, "openid-refused"), await login_reader(service, "openid-other")
    await CreditTier.filter(name="优秀").update(max_loans=1)  # the reader's tier
    await lend(service, desks["a-desk"], reader, "A0001")
    service.clock.advance(timedelta(days=33).total_seconds())  # A0001 is overdue
    reader, other = await login_reader(service, "openid-refused"), await login_reader(service, "openid-other")
    desk = await staff_headers(service.client, "a-desk")
    record_id = (await Copy.get(barcode="A0002")).record_id
    held = await service.client.post(
        "/readers/me/holds", json={"record_id": record_id, "pickup_library_code": "TL-A"}, headers=other.headers
    )
    shelved = await take_back(service, desk, "A0002")  # fetched for the hold: onto the hold shelf here

    refused = await lend(service, desk, reader, "A0002")

    assert held.status_code == 201 and shelved["status"] == "on_hold_shelf"
    assert (refused["status"], refused["code"]) == (409, "copy_held_for_another")
    reasons = refused["reasons"]
    assert isinstance(reasons, list)
    assert [reason["code"] for reason in reasons] == [
        "copy_held_for_another",
        "overdue_items_block",
        "loan_limit_reached",
    ]
    assert refused["title"] == reasons[0]["title"] == "该书已为其他读者预约保留，不能借出"
    assert reasons[2]["params"] == {"on_loan": 1, "limit": 1}


async def test_self_service_needs_a_self_service_library_with_the_copy_on_its_shelf(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-self")

    async def self_checkout(library: str, barcode: str) -> tuple[int, str]:
        response = await service.client.post(
            "/readers/me/loans/self-checkout",
            json={"library_code": library, "barcode": barcode},
            headers=reader.headers,
        )
        return response.status_code, response.json().get("code") or response.json()["barcode"]

    assert await self_checkout("TL-A-1", "A1001") == (409, "no_self_service")
    assert await self_checkout("TL-SC1", "A1001") == (409, "copy_not_here")
    assert await self_checkout("TL-SC1", "C0001") == (201, "C0001")
    assert await self_checkout("TL-SC1", "C0001") == (409, "copy_not_available")


async def test_credit_tiers_decide_how_much_and_where_a_reader_borrows(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-tiers")
    rid = await reader_id(reader)
    await CreditEvent.create(
        reader_id=rid, reason=CreditReason.STAFF_ADJUSTMENT, points=-35, note="损坏图书", created_at=TUESDAY
    )

    counter_only = await service.client.post(
        "/readers/me/loans/self-checkout", json={"library_code": "TL-SC1", "barcode": "C0001"}, headers=reader.headers
    )
    lent = [await lend(service, desks["a-desk"], reader, barcode) for barcode in ("A0001", "A0002", "A0003", "F0001")]
    await CreditEvent.create(
        reader_id=rid, reason=CreditReason.STAFF_ADJUSTMENT, points=-10, note="遗失图书", created_at=TUESDAY
    )
    too_low = await lend(service, desks["a-desk"], reader, "A1001")

    assert (counter_only.status_code, counter_only.json()["code"]) == (409, "counter_only")
    assert [loan["status"] for loan in lent] == [201, 201, 201, 409]
    assert (
        lent[3]["code"] == "loan_limit_reached"
        and lent[3]["title"] == "已借 3 册，已达当前信用等级的上限 3 册，请先归还"
    )
    assert (too_low["status"], too_low["code"]) == (409, "credit_too_low")
    credit = await my_credit(service, reader)
    assert (credit["score"], credit["tier"]["name"], credit["on_loan"]) == (55, "受限", 3)
    assert [line["note"] for line in credit["ledger"]] == ["遗失图书", "损坏图书"]


async def test_a_suspended_reader_is_told_why_and_until_when(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-suspended")
    await Suspension.create(
        reader_id=await reader_id(reader),
        kind=SuspensionKind.SUSPENDED,
        reason="长期逾期未还",
        starts_at=TUESDAY - timedelta(days=1),
        ends_at=datetime(2026, 12, 15, 16, 0, tzinfo=UTC),
    )

    refused = await lend(service, desks["a-desk"], reader, "A0001")
    english = await service.client.post(
        "/staff/checkouts",
        json={
            "card_payload": (await service.client.get("/readers/me/card", headers=reader.headers)).json()["payload"],
            "barcode": "A0001",
        },
        headers={**desks["a-desk"], "Accept-Language": "en"},
    )

    assert (refused["status"], refused["code"]) == (409, "reader_suspended")
    assert refused["title"] == "借阅已暂停 2026-12-15：长期逾期未还"
    assert english.json()["title"] == "Borrowing is suspended 2026-12-15: 长期逾期未还"


async def test_reading_history_is_kept_only_when_the_reader_asks_and_can_be_deleted(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-history")
    history = "/readers/me/reading-history"

    await lend(service, desks["a-desk"], reader, "A0001")
    await take_back(service, desks["a-desk"], "A0001")
    by_default = (await service.client.get(history, headers=reader.headers)).json()["items"]
    await service.client.put(history, json={"keep": True}, headers=reader.headers)
    await lend(service, desks["a-desk"], reader, "A0002")
    await take_back(service, desks["a-desk"], "A0002")
    kept = (await service.client.get(history, headers=reader.headers)).json()["items"]
    deleted = await service.client.delete(history, headers=reader.headers)
    after = (await service.client.get(history, headers=reader.headers)).json()["items"]

    assert by_default == []
    assert [item["title"] for item in kept] == ["三体"]
    assert deleted.status_code == 204 and after == []
    assert await Loan.filter(returned_at__isnull=False).count() == 2  # the statistics stay, without the reader


async def test_old_loans_lose_their_reader_after_the_retention_period(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-retention")
    await service.client.put("/readers/me/reading-history", json={"keep": True}, headers=reader.headers)
    await lend(service, desks["a-desk"], reader, "A0001")
    await take_back(service, desks["a-desk"], "A0001")

    kept = await services.unlink_old_loans(TUESDAY + timedelta(days=364), retention_days=365)
    unlinked = await services.unlink_old_loans(TUESDAY + timedelta(days=366), retention_days=365)

    assert (kept, unlinked) == (0, 1)
    assert (await service.client.get("/readers/me/reading-history", headers=reader.headers)).json()["items"] == []


# --- guarantees under concurrency ----------------------------------------------------------------------------------


async def _readers(count: int) -> list[Reader]:
    await Reader.bulk_create([Reader(card_number=f"9{i:011d}") for i in range(count)])
    return await Reader.filter(card_number__startswith="9").order_by("id")


async def test_two_hundred_readers_racing_for_ten_copies_make_ten_loans(service: Service) -> None:
    await build_network()
    branch = await Library.get(code="TL-A")
    desk = await make_staff("rush-desk", StaffRole.LIBRARIAN, "TL-A")
    await desk.fetch_related("library")
    record = await Record.create(title="热门新书")
    await Copy.bulk_create(
        [Copy(barcode=f"R{i:04d}", record=record, home_library=branch, current_library=branch) for i in range(10)]
    )
    readers = await _readers(200)

    async def attempt(i: int, reader: Reader) -> bool:
        try:
            await services.checkout(
                reader, f"R{i % 10:04d}", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desk
            )
        except CheckoutRefused as refused:  # lent to someone quicker
            assert [reason.code for reason in refused.reasons] == ["copy_not_available"]
            return False
        return True

    outcomes = await asyncio.gather(*(attempt(i, reader) for i, reader in enumerate(readers)))

    assert sum(outcomes) == 10
    assert sorted(await Loan.all().values_list("copy__barcode", flat=True)) == [f"R{i:04d}" for i in range(10)]
    assert await Copy.filter(status=CopyStatus.ON_LOAN).count() == 10


async def test_a_reader_never_passes_the_limit_with_checkouts_at_two_libraries_at_once(service: Service) -> None:
    await build_network()
    a, b = await Library.get(code="TL-A"), await Library.get(code="TL-B")
    desks = [await make_staff("a", StaffRole.LIBRARIAN, "TL-A"), await make_staff("b", StaffRole.LIBRARIAN, "TL-B")]
    for desk in desks:
        await desk.fetch_related("library")
    record = await Record.create(title="一套丛书")
    await Copy.bulk_create(
        [
            Copy(barcode=f"S{i:04d}", record=record, home_library=lib, current_library=lib)
            for i, lib in enumerate([a, b] * 15)
        ]
    )
    (reader,) = await _readers(1)

    async def attempt(i: int) -> str:
        try:
            await services.checkout(
                reader, f"S{i:04d}", now=TUESDAY, bus=BUS, network_time=NETWORK_TIME, staff=desks[i % 2]
            )
        except CheckoutRefused as refused:
            return ",".join(reason.code for reason in refused.reasons)
        return "lent"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(30)))

    assert outcomes.count("lent") == 20  # the best tier's limit, the reader's starting tier
    assert outcomes.count("loan_limit_reached") == 10
    assert await Loan.filter(reader_id=reader.id, returned_at__isnull=True).count() == 20


async def test_the_overdue_job_run_twice_at_once_charges_each_day_once(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-job")
    for barcode in ("A0001", "A0002"):
        await lend(service, desks["a-desk"], reader, barcode)
    later = TUESDAY + timedelta(days=35)

    await asyncio.gather(*(services.charge_overdue_loans(later) for _ in range(4)))

    charged = await CreditEvent.filter(reason=CreditReason.OVERDUE).count()
    assert charged == 2 * 5  # two books, five days each


async def test_library_admins_adjust_credit_and_suspend_with_reasons_the_reader_sees(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-adjusted")
    card = (await Reader.get(openid="openid-adjusted")).card_number
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    admin = await staff_headers(service.client, "a-admin")
    base = f"/staff/readers/{card}"

    by_librarian = await service.client.post(
        f"{base}/credit-adjustments", json={"points": -5, "note": "污损图书"}, headers=desks["a-desk"]
    )
    adjusted = await service.client.post(
        f"{base}/credit-adjustments", json={"points": -5, "note": "污损图书"}, headers=admin
    )
    suspended = await service.client.post(
        f"{base}/suspensions", json={"kind": "blacklisted", "reason": "恶意损毁图书"}, headers=admin
    )
    refused = await lend(service, desks["a-desk"], reader, "A0001")
    seen_at_desk = (await service.client.get(f"{base}/credit", headers=desks["a-desk"])).json()
    lifted = await service.client.delete(f"/staff/suspensions/{suspended.json()['id']}", headers=admin)
    lent = await lend(service, desks["a-desk"], reader, "A0001")
    unknown = await service.client.get("/staff/readers/0000000000/credit", headers=desks["a-desk"])

    assert (by_librarian.status_code, by_librarian.json()["code"]) == (403, "staff_role_insufficient")
    assert adjusted.status_code == 201
    assert (refused["status"], refused["title"]) == (409, "借阅已暂停：恶意损毁图书")
    assert seen_at_desk["score"] == 95 and seen_at_desk["suspension"]["kind"] == "blacklisted"
    assert lifted.status_code == 204 and lent["status"] == 201
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reader_card_not_found")
    credit = await my_credit(service, reader)
    assert [(line["reason"], line["points"], line["note"]) for line in credit["ledger"]] == [
        ("staff_adjustment", -5, "污损图书")
    ]
