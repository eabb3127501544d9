import asyncio
from datetime import timedelta

import pytest

from backend.money import ledger
from backend.money.models import Payment, Refund, RefundState, Settlement
from backend.money.payments import settle_payment
from standins.wechatpay import Request
from tests.integration.circulation.lending import TUESDAY
from tests.integration.factories import staff_headers
from tests.integration.payments.paying import Paying, desks, ledger_holds_together, owed_by_the_lines, paying
from tests.integration.service import BUS

__all__ = ["desks", "paying"]

REFUNDS = "/v3/refund/domestic/refunds"
YESTERDAY = TUESDAY - timedelta(days=1)  # 2026-11-30 in China, whose bill is made by TUESDAY


async def paid_order(paying: Paying, openid: str, *amounts: int) -> tuple[str, list[Settlement]]:
    reader, card = await paying.reader(openid)
    fees = await paying.charges(card, *amounts)
    number = (await paying.pay(reader, charge_ids=[fee.id for fee in fees])).json()["out_trade_no"]
    assert await paying.deliver(paying.wechatpay.pay(number)) == [204]
    return number, await Settlement.filter(payment__out_trade_no=number).order_by("charge_id")


def refunds_asked(paying: Paying, out_trade_no: str) -> list[Request]:
    return [call for call in paying.wechatpay.calls(REFUNDS) if call.body["out_trade_no"] == out_trade_no]


async def refund(paying: Paying, settlement: Settlement, amount_fen: int) -> tuple[int, str]:
    answer = await paying.service.client.post(
        f"/staff/settlements/{settlement.id}/refunds",
        json={"reason": "读者多缴", "amount_fen": amount_fen},
        headers=paying.admin,
    )
    return answer.status_code, answer.json().get("state") or answer.json()["code"]


async def test_a_staff_refund_of_a_wechat_payment_is_sent_by_the_job_and_finished_by_its_notice(
    paying: Paying,
) -> None:
    number, (settlement,) = await paid_order(paying, "refunded", 1200)

    asked = await refund(paying, settlement, 500)
    sent = await paying.run("send_wechat_refunds")
    (pending,) = await Refund.all()
    request = refunds_asked(paying, number)[-1].body
    notice = paying.wechatpay.finish_refund(pending.out_refund_no)
    statuses = await paying.deliver(notice, times=2)
    again = await paying.run("send_wechat_refunds")

    assert asked == (201, "pending") and sent == 0
    assert (request["out_refund_no"], request["out_trade_no"], request["amount"]["refund"]) == (
        pending.out_refund_no,
        number,
        500,
    )
    assert request["amount"]["total"] == 1200 and request["notify_url"].endswith("/wechatpay/notices/refunds")
    assert statuses == [204, 204] and again == 0
    assert (await Refund.get(id=pending.id)).state is RefundState.SUCCEEDED
    assert [call.body["out_refund_no"] for call in refunds_asked(paying, number)] == [pending.out_refund_no]


async def test_an_abnormal_refund_keeps_counting_and_a_later_success_finishes_it(paying: Paying) -> None:
    _, (settlement,) = await paid_order(paying, "abnormal-refund", 1000)
    asked = await refund(paying, settlement, 600)
    await paying.run("send_wechat_refunds")
    (sent,) = await Refund.all()

    abnormal = await paying.deliver(paying.wechatpay.finish_refund(sent.out_refund_no, "ABNORMAL"))
    state_then = (await Refund.get(id=sent.id)).state
    too_much = await refund(paying, settlement, 600)
    succeeded = await paying.deliver(paying.wechatpay.finish_refund(sent.out_refund_no, "SUCCESS"))

    assert asked == (201, "pending")
    assert abnormal == [204] and state_then is RefundState.ABNORMAL
    assert too_much == (409, "not_refundable")  # the abnormal 600 still counts against the 1000 paid
    assert succeeded == [204] and (await Refund.get(id=sent.id)).state is RefundState.SUCCEEDED
    await ledger_holds_together()


async def test_a_refund_wechat_pay_refuses_unexpectedly_waits_and_the_others_are_still_sent(
    paying: Paying, caplog: pytest.LogCaptureFixture
) -> None:
    first_no, (first,) = await paid_order(paying, "odd-refusal", 500)
    second_no, (second,) = await paid_order(paying, "sent-anyway", 700)
    await refund(paying, first, 500)
    await refund(paying, second, 700)
    paying.wechatpay.script_next_errors(REFUNDS, [(403, "ORDER_CLOSED")])

    await paying.run("send_wechat_refunds")
    states = [r.state for r in await Refund.all().order_by("id")]
    asked = (len(refunds_asked(paying, first_no)), len(refunds_asked(paying, second_no)))
    await paying.run("send_wechat_refunds")

    assert states == [RefundState.PENDING, RefundState.PENDING] and asked == (1, 1)
    assert "ORDER_CLOSED" in caplog.text and paying.wechatpay.apiv3_key not in caplog.text
    assert len(refunds_asked(paying, first_no)) == 2  # asked again at the next run


async def test_concurrent_refunds_of_one_payment_never_exceed_it(paying: Paying) -> None:
    number, (settlement,) = await paid_order(paying, "refunded-at-once", 1000)

    answers = await asyncio.gather(*(refund(paying, settlement, 400) for _ in range(6)))
    await paying.run("send_wechat_refunds")

    assert sorted(answers) == [(201, "pending")] * 2 + [(409, "not_refundable")] * 4
    assert sum(r.amount_fen for r in await Refund.all()) == 800
    assert sorted(call.body["amount"]["refund"] for call in refunds_asked(paying, number)) == [400, 400]
    await ledger_holds_together()


async def test_reconciliation_finds_an_order_wechat_pay_has_and_we_dont_and_the_reverse(paying: Paying) -> None:
    reader, card = await paying.reader("reconciled")
    agreed, ours_only = await paying.charges(card, 300, 450)
    in_both = (await paying.pay(reader, charge_ids=[agreed.id])).json()["out_trade_no"]
    await paying.deliver(paying.wechatpay.pay(in_both, at=YESTERDAY))
    not_at_wechatpay = (await paying.pay(reader, charge_ids=[ours_only.id])).json()["out_trade_no"]
    await settle_payment(not_at_wechatpay, "4200000000000000000000000001", 450, YESTERDAY, bus=BUS)
    paying.wechatpay.add_foreign_payment("FOREIGN-ORDER-0001", 990, at=YESTERDAY)

    found = await paying.run("reconcile_wechat_pay")
    again = await paying.run("reconcile_wechat_pay")
    day = await paying.service.client.get(
        "/staff/payment-reconciliations/differences", params={"day": "2026-11-30"}, headers=paying.network_admin
    )
    days = await paying.service.client.get("/staff/payment-reconciliations", headers=paying.network_admin)
    desk = await staff_headers(paying.service.client, "a-desk")
    librarian = [
        await paying.service.client.get("/staff/payment-reconciliations", headers=desk),
        await paying.service.client.get(
            "/staff/payment-reconciliations/differences", params={"day": "2026-11-30"}, headers=desk
        ),
    ]

    assert found == again == 2
    body = day.json()
    assert (body["day"], body["reconciliation"]["trades"], body["reconciliation"]["differences"]) == (
        "2026-11-30",
        2,
        2,
    )
    assert sorted((d["kind"], d["out_trade_no"], d["ours_fen"], d["wechatpay_fen"]) for d in body["items"]) == [
        ("missing_from_bill", not_at_wechatpay, 450, None),
        ("unknown_order", "FOREIGN-ORDER-0001", None, 990),
    ]
    assert [(d["day"], d["differences"]) for d in days.json()["items"]] == [("2026-11-30", 2)]
    assert [(r.status_code, r.json()["code"]) for r in librarian] == [(403, "staff_role_insufficient")] * 2


async def test_balances_equal_the_sum_of_their_lines_after_a_concurrent_mix(paying: Paying) -> None:
    readers = [await paying.reader(f"mix-{n}") for n in range(3)]
    fees = {card.id: await paying.charges(card, 1100, 250, 90) for _, card in readers}
    orders = [
        (await paying.pay(reader, charge_ids=[f.id for f in fees[card.id][:2]])).json()["out_trade_no"]
        for reader, card in readers
    ]
    notices = [paying.wechatpay.pay(number) for number in orders]
    desk, client = paying.desks.headers, paying.service.client

    await asyncio.gather(
        *(paying.deliver(notice, times=5, concurrently=True) for notice in notices),
        *(
            client.post(f"/staff/charges/{fees[card.id][0].id}/waivers", json={"reason": "减免"}, headers=desk)
            for _, card in readers
        ),
        *(
            client.post(f"/staff/charges/{fees[card.id][2].id}/desk-payments", json={"channel": "desk_cash"}, headers=h)
            for (_, card), h in zip(readers, [desk, paying.admin, desk], strict=True)
        ),
    )
    by_wechatpay = await Settlement.filter(payment_id__isnull=False, amount_fen=1100)
    refunds = await asyncio.gather(*(refund(paying, s, 400) for s in by_wechatpay for _ in range(4)))
    await paying.run("send_wechat_refunds")

    for reader, card in readers:
        account = await client.get("/readers/me/account", headers=reader.headers)
        assert account.json()["owed_fen"] == await ledger.owed_fen(card.id) == await owed_by_the_lines(card) == 0
    assert all(p.state.value == "paid" for p in await Payment.all())
    assert len(by_wechatpay) == 3 and sum(1 for status, _ in refunds if status == 201) == 6  # 800 of each 1100
    await ledger_holds_together()
