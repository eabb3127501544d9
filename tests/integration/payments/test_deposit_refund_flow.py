import asyncio

import httpx

from backend.accounts.models import Reader
from backend.circulation.models import CreditEvent, CreditReason
from backend.money import desk, ledger
from backend.money.models import Channel, DepositKind, DepositLine, Refund, RefundState
from backend.money.policy import MoneyPolicy
from backend.settings import MoneySettings
from tests.integration.circulation.lending import TUESDAY, lend, take_back
from tests.integration.factories import LoggedIn
from tests.integration.payments.paying import Paying, desks, ledger_holds_together, paying
from tests.integration.payments.test_refund_and_reconciliation_flow import refunds_asked

__all__ = ["desks", "paying"]

DEPOSIT = "/readers/me/deposit-refund"


async def low_credit_reader(paying: Paying, openid: str) -> tuple[LoggedIn, Reader]:
    """A reader whose credit is too low to borrow without a deposit."""
    reader, card = await paying.reader(openid)
    await CreditEvent.create(reader=card, reason=CreditReason.STAFF_ADJUSTMENT, points=-50, created_at=TUESDAY)
    return reader, card


async def deposit_by_wechatpay(paying: Paying, reader: LoggedIn) -> str:
    number: str = (await paying.pay(reader, deposit=True)).json()["out_trade_no"]
    assert await paying.deliver(paying.wechatpay.pay(number)) == [204]
    return number


async def ask_back(paying: Paying, reader: LoggedIn) -> httpx.Response:
    return await paying.service.client.post(DEPOSIT, headers=reader.headers)


async def desk_gives_back(paying: Paying, card: Reader) -> httpx.Response:
    # The card has no home library: the network's administrators give its deposit back.
    return await paying.service.client.post(
        f"/staff/readers/{card.card_number}/deposit-refunds",
        json={"channel": "desk_cash"},
        headers=paying.network_admin,
    )


def codes(lent: dict[str, object]) -> list[object]:
    reasons = lent.get("reasons")
    assert isinstance(reasons, list)
    return [reason["code"] for reason in reasons]


async def test_a_deposit_paid_by_wechat_pay_goes_back_by_wechat_pay_when_the_reader_asks(paying: Paying) -> None:
    reader, card = await low_credit_reader(paying, "deposit-back")
    number = await deposit_by_wechatpay(paying, reader)
    lent = await lend(paying.service, paying.desks.headers, reader, "A0001")

    on_loan = await ask_back(paying, reader)
    await take_back(paying.service, paying.desks.headers, "A0001")
    asked = await ask_back(paying, reader)
    refused_loan = await lend(paying.service, paying.desks.headers, reader, "A0002")
    sent = await paying.run("send_wechat_refunds")
    (refund,) = await Refund.all()
    request = refunds_asked(paying, number)[-1].body
    finished = await paying.deliver(paying.wechatpay.finish_refund(refund.out_refund_no))
    again = await ask_back(paying, reader)

    assert lent["status"] == 201
    assert (on_loan.status_code, on_loan.json()["code"]) == (409, "deposit_not_refundable")
    assert asked.status_code == 201
    body = asked.json()
    assert [(line["kind"], line["amount_fen"], line["channel"]) for line in body["lines"]] == [
        ("deposit_refunded", 10000, "wechat_pay")
    ]
    assert [(r["amount_fen"], r["state"], r["channel"]) for r in body["refunds"]] == [(10000, "pending", "wechat_pay")]
    assert body["at_desk_fen"] == 0
    assert codes(refused_loan) == ["credit_too_low"]  # no deposit to borrow on from the moment it was asked back
    assert sent == 0  # asked: WeChat Pay is still returning it
    assert (request["out_trade_no"], request["amount"]["refund"], request["amount"]["total"]) == (number, 10000, 10000)
    assert finished == [204] and (await Refund.get(id=refund.id)).state is RefundState.SUCCEEDED
    assert await ledger.deposit_fen(card.id) == 0
    assert (again.status_code, again.json()["code"]) == (409, "no_deposit")
    await ledger_holds_together()


async def test_a_deposit_paid_at_a_desk_is_collected_at_a_desk(paying: Paying) -> None:
    reader, card = await paying.reader("deposit-at-desk")
    await desk.pay_deposit_at_desk(
        paying.desks.librarian, card, Channel.DESK_CASH, TUESDAY, MoneyPolicy.of(MoneySettings())
    )

    asked = await ask_back(paying, reader)

    assert (asked.status_code, asked.json()["code"]) == (409, "deposit_at_desk")
    assert "100.00" in asked.json()["title"]
    assert await ledger.deposit_fen(card.id) == 10000 and await Refund.all().count() == 0


async def test_a_deposit_paid_partly_at_a_desk_goes_back_each_part_its_own_way(paying: Paying) -> None:
    reader, card = await paying.reader("deposit-mixed")
    # A desk took the deposit when it was 40 yuan; the reader paid what the network's 100 yuan lacked by WeChat Pay.
    await desk.pay_deposit_at_desk(
        paying.desks.librarian, card, Channel.DESK_CASH, TUESDAY, MoneyPolicy.of(MoneySettings(deposit_fen=4000))
    )
    number = await deposit_by_wechatpay(paying, reader)

    asked = await ask_back(paying, reader)
    held_then = await ledger.deposit_fen(card.id)
    at_desk = await desk_gives_back(paying, card)
    await paying.run("send_wechat_refunds")

    assert asked.status_code == 201
    assert [r["amount_fen"] for r in asked.json()["refunds"]] == [6000] and asked.json()["at_desk_fen"] == 4000
    assert held_then == 4000
    assert at_desk.status_code == 201 and at_desk.json()["refunds"] == []
    assert [(line["amount_fen"], line["channel"]) for line in at_desk.json()["lines"]] == [(4000, "desk_cash")]
    assert await ledger.deposit_fen(card.id) == 0
    assert [call.body["amount"]["refund"] for call in refunds_asked(paying, number)] == [6000]
    await ledger_holds_together()


async def test_a_desk_gives_a_wechat_pay_deposit_back_by_wechat_pay_and_a_failed_refund_leaves_it_for_a_desk(
    paying: Paying,
) -> None:
    reader, card = await paying.reader("deposit-closed")
    number = await deposit_by_wechatpay(paying, reader)

    at_desk = await desk_gives_back(paying, card)
    await paying.run("send_wechat_refunds")
    (refund,) = await Refund.all()
    closed = await paying.deliver(paying.wechatpay.finish_refund(refund.out_refund_no, "CLOSED"), times=2)
    held_again = await ledger.deposit_fen(card.id)
    asked = await ask_back(paying, reader)
    handed_back = await desk_gives_back(paying, card)

    assert at_desk.status_code == 201
    assert [(r["amount_fen"], r["state"]) for r in at_desk.json()["refunds"]] == [(10000, "pending")]
    assert [line["channel"] for line in at_desk.json()["lines"]] == ["wechat_pay"]
    assert closed == [204, 204] and (await Refund.get(id=refund.id)).state is RefundState.FAILED
    assert held_again == 10000  # once, however often WeChat Pay says so
    assert (asked.status_code, asked.json()["code"]) == (409, "deposit_at_desk")
    assert handed_back.status_code == 201 and handed_back.json()["refunds"] == []
    assert [(line["amount_fen"], line["channel"]) for line in handed_back.json()["lines"]] == [(10000, "desk_cash")]
    assert await ledger.deposit_fen(card.id) == 0
    assert len(refunds_asked(paying, number)) == 1
    await ledger_holds_together()


async def test_asking_for_the_deposit_back_many_times_at_once_refunds_it_once(paying: Paying) -> None:
    reader, card = await paying.reader("deposit-twice")
    number = await deposit_by_wechatpay(paying, reader)

    answers = await asyncio.gather(*(ask_back(paying, reader) for _ in range(5)))
    await paying.run("send_wechat_refunds")

    statuses = sorted((a.status_code, a.json().get("code")) for a in answers)
    assert statuses == [(201, None)] + [(409, "no_deposit")] * 4
    assert await Refund.all().count() == 1
    assert await DepositLine.filter(reader_id=card.id, kind=DepositKind.REFUNDED).count() == 1
    assert await ledger.deposit_fen(card.id) == 0
    assert [call.body["amount"]["refund"] for call in refunds_asked(paying, number)] == [10000]
    await ledger_holds_together()
