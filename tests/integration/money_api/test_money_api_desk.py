import asyncio
from datetime import timedelta

import httpx

from backend.catalog.models import Copy, CopyStatus
from backend.counter.models import LookupAction, ReaderLookup
from backend.money.models import ChargeKind
from backend.money.payments import Settled, settle_payment
from tests.integration.circulation.lending import TUESDAY, lend
from tests.integration.factories import staff_headers
from tests.integration.money.accounts import charge, settled_of
from tests.integration.money.conftest import Desks
from tests.integration.money_api.family import a_family, get_json
from tests.integration.service import BUS, Service

PROBLEM = "application/problem+json"


async def test_a_desk_payment_lets_a_reader_refused_for_fees_owed_borrow_at_once(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "owes", "小明")
    fee = await charge(family.card, 1500, TUESDAY)

    refused = await lend(service, desks.headers, family.guardian, "A0001")
    blocked = (await get_json(service, "/readers/me/account", family.guardian.headers))["cards"][0]
    paid = await service.client.post(
        f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_cash"}, headers=desks.headers
    )
    lent = await lend(service, desks.headers, family.guardian, "A0001")
    again = await service.client.post(
        f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_cash"}, headers=desks.headers
    )

    assert refused["status"] == 409 and [r["code"] for r in refused["reasons"]] == ["fees_owed"]
    assert (blocked["owed_fen"], blocked["borrowing_blocked"]) == (1500, True)
    assert paid.status_code == 201
    assert {k: paid.json()[k] for k in ("kind", "amount_fen", "refundable_fen", "library_code", "staff_username")} == {
        "kind": "desk_cash",
        "amount_fen": 1500,
        "refundable_fen": 1500,
        "library_code": "TL-A",
        "staff_username": "a-desk",
    }
    assert lent["status"] == 201
    assert (again.status_code, again.json()["code"]) == (409, "charge_settled")


async def test_two_desks_taking_and_waiving_one_charge_at_once_settle_it_once(service: Service, desks: Desks) -> None:
    family = await a_family(service, "twice", "小明")
    fee = await charge(family.card, 900, TUESDAY)
    admin = await staff_headers(service.client, "a-admin")

    answers = await asyncio.gather(
        *(
            service.client.post(f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_cash"}, headers=desk)
            for desk in (desks.headers, admin)
        ),
        service.client.post(f"/staff/charges/{fee.id}/waivers", json={"reason": "免了"}, headers=admin),
    )

    assert sorted(a.status_code for a in answers) == [201, 409, 409]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"charge_settled"}
    assert await settled_of(fee.id) == 900


async def test_a_waiver_above_the_role_limit_or_outside_my_libraries_is_refused(service: Service, desks: Desks) -> None:
    family = await a_family(service, "lost-it", "小红")
    lost = await charge(family.card, 6000, TUESDAY, ChargeKind.LOST)
    reason = {"reason": "书已找回"}

    by_librarian = await service.client.post(f"/staff/charges/{lost.id}/waivers", json=reason, headers=desks.headers)
    other_district = await staff_headers(service.client, "b-desk")
    by_other = await service.client.post(f"/staff/charges/{lost.id}/waivers", json=reason, headers=other_district)
    admin = await staff_headers(service.client, "a-admin")
    by_admin = await service.client.post(f"/staff/charges/{lost.id}/waivers", json=reason, headers=admin)
    refund = await service.client.post(
        f"/staff/settlements/{by_admin.json()['id']}/refunds", json={"reason": "x"}, headers=admin
    )
    owed = (await get_json(service, "/readers/me/account", family.guardian.headers))["owed_fen"]

    assert (by_librarian.status_code, by_librarian.json()["code"]) == (403, "over_waiver_limit")
    assert by_librarian.headers["content-type"].startswith(PROBLEM)
    assert "60.00" in by_librarian.json()["title"] and "50.00" in by_librarian.json()["title"]
    assert (by_other.status_code, by_other.json()["code"]) == (403, "charge_outside_scope")
    assert by_admin.status_code == 201
    assert (by_admin.json()["kind"], by_admin.json()["note"], by_admin.json()["refundable_fen"]) == (
        "waiver",
        "书已找回",
        0,
    )
    assert (refund.status_code, refund.json()["code"]) == (404, "settlement_not_found")  # a waiver took no money
    assert owed == 0


async def test_a_desk_sees_a_readers_account_with_the_history_of_each_line_and_the_look_up_is_logged(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "family", "小刚")
    fee = await charge(family.child, 800, TUESDAY)
    paid = await service.client.post(
        f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_cash"}, headers=desks.headers
    )
    refunded = await service.client.post(
        f"/staff/settlements/{paid.json()['id']}/refunds",
        json={"reason": "多收了", "amount_fen": 300},
        headers=desks.headers,
    )
    too_much = await service.client.post(
        f"/staff/settlements/{paid.json()['id']}/refunds",
        json={"reason": "再退", "amount_fen": 501},
        headers=desks.headers,
    )
    b_desk = await staff_headers(service.client, "b-desk")
    elsewhere = await service.client.post(
        f"/staff/settlements/{paid.json()['id']}/refunds", json={"reason": "再退"}, headers=b_desk
    )

    path = f"/staff/readers/{family.card.card_number}/account"
    outstanding = await get_json(service, path, desks.headers)
    everything = await get_json(service, path, desks.headers, status="all")
    first = await get_json(service, f"{path}/lines", desks.headers, status="all", limit=1)

    assert refunded.status_code == 201
    assert (refunded.json()["state"], refunded.json()["amount_fen"], refunded.json()["channel"]) == (
        "succeeded",
        300,
        "desk_cash",
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "not_refundable")
    assert too_much.json()["title"].startswith("可退金额为 5.00 元")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "charge_outside_scope")
    assert outstanding["reader"]["card_number"] == family.card.card_number
    assert [c["card"]["name"] for c in outstanding["cards"]] == ["", "小刚"]
    assert outstanding["lines"]["items"] == [] and outstanding["owed_fen"] == 0
    assert first["items"] == everything["lines"]["items"][:1] and first["total"] == everything["lines"]["total"]
    (line,) = everything["lines"]["items"]
    assert (line["id"], line["card"]["child_id"], line["settled_fen"]) == (fee.id, family.child.id, 800)
    assert [(s["kind"], s["amount_fen"], s["refundable_fen"]) for s in line["settlements"]] == [("desk_cash", 800, 500)]
    views = await ReaderLookup.filter(action=LookupAction.VIEW).order_by("id")
    assert [(v.reader_ids, v.children_shown) for v in views] == [([family.card.id, family.child.id], True)] * 3


async def test_declaring_a_copy_lost_ends_the_loan_and_charges_its_price_and_the_processing_fee_once(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "careless", "小丽")
    assert (await lend(service, desks.headers, family.guardian, "A0001"))["status"] == 201
    b_desk = await staff_headers(service.client, "b-desk")

    not_theirs = await service.client.post("/staff/copies/A0001/lost", headers=b_desk)
    declared = await service.client.post("/staff/copies/a0001/lost", headers=desks.headers)
    again = await service.client.post("/staff/copies/A0001/lost", headers=desks.headers)
    loans = await get_json(service, "/readers/me/loans", family.guardian.headers)
    lines = await get_json(service, "/readers/me/account/lines", family.guardian.headers)
    account = await get_json(service, "/readers/me/account", family.guardian.headers)

    assert (not_theirs.status_code, not_theirs.json()["code"]) == (403, "outside_staff_scope")
    assert declared.status_code == 201, declared.text
    assert [(c["kind"], c["amount_fen"]) for c in declared.json()] == [("lost", 4500), ("processing", 1000)]
    assert (again.status_code, again.json()["code"]) == (409, "copy_not_on_loan")
    assert loans["items"] == [] and (await Copy.get(barcode="A0001")).status is CopyStatus.LOST
    assert sorted(line["amount_fen"] for line in lines["items"]) == [1000, 4500]
    assert account["deposit"]["refundable"] is False  # owed, not on loan: paid, the deposit could go back


async def test_assessing_a_damaged_copy_needs_the_readers_loan_of_it_and_charges_once(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "clumsy", "小芳")
    path = f"/staff/readers/{family.card.card_number}/charges"
    never_lent = await service.client.post(path, json={"barcode": "A0002", "note": "水渍"}, headers=desks.headers)
    await lend(service, desks.headers, family.guardian, "A0002")
    b_desk = await staff_headers(service.client, "b-desk")

    not_theirs = await service.client.post(path, json={"barcode": "A0002"}, headers=b_desk)
    assessed = await service.client.post(path, json={"barcode": "a0002", "note": "水渍"}, headers=desks.headers)
    again = await service.client.post(path, json={"barcode": "A0002"}, headers=desks.headers)
    unknown = await service.client.post(path, json={"barcode": "NOPE"}, headers=desks.headers)

    assert (never_lent.status_code, never_lent.json()["code"]) == (409, "not_assessable")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (403, "charge_outside_scope")
    assert [(c["kind"], c["amount_fen"], c["note"]) for c in assessed.json()] == [
        ("damaged", 5000, "水渍"),
        ("processing", 1000, "水渍"),
    ]
    assert (again.status_code, again.json()["code"]) == (409, "charge_exists")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "copy_not_found")
    verified = await ReaderLookup.filter(action=LookupAction.VERIFY).order_by("id")
    assert [v.reader_ids for v in verified] == [[family.card.id]] * 5  # each desk act on a card is a logged look-up


async def test_the_daily_cash_report_sums_what_a_librarys_desks_took_and_gave_back_that_day(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "cash", "小军")
    cash, card, forgone, elsewhere, tomorrow = [
        await charge(family.card, amount, TUESDAY) for amount in (500, 700, 300, 400, 900)
    ]
    admin, b_desk = await staff_headers(service.client, "a-admin"), await staff_headers(service.client, "b-desk")

    async def post(path: str, body: dict[str, object], headers: dict[str, str]) -> dict[str, object]:
        response = await service.client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        answer: dict[str, object] = response.json()
        return answer

    taken = await post(f"/staff/charges/{cash.id}/desk-payments", {"channel": "desk_cash"}, desks.headers)
    await post(f"/staff/charges/{card.id}/desk-payments", {"channel": "desk_card"}, desks.headers)
    await post(f"/staff/charges/{forgone.id}/waivers", {"reason": "送错了"}, admin)
    await post(f"/staff/readers/{family.card.card_number}/deposits", {"channel": "desk_cash"}, desks.headers)
    await post(f"/staff/settlements/{taken['id']}/refunds", {"reason": "多收", "amount_fen": 200}, desks.headers)
    await post(f"/staff/charges/{elsewhere.id}/desk-payments", {"channel": "desk_cash"}, b_desk)
    report = await get_json(service, "/staff/libraries/TL-A/cash-report", desks.headers)
    not_mine = await service.client.get("/staff/libraries/TL-A/cash-report", headers=b_desk)
    service.clock.advance(timedelta(days=1).total_seconds())
    desk = await staff_headers(service.client, "a-desk")
    await post(f"/staff/charges/{tomorrow.id}/desk-payments", {"channel": "desk_cash"}, desk)

    next_day = await get_json(service, "/staff/libraries/TL-A/cash-report", desk)
    csv = await service.client.get("/staff/libraries/TL-A/cash-report.csv", params={"day": "2026-12-01"}, headers=desk)

    assert report["day"] == "2026-12-01" and report["library"]["code"] == "TL-A"
    assert [(t["item"], t["channel"], t["count"], t["amount_fen"]) for t in report["totals"]] == [
        ("charges_paid", "desk_card", 1, 700),
        ("charges_paid", "desk_cash", 1, 500),
        ("deposits_paid", "desk_cash", 1, 10000),
        ("refunded", "desk_cash", 1, 200),
        ("waived", "waiver", 1, 300),
    ]
    assert report["net"] == [
        {"channel": "desk_card", "amount_fen": 700},
        {"channel": "desk_cash", "amount_fen": 10300},
    ]
    assert next_day["day"] == "2026-12-02"
    assert [(t["item"], t["amount_fen"]) for t in next_day["totals"]] == [("charges_paid", 900)]
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    rows = csv.text.removeprefix("\ufeff").splitlines()
    assert rows[0] == "item,channel,count,amount_fen,amount_yuan"
    assert "charges_paid,desk_cash,1,500,5.00" in rows and "net,desk_cash,,10300,103.00" in rows
    assert (not_mine.status_code, not_mine.json()["code"]) == (403, "outside_staff_scope")


async def test_the_network_report_and_the_payment_anomalies_are_for_administrators(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "network", "小兵")
    fee = await charge(family.card, 600, TUESDAY, ChargeKind.OVERDUE)
    await service.client.post(
        f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_card"}, headers=desks.headers
    )
    forged = await settle_payment("P" + "0" * 30, "4200000001202612019999", 100, TUESDAY, bus=BUS)
    network_admin = await staff_headers(service.client, "net-admin")
    admin = await staff_headers(service.client, "a-admin")

    report = await get_json(service, "/staff/money-report", network_admin, start="2026-11-30", days=2)
    earlier = await get_json(service, "/staff/money-report", network_admin, start="2026-11-30")
    by_librarian = await service.client.get("/staff/money-report", headers=desks.headers)
    anomalies = await get_json(service, "/staff/payment-anomalies", network_admin)
    anomalies_by_admin = await service.client.get("/staff/payment-anomalies", headers=admin)

    assert (report["start"], report["end"]) == ("2026-11-30", "2026-12-01")
    assert report["taken"] == [{"item": "overdue", "channel": "desk_card", "count": 1, "amount_fen": 600}]
    assert earlier["taken"] == []
    assert (by_librarian.status_code, by_librarian.json()["code"]) == (403, "staff_role_insufficient")
    assert forged is Settled.ANOMALY
    assert [(a["kind"], a["amount_fen"], a["expected_fen"]) for a in anomalies["items"]] == [
        ("unknown_order", 100, None)
    ]
    assert (anomalies_by_admin.status_code, anomalies_by_admin.json()["code"]) == (
        403,
        "staff_role_insufficient",
    )


async def test_bad_input_is_a_problem_never_a_500(service: Service, desks: Desks) -> None:
    family = await a_family(service, "hostile", "小明")
    fee = await charge(family.card, 500, TUESDAY)
    reader, desk = family.guardian.headers, desks.headers
    card = family.card.card_number

    def answers(*responses: httpx.Response) -> list[tuple[int, str]]:
        assert all(r.headers["content-type"].startswith(PROBLEM) for r in responses)
        return [(r.status_code, r.json()["code"]) for r in responses]

    client = service.client
    refused = answers(
        await client.post(f"/staff/charges/{fee.id}/desk-payments", json={"channel": "wechat_pay"}, headers=desk),
        await client.post(
            f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_cash", "amount_fen": 1}, headers=desk
        ),
        await client.post(
            "/staff/charges/99999999999999999999/desk-payments", json={"channel": "desk_cash"}, headers=desk
        ),
        await client.post(f"/staff/charges/{fee.id}/waivers", json={"reason": ""}, headers=desk),
        await client.post(f"/staff/charges/{fee.id}/waivers", json={"reason": "x" * 201}, headers=desk),
        await client.post(f"/staff/charges/{fee.id}/waivers", json={"reason": "a\u0000b"}, headers=desk),
        await client.post("/staff/settlements/1/refunds", json={"reason": "x", "amount_fen": 0}, headers=desk),
        await client.post("/staff/settlements/1/refunds", json={"reason": "x", "amount_fen": 2**31}, headers=desk),
        await client.post("/staff/settlements/1/refunds", json={"reason": "x", "amount_fen": 1.5}, headers=desk),
        await client.post(f"/staff/readers/{card}/charges", json={"barcode": "A0001", "kind": "overdue"}, headers=desk),
        await client.post(f"/staff/readers/{card}/charges", json={"barcode": "", "kind": "lost"}, headers=desk),
        await client.get("/readers/me/account/lines", params={"status": "paid"}, headers=reader),
        await client.get("/readers/me/account/lines", params={"limit": 51}, headers=reader),
        await client.get("/readers/me/account/lines", params={"child_id": 0}, headers=reader),
        await client.get("/readers/me/receipts/bad!order", headers=reader),
        await client.get("/staff/libraries/TL-A/cash-report", params={"day": "1800-01-01"}, headers=desk),
        await client.get("/staff/libraries/TL-A/cash-report", params={"day": "yesterday"}, headers=desk),
        await client.get("/staff/money-report", params={"days": 367}, headers=desk),
    )
    domain = answers(
        await client.post(f"/staff/charges/{fee.id}/waivers", json={"reason": "   "}, headers=desk),
        await client.post("/staff/charges/123456/desk-payments", json={"channel": "desk_cash"}, headers=desk),
        await client.post("/staff/settlements/123456/refunds", json={"reason": "x"}, headers=desk),
        await client.get("/staff/readers/12345/account", headers=desk),
        await client.get("/staff/libraries/NOPE/cash-report", headers=desk),
        await client.get("/readers/me/account", headers={"Authorization": "Bearer nonsense"}),
        await client.get(f"/staff/readers/{card}/account", headers=reader),
    )

    assert refused == [(400, "invalid_request")] * 18
    assert domain == [
        (422, "money_reason_required"),
        (404, "charge_not_found"),
        (404, "settlement_not_found"),
        (422, "card_number_invalid"),
        (404, "library_not_found"),
        (401, "token_invalid"),
        (403, "staff_only"),
    ]


async def test_every_money_operation_documents_the_codes_it_answers(service: Service) -> None:
    schema = (await service.client.get("/docs/openapi.json")).json()
    waivers = schema["paths"]["/staff/charges/{charge_id}/waivers"]["post"]["responses"]
    receipt = schema["paths"]["/readers/me/receipts/{out_trade_no}"]["get"]["responses"]
    money = {
        f"{method.upper()} {path}"
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if {"Money", "Staff: money"} & set(operation["tags"])
    }

    assert "`over_waiver_limit`" in waivers["403"]["description"]
    assert "`charge_outside_scope`" in waivers["403"]["description"]
    assert "`charge_in_payment`" in waivers["409"]["description"]
    assert "`money_reason_required`" in waivers["422"]["description"]
    assert "`payment_not_found`" in receipt["404"]["description"]
    assert money == {
        "GET /readers/me/account",
        "GET /readers/me/account/lines",
        "GET /readers/me/account/deposits",
        "GET /readers/me/receipts",
        "GET /readers/me/receipts/{out_trade_no}",
        "POST /readers/me/deposit-refund",
        "GET /staff/readers/{card_number}/account",
        "GET /staff/readers/{card_number}/account/lines",
        "POST /staff/readers/{card_number}/charges",
        "POST /staff/copies/{barcode}/lost",
        "POST /staff/charges/{charge_id}/desk-payments",
        "POST /staff/charges/{charge_id}/waivers",
        "POST /staff/settlements/{settlement_id}/refunds",
        "POST /staff/readers/{card_number}/deposits",
        "POST /staff/readers/{card_number}/deposit-refunds",
        "GET /staff/libraries/{code}/cash-report",
        "GET /staff/libraries/{code}/cash-report.csv",
        "GET /staff/money-report",
        "GET /staff/payment-anomalies",
    }
