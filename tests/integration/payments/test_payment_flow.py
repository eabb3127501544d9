import asyncio
import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from backend.money import ledger, payments
from backend.money.models import (
    AnomalyKind,
    Payment,
    PaymentAnomaly,
    PaymentLine,
    PaymentState,
    Refund,
    RefundState,
    Settlement,
    SettlementKind,
)
from backend.money.payments import close_payment
from standins.wechatpay import Forgery, MerchantKeys
from tests.integration.circulation.lending import TUESDAY, lend
from tests.integration.payments.paying import Paying, desks, ledger_holds_together, owed_by_the_lines, paying

__all__ = ["desks", "paying"]


async def test_a_reader_pays_chosen_lines_by_wechat_pay_and_may_borrow_again_at_once(
    paying: Paying, merchant_keys: MerchantKeys
) -> None:
    reader, card = await paying.reader("payer")
    big, small, kept = await paying.charges(card, 1200, 300, 50)
    refused = await lend(paying.service, paying.desks.headers, reader, "A0001")

    started = await paying.pay(reader, charge_ids=[big.id, small.id])
    order = started.json()
    sent = paying.wechatpay.calls("/v3/pay/transactions/jsapi")[-1].body
    held = await paying.pay(reader, charge_ids=[small.id, kept.id])
    notice = paying.wechatpay.pay(order["out_trade_no"])
    statuses = await paying.deliver(notice)
    seen = await paying.service.client.get(f"/readers/me/payments/{order['out_trade_no']}", headers=reader.headers)
    lent = await lend(paying.service, paying.desks.headers, reader, "A0001")

    assert [r["code"] for r in refused["reasons"]] == ["fees_owed"]  # type: ignore[index]
    assert started.status_code == 201, started.text
    assert (order["amount_fen"], order["expires_at"]) == (1500, "2026-12-01T02:15:00Z")
    params = order["request_payment"]
    assert (params["appId"], params["signType"]) == ("wx-test-app", "RSA")
    assert params["package"].startswith("prepay_id=wx")
    signed = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    signature = base64.b64decode(params["paySign"])
    merchant_keys.merchant.public_key().verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    assert (sent["amount"]["total"], sent["payer"]["openid"], sent["out_trade_no"]) == (
        1500,
        "payer",
        order["out_trade_no"],
    )
    assert sent["notify_url"].endswith("/wechatpay/notices/payments")
    assert sent["time_expire"] == "2026-12-01T10:15:00+08:00"
    assert (held.status_code, held.json()["code"]) == (409, "charge_in_payment")
    assert statuses == [204]
    assert (seen.json()["state"], seen.json()["transaction_id"]) == ("paid", notice.resource["transaction_id"])
    assert lent["status"] == 201
    assert await ledger.owed_fen(card.id) == 50 == await owed_by_the_lines(card)


async def test_the_same_lines_asked_for_again_give_the_same_order_and_a_notice_twenty_times_at_once_settles_once(
    paying: Paying,
) -> None:
    reader, card = await paying.reader("twenty")
    fees = await paying.charges(card, 150, 250)
    ids = [fee.id for fee in fees]

    both = await asyncio.gather(paying.pay(reader, charge_ids=ids), paying.pay(reader, all=True))
    numbers = {answer.json()["out_trade_no"] for answer in both}
    (number,) = numbers
    statuses = await paying.deliver(paying.wechatpay.pay(number), times=20, concurrently=True)

    assert [answer.status_code for answer in both] == [201, 201]
    assert await Payment.all().count() == 1 and await PaymentLine.all().count() == 2
    assert statuses == [204] * 20
    assert [(s.charge_id, s.amount_fen) for s in await Settlement.all().order_by("charge_id")] == list(
        zip(ids, [150, 250], strict=True)
    )
    assert await PaymentAnomaly.all().count() == 0
    assert await ledger.owed_fen(card.id) == 0
    await ledger_holds_together()


async def test_forged_or_tampered_notices_change_nothing_and_a_changed_amount_is_kept_for_staff(
    paying: Paying,
) -> None:
    reader, card = await paying.reader("forged")
    (fee,) = await paying.charges(card, 800)
    number = (await paying.pay(reader, charge_ids=[fee.id])).json()["out_trade_no"]
    notice = paying.wechatpay.pay(number)

    answers = {forgery: await paying.deliver(notice, forgery=forgery) for forgery in Forgery}
    refused = await paying.service.client.post(
        "/wechatpay/notices/payments", content=b"{}", headers={"Wechatpay-Timestamp": "1"}
    )
    still = await Payment.get(out_trade_no=number)
    owed_meanwhile = await ledger.owed_fen(card.id)
    genuine = await paying.deliver(notice)

    assert answers == {
        Forgery.BAD_SIGNATURE: [401],
        Forgery.TAMPERED_BODY: [401],
        Forgery.STALE: [401],
        Forgery.UNKNOWN_SERIAL: [401],
        Forgery.TAMPERED_CIPHERTEXT: [422],
        Forgery.WRONG_APIV3_KEY: [422],
        Forgery.AMOUNT_CHANGED: [204],  # genuinely WeChat Pay's: answered, not settled
    }
    assert (refused.status_code, refused.json()["code"]) == (401, "FAIL")
    assert (still.state, owed_meanwhile) == (PaymentState.OPEN, 800)
    assert [(a.kind, a.amount_fen, a.expected_fen) for a in await PaymentAnomaly.all().order_by("id")] == [
        (AnomalyKind.FORGED_NOTICE, 0, None),  # the four forgeries and the bare post, from one sender in one minute
        (AnomalyKind.AMOUNT_MISMATCH, 801, 800),
    ]
    assert genuine == [204] and await ledger.owed_fen(card.id) == 0


async def test_a_line_is_never_in_two_open_orders_and_an_order_wechat_pay_refuses_frees_its_lines(
    paying: Paying,
) -> None:
    reader, card = await paying.reader("two-orders")
    first, second = await paying.charges(card, 100, 200)
    paying.wechatpay.script_next_errors("/v3/pay/transactions/jsapi", [(500, "SYSTEM_ERROR")])

    unreachable = await paying.pay(reader, charge_ids=[first.id])
    overlapping = await asyncio.gather(
        paying.pay(reader, charge_ids=[first.id]), paying.pay(reader, charge_ids=[first.id, second.id])
    )

    assert (unreachable.status_code, unreachable.json()["code"]) == (503, "wechatpay_unavailable")
    assert sorted(answer.status_code for answer in overlapping) == [201, 409]
    assert [a.json()["code"] for a in overlapping if a.status_code == 409] == ["charge_in_payment"]
    assert await PaymentLine.filter(charge_id=first.id, open=True).count() == 1
    refused = await Payment.all().order_by("id").first()
    assert refused is not None and refused.state is PaymentState.CLOSED
    # Closed at WeChat Pay first, in case it made the order after all and another tap was given it.
    assert len(paying.wechatpay.calls(f"/v3/pay/transactions/out-trade-no/{refused.out_trade_no}/close")) == 1


async def test_an_order_wechat_pay_fails_that_cannot_be_closed_there_stays_open_until_the_job_closes_it(
    paying: Paying, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader, card = await paying.reader("close-fails")
    (fee,) = await paying.charges(card, 300)
    monkeypatch.setattr(payments, "new_out_trade_no", lambda: "S" + "7" * 30)
    paying.wechatpay.script_next_errors("/v3/pay/transactions/jsapi", [(500, "SYSTEM_ERROR")])
    paying.wechatpay.script_next_errors(f"/v3/pay/transactions/out-trade-no/{'S' + '7' * 30}/close", ["disconnect"])

    failed = await paying.pay(reader, charge_ids=[fee.id])
    held = await PaymentLine.filter(charge_id=fee.id, open=True).count()
    paying.later(16 * 60)
    closed = await paying.run("follow_wechat_payments")

    assert (failed.status_code, failed.json()["code"]) == (503, "wechatpay_unavailable")
    assert held == 1  # WeChat Pay might have made it: only the job, once it expires, frees its line
    assert closed == 1 and (await Payment.get(out_trade_no="S" + "7" * 30)).state is PaymentState.CLOSED
    assert await PaymentLine.filter(charge_id=fee.id, open=True).count() == 0


async def test_a_payment_and_a_desk_waiver_of_one_line_at_once_never_both_settle_it(paying: Paying) -> None:
    reader, card = await paying.reader("race")
    (fee,) = await paying.charges(card, 600)

    ordered, waived = await asyncio.gather(
        paying.pay(reader, charge_ids=[fee.id]),
        paying.service.client.post(
            f"/staff/charges/{fee.id}/waivers", json={"reason": "图书馆活动免除"}, headers=paying.desks.headers
        ),
    )

    winners = [answer for answer in (ordered, waived) if answer.status_code == 201]
    loser = next(answer for answer in (ordered, waived) if answer.status_code != 201)
    assert len(winners) == 1
    assert (loser.status_code, loser.json()["code"]) in {(409, "charge_in_payment"), (409, "charge_settled")}
    if ordered.status_code == 201:
        await paying.deliver(paying.wechatpay.pay(ordered.json()["out_trade_no"]))
    assert [s.amount_fen for s in await Settlement.filter(charge_id=fee.id)] == [600]
    await ledger_holds_together()


async def test_a_payment_arriving_for_a_line_waived_after_its_order_closed_is_refunded_by_the_job(
    paying: Paying,
) -> None:
    reader, card = await paying.reader("late-payer")
    (fee,) = await paying.charges(card, 700)
    number = (await paying.pay(reader, charge_ids=[fee.id])).json()["out_trade_no"]
    await close_payment(number, TUESDAY)  # closed here while the reader was paying at WeChat Pay
    waived = await paying.service.client.post(
        f"/staff/charges/{fee.id}/waivers", json={"reason": "读者困难减免"}, headers=paying.desks.headers
    )

    assert await paying.deliver(paying.wechatpay.pay(number)) == [204]
    (owed_back,) = await Refund.all()
    assert (owed_back.amount_fen, owed_back.state) == (700, RefundState.PENDING)
    assert await paying.run("send_wechat_refunds") == 0  # asked for; WeChat Pay is still processing it
    assert await paying.run("send_wechat_refunds") == 0  # asked again: still the one refund
    refund_notice = paying.wechatpay.finish_refund(owed_back.out_refund_no)
    assert await paying.deliver(refund_notice, times=3) == [204, 204, 204]

    assert waived.status_code == 201
    assert [s.kind for s in await Settlement.filter(charge_id=fee.id)] == [SettlementKind.WAIVER]
    asked = [
        call for call in paying.wechatpay.calls("/v3/refund/domestic/refunds") if call.body["out_trade_no"] == number
    ]
    assert len(asked) == 2 and {call.body["out_refund_no"] for call in asked} == {owed_back.out_refund_no}
    assert (await Refund.get(id=owed_back.id)).state is RefundState.SUCCEEDED
    assert (await Payment.get(out_trade_no=number)).state is PaymentState.PAID
    await ledger_holds_together()


async def test_an_order_without_a_notice_is_settled_by_the_job_and_an_expired_unpaid_one_closed(
    paying: Paying,
) -> None:
    payer, payer_card = await paying.reader("silent-notice")
    idler, idler_card = await paying.reader("never-pays")
    (paid_fee,) = await paying.charges(payer_card, 400)
    (idle_fee,) = await paying.charges(idler_card, 500)
    paid = (await paying.pay(payer, charge_ids=[paid_fee.id])).json()["out_trade_no"]
    idle = (await paying.pay(idler, charge_ids=[idle_fee.id])).json()["out_trade_no"]
    paying.wechatpay.pay(paid)  # its notice never comes

    paying.later(120)
    settled_first = await paying.run("follow_wechat_payments")
    paying.later(15 * 60)
    closed_then = await paying.run("follow_wechat_payments")
    idler, _ = await paying.reader("never-pays")  # a new session: the first one's token has expired
    again = await paying.pay(idler, charge_ids=[idle_fee.id])

    assert settled_first == 1 and closed_then == 1
    assert (await Payment.get(out_trade_no=paid)).state is PaymentState.PAID
    assert await ledger.owed_fen(payer_card.id) == 0
    assert (await Payment.get(out_trade_no=idle)).state is PaymentState.CLOSED
    assert paying.wechatpay.order_state(idle) == "CLOSED"
    assert again.status_code == 201 and again.json()["out_trade_no"] != idle


async def test_an_expired_order_paid_otherwise_than_it_says_is_closed_here_and_kept_for_staff(paying: Paying) -> None:
    reader, card = await paying.reader("odd-amount")
    (fee,) = await paying.charges(card, 300)
    number = (await paying.pay(reader, charge_ids=[fee.id])).json()["out_trade_no"]
    paying.wechatpay.pay(number)  # its notice never comes
    await Payment.filter(out_trade_no=number).update(amount_fen=299)  # our record and WeChat Pay's disagree

    paying.later(120)
    while_payable = await paying.run("follow_wechat_payments")
    state_then = (await Payment.get(out_trade_no=number)).state
    paying.later(15 * 60)
    expired = await paying.run("follow_wechat_payments")
    reader, _ = await paying.reader("odd-amount")
    again = await paying.pay(reader, charge_ids=[fee.id])

    assert (while_payable, state_then) == (0, PaymentState.OPEN)
    assert expired == 1 and (await Payment.get(out_trade_no=number)).state is PaymentState.CLOSED
    assert again.status_code == 201  # its line is payable again
    assert [(a.kind, a.out_trade_no) for a in await PaymentAnomaly.all()] == [(AnomalyKind.AMOUNT_MISMATCH, number)]


async def test_garbage_notices_are_refused_never_failing_and_forged_ones_shown_to_staff_once_a_minute(
    paying: Paying,
) -> None:
    now = str(int(paying.service.clock.now().timestamp()))
    signed = {"Wechatpay-Signature": "@@", "Wechatpay-Nonce": "n", "Wechatpay-Serial": paying.wechatpay.public_key_id}
    garbage = [
        {**signed, "Wechatpay-Timestamp": "9" * 400},
        {**signed, "Wechatpay-Timestamp": "-5"},
        {**signed, "Wechatpay-Timestamp": "١٢٣"},  # digits, but not ASCII ones
        {**signed, "Wechatpay-Timestamp": now},  # a signature that is not base64
        {**signed, "Wechatpay-Timestamp": now, "Wechatpay-Serial": "not hex"},
    ]

    async def post(path: str, headers: dict[str, str], body: bytes) -> int:
        raw = {name: value.encode() for name, value in headers.items()}  # UTF-8, as a forger may send
        answer = await paying.service.client.post(f"/wechatpay/notices/{path}", content=body, headers=raw)
        return answer.status_code

    statuses = {
        await post(path, headers, body)
        for path in ("payments", "refunds")
        for headers in garbage
        for body in (b"", b"{}", b"\xff\xfe", b"[" * 10_000)
    }
    in_one_minute = await PaymentAnomaly.filter(kind=AnomalyKind.FORGED_NOTICE).count()
    paying.later(60)
    await post("payments", garbage[0], b"{}")

    assert statuses == {401}
    assert in_one_minute == 1
    forged = await PaymentAnomaly.filter(kind=AnomalyKind.FORGED_NOTICE).order_by("id")
    assert len(forged) == 2 and forged[0].transaction_id != ""  # the sender's address


async def test_i_have_paid_asks_wechat_pay_at_once(paying: Paying) -> None:
    reader, card = await paying.reader("impatient")
    (fee,) = await paying.charges(card, 900)
    number = (await paying.pay(reader, charge_ids=[fee.id])).json()["out_trade_no"]
    other, _ = await paying.reader("someone-else")

    before = await paying.service.client.get(f"/readers/me/payments/{number}?paid=true", headers=reader.headers)
    paying.wechatpay.pay(number)
    plain = await paying.service.client.get(f"/readers/me/payments/{number}", headers=reader.headers)
    after = await paying.service.client.get(f"/readers/me/payments/{number}?paid=true", headers=reader.headers)
    not_theirs = await paying.service.client.get(f"/readers/me/payments/{number}", headers=other.headers)

    assert [r.json()["state"] for r in (before, plain, after)] == ["open", "open", "paid"]
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "payment_not_found")
    assert await ledger.owed_fen(card.id) == 0


async def test_without_a_merchant_paying_by_wechat_pay_is_unavailable(paying: Paying) -> None:
    reader, card = await paying.reader("no-merchant")
    (fee,) = await paying.charges(card, 100)
    app = paying.service.app
    configured = app.state.deps
    app.state.deps = dataclasses.replace(configured, wechatpay=None)
    try:
        answer = await paying.pay(reader, charge_ids=[fee.id])
        job = await paying.run("follow_wechat_payments")
    finally:
        app.state.deps = configured

    assert (answer.status_code, answer.json()["code"]) == (503, "payments_unavailable")
    assert job == 0 and await Payment.all().count() == 0
