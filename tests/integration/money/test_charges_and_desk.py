from datetime import timedelta

import pytest
from tortoise.exceptions import IntegrityError

from backend.accounts.models import Reader, StaffRole
from backend.accounts.services import remove_child
from backend.catalog.models import Copy, CopyStatus
from backend.circulation.domain_events import LoanClosed
from backend.circulation.errors import CopyNotOnLoan
from backend.circulation.models import CreditEvent, CreditReason, Loan
from backend.circulation.services import declare_lost
from backend.money import desk, ledger, reports, subscribers
from backend.money.errors import (
    CardHasMoney,
    ChargeExists,
    ChargeInPayment,
    DepositNotRefundable,
    NoDeposit,
    NotAssessable,
    NotPayer,
    OutsideMoneyScope,
    OverWaiverLimit,
)
from backend.money.models import Channel, Charge, ChargeKind, Refund, SettlementKind
from backend.money.payments import close_payment, open_payment
from backend.money.policy import MoneyPolicy
from backend.network.errors import OutsideScope
from backend.settings import MoneySettings
from tests.integration.circulation.lending import TUESDAY, lend, reader_id, take_back
from tests.integration.factories import login_reader, staff_headers
from tests.integration.money.accounts import charge
from tests.integration.money.conftest import Desks, a_reader
from tests.integration.service import BUS, NETWORK_TIME, Service

POLICY = MoneyPolicy.of(MoneySettings())


async def test_a_late_return_charges_the_overdue_fee_of_the_loan_once_however_often_the_event_is_replayed(
    service: Service, desks: Desks
) -> None:
    reader = await login_reader(service, "late-reader")
    assert (await lend(service, desks.headers, reader, "A0001"))["status"] == 201
    service.clock.advance(timedelta(days=37).total_seconds())  # due in 30 days: 7 days late

    assert (await take_back(service, await staff_headers(service.client, "a-desk"), "A0001"))["http"] == 200
    loan = await Loan.get(copy__barcode="A0001")
    replay = LoanClosed(loan.id, await reader_id(reader), loan.copy_id, loan.library_id, 7, service.clock.now())
    await subscribers.loan_closed(replay)
    await subscribers.loan_closed(replay)

    charges = await Charge.filter(reader_id=await reader_id(reader))
    assert [(c.kind, c.amount_fen, c.loan_id, c.occasion) for c in charges] == [
        (ChargeKind.OVERDUE, 70, loan.id, f"overdue:loan:{loan.id}")  # 0.10 yuan a day
    ]
    assert await ledger.owed_fen(await reader_id(reader)) == 70


async def test_an_overdue_fee_stops_at_the_cap_and_an_on_time_return_charges_nothing(
    service: Service, desks: Desks
) -> None:
    reader = await login_reader(service, "very-late")
    await lend(service, desks.headers, reader, "A0001")
    await lend(service, desks.headers, reader, "A0002")
    await take_back(service, desks.headers, "A0002")
    service.clock.advance(timedelta(days=120).total_seconds())
    await take_back(service, await staff_headers(service.client, "a-desk"), "A0001")

    assert [(c.kind, c.amount_fen) for c in await Charge.all()] == [(ChargeKind.OVERDUE, 500)]


async def test_owing_more_than_the_limit_refuses_checkout_and_holds_with_fees_owed_and_paying_lifts_it(
    service: Service, desks: Desks
) -> None:
    reader = await login_reader(service, "owes")
    card = await Reader.get(openid="owes")
    small = await charge(card, 1000, TUESDAY)
    assert (await lend(service, desks.headers, reader, "A0001"))["status"] == 201  # 10 yuan: not more than the limit
    big = await charge(card, 1, TUESDAY)

    refused = await lend(service, desks.headers, reader, "A0002")
    hold = await service.client.post(
        "/readers/me/holds", json={"record_id": 1, "pickup_library_code": "TL-A"}, headers=reader.headers
    )

    assert refused["status"] == 409 and [r["code"] for r in refused["reasons"]] == ["fees_owed"]
    assert refused["reasons"][0]["params"] == {"owed_fen": 1001, "limit_fen": 1000}
    assert "10.01" in str(refused["title"]) and "10.00" in str(refused["title"])
    assert hold.status_code == 409 and hold.json()["code"] == "fees_owed"

    await desk.pay_at_desk(desks.librarian, big.id, Channel.DESK_CASH, TUESDAY, BUS)
    assert (await lend(service, desks.headers, reader, "A0002"))["status"] == 201
    assert await ledger.owed_fen(card.id) == small.amount_fen


async def test_a_deposit_lets_a_reader_without_deposit_free_credit_borrow_as_the_tier_allows_until_refunded(
    service: Service, desks: Desks
) -> None:
    reader = await login_reader(service, "low-credit")
    card = await Reader.get(openid="low-credit")
    await CreditEvent.create(reader=card, reason=CreditReason.STAFF_ADJUSTMENT, points=-50, created_at=TUESDAY)
    refused = await lend(service, desks.headers, reader, "A0001")
    assert [r["code"] for r in refused["reasons"]] == ["credit_too_low"]

    line = await desk.pay_deposit_at_desk(desks.librarian, card, Channel.DESK_CASH, TUESDAY, POLICY)
    assert line.amount_fen == 10000 and await ledger.deposit_fen(card.id) == 10000
    assert (await lend(service, desks.headers, reader, "A0001"))["status"] == 201
    assert (await lend(service, desks.headers, reader, "A0002"))["status"] == 201
    third = await lend(service, desks.headers, reader, "A0003")
    assert [r["code"] for r in third["reasons"]] == ["loan_limit_reached"]  # the lowest tier: 2 with a deposit

    with pytest.raises(DepositNotRefundable):
        await desk.refund_deposit(desks.network_admin, card, Channel.DESK_CASH, TUESDAY, POLICY)
    await take_back(service, desks.headers, "A0001")
    await take_back(service, desks.headers, "A0002")
    await desk.refund_deposit(desks.network_admin, card, Channel.DESK_CASH, TUESDAY, POLICY)
    assert await ledger.deposit_fen(card.id) == 0
    assert [r["code"] for r in (await lend(service, desks.headers, reader, "A0001"))["reasons"]] == ["credit_too_low"]


async def test_waivers_are_limited_by_role_and_scope_and_need_a_reason(desks: Desks) -> None:
    reader = await a_reader("王小明")
    lost = await charge(reader, 6000, TUESDAY, ChargeKind.LOST)

    with pytest.raises(OverWaiverLimit) as over:
        await desk.waive(desks.librarian, lost.id, "找到了", TUESDAY, POLICY)
    with pytest.raises(OutsideMoneyScope):
        await desk.waive(desks.other_district, lost.id, "找到了", TUESDAY, POLICY)
    waived = await desk.waive(desks.admin, lost.id, "书已找回", TUESDAY, POLICY)

    assert over.value.params == {"amount_fen": 6000, "limit_fen": 5000}
    assert (waived.kind, waived.amount_fen, waived.note) == (SettlementKind.WAIVER, 6000, "书已找回")
    assert await ledger.owed_fen(reader.id) == 0
    assert POLICY.staff_limit(StaffRole.NETWORK_ADMIN) is None and POLICY.staff_limit(StaffRole.ENROLLER) == 0


async def test_a_charge_in_an_open_payment_order_is_neither_waived_nor_taken_at_a_desk_until_the_order_closes(
    desks: Desks,
) -> None:
    reader = await a_reader("李雷")
    fee = await charge(reader, 300, TUESDAY)
    order = await open_payment(reader, [fee.id], now=TUESDAY, expires_at=TUESDAY + timedelta(minutes=30), policy=POLICY)

    with pytest.raises(ChargeInPayment):
        await desk.waive(desks.admin, fee.id, "送错了", TUESDAY, POLICY)
    with pytest.raises(ChargeInPayment):
        await desk.pay_at_desk(desks.librarian, fee.id, Channel.DESK_CARD, TUESDAY, BUS)
    assert await close_payment(order.out_trade_no, TUESDAY)
    assert (await desk.pay_at_desk(desks.librarian, fee.id, Channel.DESK_CARD, TUESDAY, BUS)).amount_fen == 300


async def test_a_copy_declared_lost_ends_its_loan_and_is_charged_its_price_or_the_default_once(
    service: Service, desks: Desks
) -> None:
    reader = await login_reader(service, "loses")
    card = await Reader.get(openid="loses")
    await lend(service, desks.headers, reader, "A0001")
    await lend(service, desks.headers, reader, "A0002")

    with pytest.raises(OutsideScope):
        await declare_lost(desks.other_district, "A0001", TUESDAY, BUS)
    priced = await declare_lost(desks.librarian, "a0001", TUESDAY, BUS)
    unpriced = await declare_lost(desks.librarian, "A0002", TUESDAY, BUS)
    with pytest.raises(CopyNotOnLoan):
        await declare_lost(desks.librarian, "A0001", TUESDAY, BUS)

    assert [(c.kind, c.amount_fen) for c in await ledger.loan_charges(priced.id)] == [
        (ChargeKind.LOST, 4500),
        (ChargeKind.PROCESSING, 1000),
    ]
    assert [c.amount_fen for c in await ledger.loan_charges(unpriced.id)] == [5000, 1000]
    assert await Loan.filter(reader_id=card.id, returned_at__isnull=True).count() == 0
    assert {c.status for c in await Copy.filter(barcode__in=["A0001", "A0002"])} == {CopyStatus.LOST}
    refusal = await ledger.deposit_refusal(card.id)
    assert isinstance(refusal, NoDeposit)  # nothing on loan any more: only what is owed stands in the way


async def test_a_damaged_copy_is_charged_on_the_readers_loan_before_check_in_and_a_free_copy_only_the_fee(
    service: Service, desks: Desks
) -> None:
    reader = await login_reader(service, "spills")
    card = await Reader.get(openid="spills")
    await Copy.filter(barcode="A0003").update(price_fen=0)  # donated: nothing to replace
    with pytest.raises(NotAssessable):
        await desk.assess_damage(desks.librarian, card, "A0003", "水渍", TUESDAY, POLICY)
    await lend(service, desks.headers, reader, "A0003")

    with pytest.raises(OutsideMoneyScope):
        await desk.assess_damage(desks.other_district, card, "A0003", "水渍", TUESDAY, POLICY)
    damaged = await desk.assess_damage(desks.librarian, card, "A0003", "水渍", TUESDAY, POLICY)
    with pytest.raises(ChargeExists):
        await desk.assess_damage(desks.librarian, card, "A0003", "again", TUESDAY, POLICY)

    assert [(c.kind, c.amount_fen, c.note) for c in damaged] == [(ChargeKind.PROCESSING, 1000, "水渍")]
    await take_back(service, desks.headers, "A0003")
    with pytest.raises(NotAssessable):  # returned, the loan no longer names the reader
        await desk.assess_damage(desks.librarian, card, "A0003", "again", TUESDAY, POLICY)
    with pytest.raises(IntegrityError):
        await Copy.filter(barcode="A0003").update(price_fen=-1)


async def test_a_deposit_is_given_back_at_a_desk_only_within_scope_and_the_roles_limit(
    service: Service, desks: Desks
) -> None:
    card = await a_reader("押金")
    await Reader.filter(id=card.id).update(home_library_id=desks.librarian.library.id)
    await desk.pay_deposit_at_desk(desks.librarian, card, Channel.DESK_CASH, TUESDAY, POLICY)

    with pytest.raises(AssertionError):
        await desk.refund_deposit(desks.librarian, card, Channel.WECHAT_PAY, TUESDAY, POLICY)
    with pytest.raises(OutsideMoneyScope):
        await desk.refund_deposit(desks.other_district, card, Channel.DESK_CASH, TUESDAY, POLICY)
    with pytest.raises(OverWaiverLimit):  # 100 yuan: more than a librarian gives back at once
        await desk.refund_deposit(desks.librarian, card, Channel.DESK_CASH, TUESDAY, POLICY)
    back = await desk.refund_deposit(desks.admin, card, Channel.DESK_CASH, TUESDAY, POLICY)

    (line,) = back.lines
    assert (line.amount_fen, line.channel, await ledger.deposit_fen(card.id)) == (10000, Channel.DESK_CASH, 0)
    assert await Refund.all().count() == 0


async def test_refunding_in_parts_does_not_get_round_the_roles_limit(desks: Desks) -> None:
    reader = await a_reader("分次")
    fee = await charge(reader, 8000, TUESDAY)
    taken = await desk.pay_at_desk(desks.librarian, fee.id, Channel.DESK_CASH, TUESDAY, BUS)

    first = await desk.refund(desks.librarian, taken.id, "多收", TUESDAY, POLICY, amount_fen=4000)
    with pytest.raises(OverWaiverLimit) as over:
        await desk.refund(desks.librarian, taken.id, "多收", TUESDAY, POLICY, amount_fen=4000)
    rest = await desk.refund(desks.admin, taken.id, "多收", TUESDAY, POLICY, amount_fen=4000)

    assert over.value.params == {"amount_fen": 8000, "limit_fen": 5000}
    assert (first.amount_fen, rest.amount_fen) == (4000, 4000)


async def test_a_childs_charges_are_paid_by_the_guardian_and_the_card_is_removed_only_once_they_are_settled(
    desks: Desks,
) -> None:
    guardian = await a_reader("家长")
    child = await a_reader("孩子", guardian=guardian)
    fee = await charge(child, 200, TUESDAY)
    lines, total = await ledger.charge_lines(
        await ledger.cards_paid_by(guardian), outstanding_only=True, limit=10, offset=0
    )
    assert total == 1 and (lines[0].charge.id, lines[0].outstanding_fen) == (fee.id, 200)

    order = await open_payment(guardian, [fee.id], now=TUESDAY, expires_at=TUESDAY + timedelta(hours=1), policy=POLICY)
    assert (order.amount_fen, order.payer_id) == (200, guardian.id)
    with pytest.raises(NotPayer):
        await open_payment(await a_reader("路人"), [fee.id], now=TUESDAY, expires_at=TUESDAY, policy=POLICY)
    with pytest.raises(CardHasMoney):
        await remove_child(guardian, child.id, TUESDAY, BUS)

    await close_payment(order.out_trade_no, TUESDAY)
    await desk.pay_at_desk(desks.librarian, fee.id, Channel.DESK_CASH, TUESDAY, BUS)
    await remove_child(guardian, child.id, TUESDAY, BUS)
    assert (await Charge.get(id=fee.id)).reader_id is None and await ledger.owed_fen(child.id) == 0


async def test_the_daily_cash_report_sums_a_desks_takings_waivers_and_refunds_by_channel(desks: Desks) -> None:
    reader = await a_reader("张三")
    cash, card, waived = [await charge(reader, amount, TUESDAY) for amount in (500, 700, 300)]
    taken = await desk.pay_at_desk(desks.librarian, cash.id, Channel.DESK_CASH, TUESDAY, BUS)
    await desk.pay_at_desk(desks.librarian, card.id, Channel.DESK_CARD, TUESDAY, BUS)
    await desk.waive(desks.librarian, waived.id, "首次逾期", TUESDAY, POLICY)
    await desk.refund(desks.librarian, taken.id, "多收", TUESDAY, POLICY, amount_fen=200)
    await desk.pay_deposit_at_desk(desks.librarian, reader, Channel.DESK_CASH, TUESDAY, POLICY)

    day = NETWORK_TIME.day(TUESDAY)
    report = await reports.daily_cash_report(desks.librarian.library.id, day, NETWORK_TIME)
    elsewhere = await reports.daily_cash_report(desks.other_district.library.id, day, NETWORK_TIME)
    network = await reports.network_report(desks.network_admin, day, day, NETWORK_TIME)

    assert {(t.item, t.channel): t.amount_fen for t in report.totals} == {
        ("charges_paid", "desk_card"): 700,
        ("charges_paid", "desk_cash"): 500,
        ("deposits_paid", "desk_cash"): 10000,
        ("refunded", "desk_cash"): 200,
        ("waived", "waiver"): 300,
    }
    assert report.net_fen == {"desk_cash": 10300, "desk_card": 700}
    assert elsewhere.totals == []
    assert {(t.item, t.channel): t.amount_fen for t in network.taken} == {
        ("delivery", "desk_card"): 700,
        ("delivery", "desk_cash"): 500,
        ("delivery", "waiver"): 300,
    }
    assert [(t.item, t.channel, t.amount_fen) for t in network.refunded] == [("delivery", "desk_cash", 200)]
