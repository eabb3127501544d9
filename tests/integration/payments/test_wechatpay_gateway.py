import asyncio
import base64
import logging
import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from backend.clock import SystemClock
from backend.settings import InvalidSettings, WeChatPaySettings
from backend.wechatpay.errors import (
    BillNotReady,
    MerchantBalanceTooLow,
    NoticeNotGenuine,
    NoticeUnreadable,
    OrderAlreadyPaid,
    OrderClosed,
    OrderNotFound,
    OutTradeNoUsed,
    RefundNotFound,
    RefundRefused,
    WeChatPayNotConfigured,
    WeChatPayRejected,
    WeChatPayUnavailable,
)
from backend.wechatpay.gateway import RefundStatus, TradeState, WechatpayV3Gateway
from entrypoints.embedded import free_port
from standins.wechatpay import CHINA, FakeWeChatPay, Forgery, MerchantKeys, new_key, platform_certificate, write_pem
from tests.integration.payments.conftest import APPID, NoticeInbox

JSAPI = "/v3/pay/transactions/jsapi"


def order_no() -> str:
    return "SX" + secrets.token_hex(10)


async def new_order(gateway: WechatpayV3Gateway, inbox: NoticeInbox, total_fen: int = 500, **changes: object) -> str:
    details: dict[str, object] = {
        "out_trade_no": order_no(),
        "description": "书香 逾期费",
        "total_fen": total_fen,
        "payer_openid": "o-reader-1",
        "time_expire": datetime.now(UTC) + timedelta(minutes=30),
        "notify_url": inbox.url,
        **changes,
    }
    await gateway.create_jsapi_order(**details)  # type: ignore[arg-type]
    return str(details["out_trade_no"])


async def test_an_order_gets_a_prepay_id_and_payment_params_signed_with_the_merchant_key(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, keys: MerchantKeys, inbox: NoticeInbox
) -> None:
    no = order_no()
    expire = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    order = {"description": "押金", "total_fen": 10000, "payer_openid": "o-reader-1", "notify_url": inbox.url}

    prepay_id = await gateway.create_jsapi_order(out_trade_no=no, time_expire=expire, attach="deposit", **order)
    again = await gateway.create_jsapi_order(out_trade_no=no, time_expire=expire, attach="deposit", **order)
    params = gateway.payment_params(prepay_id).for_request_payment()

    assert prepay_id.startswith("wx") and again == prepay_id
    sent = wechatpay.calls(JSAPI)[-1].body
    assert sent["amount"] == {"total": 10000, "currency": "CNY"} and sent["payer"] == {"openid": "o-reader-1"}
    assert sent["time_expire"] == "2030-01-02T11:04:05+08:00" and sent["appid"] == APPID
    assert params["package"] == f"prepay_id={prepay_id}" and params["signType"] == "RSA"
    assert params["appId"] == APPID and abs(int(params["timeStamp"]) - datetime.now(UTC).timestamp()) < 60
    signed = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")).encode()
    keys.merchant.public_key().verify(base64.b64decode(params["paySign"]), signed, padding.PKCS1v15(), hashes.SHA256())


async def test_an_order_number_used_with_other_details_is_refused(
    gateway: WechatpayV3Gateway, inbox: NoticeInbox
) -> None:
    no = await new_order(gateway, inbox, total_fen=500)

    with pytest.raises(OutTradeNoUsed) as refused:
        await new_order(gateway, inbox, total_fen=600, out_trade_no=no)

    assert refused.value.wechatpay_code == "OUT_TRADE_NO_USED"


async def test_a_genuine_payment_notice_is_read_whatever_the_case_of_its_headers(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    no = await new_order(gateway, inbox, total_fen=500, attach="lines:7,8")
    paid_at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)

    notice = wechatpay.pay(no, payer_total_fen=450, at=paid_at)
    headers, body = wechatpay.signed(notice)
    read = await gateway.parse_payment_notice({k.lower(): v for k, v in headers.items()}, body)

    assert read.notice_id == notice.notice_id and read.event_type == "TRANSACTION.SUCCESS"
    paid = read.transaction
    assert (paid.out_trade_no, paid.trade_state, paid.total_fen, paid.payer_total_fen) == (
        no,
        TradeState.SUCCESS,
        500,
        450,
    )
    assert paid.transaction_id and paid.transaction_id.startswith("4200")
    assert paid.success_time == paid_at and paid.attach == "lines:7,8" and paid.payer_openid == "o-reader-1"


async def test_a_notice_sent_twenty_times_at_once_arrives_twenty_times_each_genuine(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    no = await new_order(gateway, inbox)
    notice = wechatpay.pay(no)
    before = len(inbox.received)

    statuses = await asyncio.wrap_future(wechatpay.deliver(notice, times=20, concurrently=True))
    arrived = inbox.received[before:]
    read = [await gateway.parse_payment_notice(r.headers, r.body) for r in arrived]

    assert statuses == [204] * 20 and len(arrived) == 20
    assert {r.notice_id for r in read} == {notice.notice_id}
    assert len({r.headers["Wechatpay-Nonce"] for r in arrived}) == 20  # each delivery signed anew
    assert {r.transaction.out_trade_no for r in read} == {no}


@pytest.mark.parametrize(
    ("forgery", "error"),
    [
        (Forgery.BAD_SIGNATURE, NoticeNotGenuine),
        (Forgery.TAMPERED_BODY, NoticeNotGenuine),
        (Forgery.STALE, NoticeNotGenuine),
        (Forgery.UNKNOWN_SERIAL, NoticeNotGenuine),
        (Forgery.TAMPERED_CIPHERTEXT, NoticeUnreadable),
        (Forgery.WRONG_APIV3_KEY, NoticeUnreadable),
    ],
)
async def test_a_forged_tampered_or_stale_notice_is_refused(
    gateway: WechatpayV3Gateway,
    wechatpay: FakeWeChatPay,
    inbox: NoticeInbox,
    forgery: Forgery,
    error: type[Exception],
    caplog: pytest.LogCaptureFixture,
) -> None:
    notice = wechatpay.pay(await new_order(gateway, inbox))

    with pytest.raises(error):
        await gateway.parse_payment_notice(*wechatpay.signed(notice, forgery))

    assert "notice refused" in caplog.text and wechatpay.apiv3_key not in caplog.text


async def test_a_notice_without_its_signature_headers_is_refused(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    headers, body = wechatpay.signed(wechatpay.pay(await new_order(gateway, inbox)))
    del headers["Wechatpay-Signature"]

    with pytest.raises(NoticeNotGenuine):
        await gateway.parse_payment_notice(headers, body)


async def test_a_genuine_notice_of_another_amount_is_read_as_it_says_for_the_service_to_compare(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    notice = wechatpay.pay(await new_order(gateway, inbox, total_fen=500))

    read = await gateway.parse_payment_notice(*wechatpay.signed(notice, Forgery.AMOUNT_CHANGED))

    assert (read.transaction.total_fen, read.transaction.payer_total_fen) == (501, 501)


async def test_orders_are_queried_and_closed_with_wechat_pays_refusals_mapped(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    unpaid, paid = await new_order(gateway, inbox), await new_order(gateway, inbox, total_fen=800)
    wechatpay.pay(paid)

    waiting = await gateway.query_order(unpaid)
    await gateway.close_order(unpaid)
    await gateway.close_order(unpaid)  # closing twice is fine
    closed = await gateway.query_order(unpaid)
    settled = await gateway.query_order(paid)

    assert (waiting.trade_state, waiting.transaction_id, waiting.success_time) == (TradeState.NOTPAY, None, None)
    assert closed.trade_state == TradeState.CLOSED
    assert (settled.trade_state, settled.total_fen, settled.payer_total_fen) == (TradeState.SUCCESS, 800, 800)
    with pytest.raises(OrderAlreadyPaid) as paid_first:
        await gateway.close_order(paid)
    with pytest.raises(OrderClosed) as reopened:
        await new_order(gateway, inbox, out_trade_no=unpaid)
    with pytest.raises(OrderNotFound) as missing:
        await gateway.query_order(order_no())
    assert paid_first.value.wechatpay_code == "ORDERPAID"
    assert reopened.value.wechatpay_code == "ORDER_CLOSED"
    assert missing.value.wechatpay_code == "ORDER_NOT_EXIST"


async def test_refunds_never_exceed_what_was_paid_and_end_with_a_notice(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    no = await new_order(gateway, inbox, total_fen=1000)
    wechatpay.pay(no)
    refund = {"out_trade_no": no, "total_fen": 1000, "notify_url": inbox.url, "reason": "押金退还"}

    first = await gateway.create_refund(out_refund_no="R" + no, refund_fen=600, **refund)
    same = await gateway.create_refund(out_refund_no="R" + no, refund_fen=600, **refund)
    racing = await asyncio.gather(
        *(gateway.create_refund(out_refund_no=f"R{i}" + no, refund_fen=300, **refund) for i in range(3)),
        return_exceptions=True,
    )
    notice = wechatpay.finish_refund("R" + no, at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    read = await gateway.parse_refund_notice(*wechatpay.signed(notice))
    queried = await gateway.query_refund("R" + no)

    assert (first.status, first.refund_fen, first.total_fen) == (RefundStatus.PROCESSING, 600, 1000)
    assert same.refund_id == first.refund_id
    assert sum(1 for r in racing if not isinstance(r, Exception)) == 1  # 400 was left
    refused = [r for r in racing if isinstance(r, Exception)]
    assert all(isinstance(r, RefundRefused) and r.wechatpay_code == "INVALID_REQUEST" for r in refused)
    assert (read.event_type, read.refund.status, read.refund.refund_id) == (
        "REFUND.SUCCESS",
        RefundStatus.SUCCESS,
        first.refund_id,
    )
    assert read.refund.success_time == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert queried.status == RefundStatus.SUCCESS and queried.out_trade_no == no
    with pytest.raises(NoticeUnreadable):  # a refund notice is no payment notice
        await gateway.parse_payment_notice(*wechatpay.signed(notice))


async def test_refund_refusals_are_mapped(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    no = await new_order(gateway, inbox, total_fen=1000)
    wechatpay.pay(no)
    refund = {"total_fen": 1000, "refund_fen": 100, "notify_url": inbox.url}

    with pytest.raises(OrderNotFound) as no_order:
        await gateway.create_refund(out_refund_no=order_no(), out_trade_no=order_no(), **refund)
    with pytest.raises(RefundNotFound) as no_refund:
        await gateway.query_refund(order_no())
    wechatpay.merchant_balance_fen = 50
    try:
        with pytest.raises(MerchantBalanceTooLow) as balance:
            await gateway.create_refund(out_refund_no=order_no(), out_trade_no=no, **refund)
    finally:
        wechatpay.merchant_balance_fen = None

    assert no_order.value.wechatpay_code == no_refund.value.wechatpay_code == "RESOURCE_NOT_EXISTS"
    assert balance.value.wechatpay_code == "NOT_ENOUGH"


async def test_the_trade_bill_lists_the_days_payments_and_refunds_ours_or_not(
    gateway: WechatpayV3Gateway, wechatpay: FakeWeChatPay, inbox: NoticeInbox
) -> None:
    # A day of its own, long past, so that no other test's trades land in it.
    day = datetime(2025, 1, 1 + secrets.randbelow(28), tzinfo=CHINA).date()
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=CHINA)
    ours, refunded = await new_order(gateway, inbox, total_fen=1234), await new_order(gateway, inbox, total_fen=500)
    wechatpay.pay(ours, at=noon)
    wechatpay.pay(refunded, at=noon + timedelta(hours=1))
    foreign = order_no()
    wechatpay.add_foreign_payment(foreign, 999, at=noon + timedelta(hours=2))
    await gateway.create_refund(
        out_refund_no="R" + refunded, out_trade_no=refunded, refund_fen=200, total_fen=500, notify_url=inbox.url
    )
    wechatpay.finish_refund("R" + refunded, at=noon + timedelta(hours=3))

    bill = await gateway.trade_bill(day)
    empty = await gateway.trade_bill(day - timedelta(days=400))

    rows = {(r.out_trade_no, r.trade_state): r for r in bill.rows}
    assert set(rows) == {(ours, "SUCCESS"), (refunded, "SUCCESS"), (foreign, "SUCCESS"), (refunded, "REFUND")}
    assert rows[ours, "SUCCESS"].total_fen == rows[ours, "SUCCESS"].settlement_fen == 1234
    assert rows[ours, "SUCCESS"].trade_time == noon.astimezone(UTC)
    assert rows[foreign, "SUCCESS"].total_fen == 999
    back = rows[refunded, "REFUND"]
    assert (back.out_refund_no, back.refund_fen, back.refund_status) == ("R" + refunded, 200, "SUCCESS")
    assert rows[ours, "SUCCESS"].refund_id is None and rows[ours, "SUCCESS"].refund_fen == 0
    assert empty.rows == ()
    with pytest.raises(BillNotReady):
        await gateway.trade_bill(datetime.now(CHINA).date())


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        ((500, "SYSTEM_ERROR"), WeChatPayUnavailable, "SYSTEM_ERROR"),
        ((429, "FREQUENCY_LIMITED"), WeChatPayUnavailable, "FREQUENCY_LIMITED"),
        ("disconnect", WeChatPayUnavailable, None),
        ((401, "SIGN_ERROR"), WeChatPayRejected, "SIGN_ERROR"),
        ((400, "PARAM_ERROR"), WeChatPayRejected, "PARAM_ERROR"),
        ((403, "NO_AUTH"), WeChatPayRejected, "NO_AUTH"),
    ],
)
async def test_wechat_pay_failures_become_our_errors_with_its_code_kept(
    gateway: WechatpayV3Gateway,
    wechatpay: FakeWeChatPay,
    inbox: NoticeInbox,
    answer: tuple[int, str] | str,
    error: type[Exception],
    code: str | None,
) -> None:
    wechatpay.script_next_errors(JSAPI, [answer])

    with pytest.raises(error) as failed:
        await new_order(gateway, inbox)

    assert getattr(failed.value, "wechatpay_code", None) == code


async def test_a_request_signed_with_another_merchant_key_is_refused_as_sign_error(
    wechatpay_settings: WeChatPaySettings, inbox: NoticeInbox, tmp_path: Path
) -> None:
    settings = replace(wechatpay_settings, private_key_path=write_pem(tmp_path / "other.pem", new_key()))

    async with WechatpayV3Gateway.from_settings(settings, appid=APPID, clock=SystemClock()) as impostor:
        with pytest.raises(WeChatPayRejected) as refused:
            await new_order(impostor, inbox)

    assert refused.value.wechatpay_code == "SIGN_ERROR"


async def test_an_answer_not_signed_by_the_platform_key_is_not_trusted(
    wechatpay_settings: WeChatPaySettings, inbox: NoticeInbox, tmp_path: Path
) -> None:
    settings = replace(wechatpay_settings, public_key_path=write_pem(tmp_path / "pub.pem", new_key(), public=True))

    async with WechatpayV3Gateway.from_settings(settings, appid=APPID, clock=SystemClock()) as fooled:
        with pytest.raises(WeChatPayUnavailable):
            await new_order(fooled, inbox)


async def test_an_unreachable_gateway_is_unavailable_and_no_secret_is_logged(
    wechatpay_settings: WeChatPaySettings, inbox: NoticeInbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = replace(wechatpay_settings, api_base=f"http://127.0.0.1:{free_port()}")

    async with WechatpayV3Gateway.from_settings(settings, appid=APPID, clock=SystemClock()) as away:
        with pytest.raises(WeChatPayUnavailable):
            await new_order(away, inbox)
        with pytest.raises(WeChatPayUnavailable):
            await away.query_order(order_no())

    assert "WeChat Pay unreachable" in caplog.text
    assert settings.apiv3_key not in caplog.text and "PRIVATE KEY" not in caplog.text
    assert settings.apiv3_key not in repr(settings)


async def test_platform_certificates_stand_in_for_the_public_key(
    keys: MerchantKeys, wechatpay_settings: WeChatPaySettings, inbox: NoticeInbox
) -> None:
    certificate = platform_certificate(keys.platform)
    with FakeWeChatPay(
        mchid=wechatpay_settings.mchid,
        appid=APPID,
        merchant_serial=wechatpay_settings.merchant_serial,
        merchant_public_key=keys.merchant.public_key(),
        apiv3_key=wechatpay_settings.apiv3_key,
        platform_key=keys.platform,
        platform_certificate=certificate,
    ) as legacy:
        settings = replace(wechatpay_settings, public_key_id="", public_key_path=None, api_base=legacy.base_url)
        async with WechatpayV3Gateway.from_settings(settings, appid=APPID, clock=SystemClock()) as gateway:
            notice = legacy.pay(await new_order(gateway, inbox, total_fen=300))
            read = await gateway.parse_payment_notice(*legacy.signed(notice))
            forged = legacy.signed(notice, Forgery.BAD_SIGNATURE)
            with pytest.raises(NoticeNotGenuine):
                await gateway.parse_payment_notice(*forged)
            fetched = len(legacy.calls("/v3/certificates"))
            headers, body = legacy.signed(notice)
            for serial in ("not hex", "ABCDEF0123456789", "9" * 400):  # malformed, unknown, absurd
                with pytest.raises(NoticeNotGenuine):
                    await gateway.parse_payment_notice({**headers, "Wechatpay-Serial": serial}, body)
            with pytest.raises(NoticeNotGenuine):
                await gateway.parse_payment_notice(*legacy.signed(notice, Forgery.UNKNOWN_SERIAL))
            refetched = len(legacy.calls("/v3/certificates")) - fetched
            read_again = await gateway.parse_payment_notice(*legacy.signed(notice))

    assert read.transaction.total_fen == 300 == read_again.transaction.total_fen
    assert len(legacy.calls("/v3/certificates")) >= 1
    assert refetched == 0  # a forged serial never sends the adapter to WeChat Pay for certificates


def test_wechat_pay_is_not_configured_until_a_merchant_is_set() -> None:
    with pytest.raises(WeChatPayNotConfigured):
        WechatpayV3Gateway.from_settings(WeChatPaySettings(), appid=APPID, clock=SystemClock())
    with pytest.raises(InvalidSettings) as partial:
        WeChatPaySettings(mchid="1900000109", apiv3_key="short")
    problems = "\n".join(partial.value.problems)
    assert "SHUXIANG_WECHATPAY_MERCHANT_SERIAL" in problems and "SHUXIANG_WECHATPAY_PRIVATE_KEY_PATH" in problems
    assert "SHUXIANG_WECHATPAY_APIV3_KEY: must be 32 characters" in problems
    with pytest.raises(InvalidSettings):
        WeChatPaySettings(apiv3_key="0" * 32)  # a key without a merchant
