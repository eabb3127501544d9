from datetime import timedelta

from backend.money.models import Channel, ChargeKind
from backend.money.payments import Settled, open_payment, settle_payment
from backend.money.policy import MoneyPolicy
from backend.settings import MoneySettings
from tests.integration.circulation.lending import TUESDAY, lend, take_back
from tests.integration.factories import login_reader, staff_headers
from tests.integration.money.accounts import charge
from tests.integration.money.conftest import Desks
from tests.integration.money_api.family import Family, a_family, get_json
from tests.integration.service import BUS, Service

LATER = TUESDAY + timedelta(minutes=30)
POLICY = MoneyPolicy.of(MoneySettings())


async def test_a_guardian_sees_what_their_card_and_their_childrens_owe_and_nobody_elses(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "guardian", "小明")
    neighbours = await a_family(service, "neighbour", "小红")
    mine = await charge(family.card, 300, TUESDAY)
    childs = await charge(family.child, 1200, TUESDAY + timedelta(minutes=1))
    await charge(neighbours.card, 800, TUESDAY)
    await charge(neighbours.child, 900, TUESDAY)

    account = await get_json(service, "/readers/me/account", family.guardian.headers)
    lines = await get_json(service, "/readers/me/account/lines", family.guardian.headers)
    childs_only = await get_json(
        service, "/readers/me/account/lines", family.guardian.headers, child_id=family.child.id
    )
    neighbours_child = await service.client.get(
        "/readers/me/account/lines", params={"child_id": neighbours.child.id}, headers=family.guardian.headers
    )
    theirs = await get_json(service, "/readers/me/account", neighbours.guardian.headers)

    assert account["owed_fen"] == 1500 and account["owing_limit_fen"] == 1000
    assert [
        (c["card"]["name"], c["card"]["child_id"], c["owed_fen"], c["borrowing_blocked"]) for c in account["cards"]
    ] == [
        ("", None, 300, False),
        ("小明", family.child.id, 1200, True),
    ]
    assert account["deposit"] == {"held_fen": 0, "required_fen": 10000, "refundable": False}
    assert [line["id"] for line in account["outstanding"]["items"]] == [childs.id, mine.id]
    assert [(line["id"], line["card"]["card_number"]) for line in lines["items"]] == [
        (childs.id, family.child.card_number),
        (mine.id, family.card.card_number),
    ]
    assert [line["id"] for line in childs_only["items"]] == [childs.id]
    assert (neighbours_child.status_code, neighbours_child.json()["code"]) == (404, "child_not_found")
    assert theirs["owed_fen"] == 1700 and {line["id"] for line in theirs["outstanding"]["items"]}.isdisjoint(
        {mine.id, childs.id}
    )


async def test_a_line_shows_the_loan_it_came_from_and_leaves_the_outstanding_list_once_paid(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "late", "小刚")
    assert (await lend(service, desks.headers, family.guardian, "A0001"))["status"] == 201
    service.clock.advance(timedelta(days=37).total_seconds())  # due in 30 days: 7 days late
    desk, reader = await staff_headers(service.client, "a-desk"), (await login_reader(service, "late")).headers
    assert (await take_back(service, desk, "A0001"))["http"] == 200
    fee = await charge(family.card, 200, TUESDAY)

    before = await get_json(service, "/readers/me/account/lines", reader)
    paid = await service.client.post(
        f"/staff/charges/{fee.id}/desk-payments", json={"channel": "desk_card"}, headers=desk
    )
    outstanding = await get_json(service, "/readers/me/account/lines", reader)
    everything = await get_json(service, "/readers/me/account/lines", reader, status="all")

    overdue = before["items"][0]
    assert (overdue["kind"], overdue["amount_fen"], overdue["outstanding_fen"]) == ("overdue", 70, 70)
    assert overdue["loan"]["title"] == "三体" and overdue["loan"]["barcode"] == "A0001"
    assert overdue["loan"]["due_at"] < overdue["loan"]["returned_at"]
    assert overdue["library"] == {"code": "TL-A", "name": overdue["library"]["name"]}
    assert before["items"][1]["loan"] is None and before["items"][1]["source"].startswith("delivery-order:")
    assert paid.status_code == 201 and paid.json()["kind"] == "desk_card"
    assert [line["kind"] for line in outstanding["items"]] == ["overdue"]
    assert [(line["kind"], line["settled_fen"], line["outstanding_fen"]) for line in everything["items"]] == [
        ("overdue", 0, 70),
        ("delivery", 200, 0),
    ]
    assert [(s["kind"], s["amount_fen"], s["reason"]) for s in everything["items"][1]["settled_by"]] == [
        ("desk_card", 200, None)
    ]
    waived = await service.client.post(
        f"/staff/charges/{overdue['id']}/waivers", json={"reason": "首次逾期"}, headers=desk
    )
    (seen,) = (await get_json(service, "/readers/me/account/lines", reader, status="all"))["items"][0]["settled_by"]
    assert waived.status_code == 201
    assert (seen["kind"], seen["amount_fen"], seen["reason"]) == ("waiver", 70, "首次逾期")
    assert "staff" not in str(seen)


async def test_receipts_show_my_paid_orders_and_never_another_readers(service: Service, desks: Desks) -> None:
    family = await a_family(service, "payer", "小丽")
    mine, childs = await charge(family.card, 300, TUESDAY), await charge(family.child, 450, TUESDAY)
    order = await open_payment(family.card, [mine.id, childs.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
    unpaid_fee = await charge(family.card, 100, TUESDAY)
    unpaid = await open_payment(family.card, [unpaid_fee.id], now=TUESDAY, expires_at=LATER, policy=POLICY)
    assert await settle_payment(order.out_trade_no, "4200000001202612010009", 750, LATER, bus=BUS) is Settled.SETTLED
    stranger = await login_reader(service, "stranger")

    receipts = await get_json(service, "/readers/me/receipts", family.guardian.headers)
    one = await get_json(service, f"/readers/me/receipts/{order.out_trade_no}", family.guardian.headers)
    in_payment = await get_json(service, "/readers/me/account/lines", family.guardian.headers)
    not_paid = await service.client.get(f"/readers/me/receipts/{unpaid.out_trade_no}", headers=family.guardian.headers)
    not_theirs = await service.client.get(f"/readers/me/receipts/{order.out_trade_no}", headers=stranger.headers)
    theirs = await get_json(service, "/readers/me/receipts", stranger.headers)

    assert receipts["total"] == 1 and receipts["items"] == [one]
    assert (one["amount_fen"], one["transaction_id"]) == (750, "4200000001202612010009")
    assert [(line["charge_id"], line["kind"], line["amount_fen"]) for line in one["lines"]] == [
        (mine.id, ChargeKind.DELIVERY, 300),
        (childs.id, ChargeKind.DELIVERY, 450),
    ]
    assert [(line["id"], line["in_payment"]) for line in in_payment["items"]] == [(unpaid_fee.id, True)]
    assert (not_paid.status_code, not_paid.json()["code"]) == (404, "payment_not_found")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "payment_not_found")
    assert theirs["items"] == []
    assert Channel.WECHAT_PAY in {s["kind"] for s in await _settlements(service, desks, family, childs.id)}


async def test_a_deposit_taken_at_a_desk_is_held_and_refundable_until_the_reader_borrows(
    service: Service, desks: Desks
) -> None:
    family = await a_family(service, "depositor", "小芳")
    card = family.card.card_number

    taken = await service.client.post(
        f"/staff/readers/{card}/deposits", json={"channel": "desk_cash"}, headers=desks.headers
    )
    again = await service.client.post(
        f"/staff/readers/{card}/deposits", json={"channel": "desk_cash"}, headers=desks.headers
    )
    held = (await get_json(service, "/readers/me/account", family.guardian.headers))["deposit"]
    await lend(service, desks.headers, family.guardian, "A0001")
    on_loan = (await get_json(service, "/readers/me/account", family.guardian.headers))["deposit"]
    network_admin = await staff_headers(service.client, "net-admin")  # the reader has no home library
    refused = await service.client.post(
        f"/staff/readers/{card}/deposit-refunds", json={"channel": "desk_cash"}, headers=network_admin
    )
    await take_back(service, desks.headers, "A0001")
    not_mine = await service.client.post(
        f"/staff/readers/{card}/deposit-refunds", json={"channel": "desk_cash"}, headers=desks.headers
    )
    given_back = await service.client.post(
        f"/staff/readers/{card}/deposit-refunds", json={"channel": "desk_cash"}, headers=network_admin
    )
    receipts = await get_json(service, "/readers/me/account/deposits", family.guardian.headers, limit=1)

    assert taken.status_code == 201 and (taken.json()["kind"], taken.json()["amount_fen"]) == ("deposit_paid", 10000)
    assert (again.status_code, again.json()["code"]) == (409, "deposit_held")
    assert held == {"held_fen": 10000, "required_fen": 10000, "refundable": True}
    assert on_loan["refundable"] is False
    assert (refused.status_code, refused.json()["code"]) == (409, "deposit_not_refundable")
    assert (not_mine.status_code, not_mine.json()["code"]) == (403, "charge_outside_scope")
    assert given_back.status_code == 201 and given_back.json()["lines"][0]["kind"] == "deposit_refunded"
    assert receipts["total"] == 2
    assert [(d["kind"], d["amount_fen"], d["channel"]) for d in receipts["items"]] == [
        ("deposit_refunded", 10000, "desk_cash")
    ]


async def _settlements(service: Service, desks: Desks, family: Family, charge_id: int) -> list[dict[str, object]]:
    card = family.card.card_number
    account = await get_json(service, f"/staff/readers/{card}/account", desks.headers, status="all")
    (line,) = [line for line in account["lines"]["items"] if line["id"] == charge_id]
    settlements: list[dict[str, object]] = line["settlements"]
    return settlements
