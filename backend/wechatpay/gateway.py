"""Async adapter to WeChat Pay API v3 on wechatpayv3's httpx client: mini-program (JSAPI) orders and the signed
parameters of `wx.requestPayment`, payment and refund notices, order queries and closing, refunds, the trade bill.

Every call is idempotent at WeChat Pay (an order by its out_trade_no, a refund by its out_refund_no, closing twice),
so a caller may send any of them again after `WeChatPayUnavailable`. The RSA signing of a request (about a
millisecond) and a notice's signature check and decryption (tens of microseconds) run on the event loop; reading a
day's bill runs in a thread.
"""

from __future__ import annotations

import asyncio
import binascii
import gzip
import hashlib
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import httpx
from wechatpayv3.async_ import AsyncWeChatPay, WeChatPayType
from wechatpayv3.utils import aes_decrypt

from backend.clock import Clock
from backend.errors import DomainError
from backend.settings import WeChatPaySettings
from backend.wechatpay.bill import WECHATPAY_ZONE, BillUnreadable, TradeBill, parse_trade_bill
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
    WeChatPayError,
    WeChatPayNotConfigured,
    WeChatPayRejected,
    WeChatPayUnavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# WeChat Pay allows | too, but httpx percent-encodes it in the path, and the request's signature covers the path.
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_*-]{6,32}")
OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_*@-]{1,64}")
DESCRIPTION_MAX = 127
ATTACH_MAX = 128
OPENID_MAX = 128
REASON_MAX = 80
_SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# A Unix time in seconds: ten digits until 2286 (a longer one would overflow a datetime).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
# A platform certificate's serial number, in hex.
_SERIAL = re.compile(r"[0-9A-Fa-f]{1,40}")
_NOTICE_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial")

# WeChat Pay's codes by what they mean for us, whatever the call (each spelling WeChat Pay has used).
_REFUSALS: dict[str, type[WeChatPayError]] = {
    "ORDERPAID": OrderAlreadyPaid,
    "ORDER_PAID": OrderAlreadyPaid,
    "ORDERCLOSED": OrderClosed,
    "ORDER_CLOSED": OrderClosed,
    "OUT_TRADE_NO_USED": OutTradeNoUsed,
    "ORDER_NOT_EXIST": OrderNotFound,
    "ORDERNOTEXIST": OrderNotFound,
    "NOT_ENOUGH": MerchantBalanceTooLow,
    "NOTENOUGH": MerchantBalanceTooLow,
    "STATEMENT_CREATING": BillNotReady,
}
_REFUND_REFUSALS = {"RESOURCE_NOT_EXISTS": OrderNotFound, "INVALID_REQUEST": RefundRefused}
_REFUND_QUERY_REFUSALS = {"RESOURCE_NOT_EXISTS": RefundNotFound}
_NO_BILL = "NO_STATEMENT_EXIST"  # no trade on that day: an empty bill


class TradeState(StrEnum):
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"  # paid, then refunded (in part or whole)
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"


class RefundStatus(StrEnum):
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    PROCESSING = "PROCESSING"
    ABNORMAL = "ABNORMAL"  # the reader's account cannot take the money back: staff refund it another way


@dataclass(frozen=True, slots=True)
class PaymentParams:
    """What the mini-program hands `wx.requestPayment` (pay_sign signs app_id, time_stamp, nonce_str, package)."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str
    sign_type: str
    pay_sign: str

    def for_request_payment(self) -> dict[str, str]:
        return {
            "appId": self.app_id,
            "timeStamp": self.time_stamp,
            "nonceStr": self.nonce_str,
            "package": self.package,
            "signType": self.sign_type,
            "paySign": self.pay_sign,
        }


@dataclass(frozen=True, slots=True)
class Transaction:
    """An order as WeChat Pay has it. Amounts in fen; transaction_id, payer_total_fen and success_time once paid."""

    out_trade_no: str
    trade_state: TradeState
    total_fen: int
    transaction_id: str | None
    payer_total_fen: int | None
    success_time: datetime | None  # UTC
    payer_openid: str | None
    attach: str


@dataclass(frozen=True, slots=True)
class Refund:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    status: RefundStatus
    refund_fen: int
    total_fen: int
    payer_refund_fen: int | None
    success_time: datetime | None  # UTC


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    notice_id: str  # the same on every delivery of one notice
    event_type: str  # TRANSACTION.SUCCESS
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class RefundNotice:
    notice_id: str
    event_type: str  # REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED
    refund: Refund


class WeChatPay(Protocol):
    async def create_jsapi_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        payer_openid: str,
        time_expire: datetime,
        notify_url: str,
        attach: str | None = None,
    ) -> str:
        """Create a mini-program order and return its prepay_id (valid two hours). The same order sent again gets
        the same prepay_id; other details under a used out_trade_no raise `OutTradeNoUsed`, a paid or closed one
        `OrderAlreadyPaid` or `OrderClosed`."""
        ...

    def payment_params(self, prepay_id: str) -> PaymentParams:
        """The signed parameters of `wx.requestPayment` for an order."""
        ...

    async def parse_payment_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """A payment notice as POSTed to notify_url, checked and decrypted. `NoticeNotGenuine`: bad or missing
        signature, or signed too long ago; `NoticeUnreadable`: the resource does not decrypt or is no payment."""
        ...

    async def parse_refund_notice(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        """A refund notice, checked and decrypted like a payment notice."""
        ...

    async def query_order(self, out_trade_no: str) -> Transaction:
        """The order as WeChat Pay has it now; `OrderNotFound` if it never was created there."""
        ...

    async def close_order(self, out_trade_no: str) -> None:
        """Close an unpaid order so it can no longer be paid (closing one we closed is fine); `OrderAlreadyPaid` if
        the reader paid first, `OrderClosed` if WeChat Pay closed it itself (its time_expire passed)."""
        ...

    async def create_refund(
        self,
        *,
        out_refund_no: str,
        out_trade_no: str,
        refund_fen: int,
        total_fen: int,
        notify_url: str,
        reason: str | None = None,
    ) -> Refund:
        """Refund part or all of a paid order. `RefundRefused` if it exceeds what is left to refund,
        `MerchantBalanceTooLow` if the merchant account cannot cover it now, `OrderNotFound` for no such order."""
        ...

    async def query_refund(self, out_refund_no: str) -> Refund:
        """A refund as WeChat Pay has it now; `RefundNotFound` if it never was asked for."""
        ...

    async def trade_bill(self, day: date) -> TradeBill:
        """Every payment and refund of a day (China time) as WeChat Pay's bill lists them, from the morning after;
        `BillNotReady` before WeChat Pay has made it."""
        ...


class WechatpayV3Gateway:
    """The real adapter, on one wechatpayv3 async client (one httpx connection pool). Open it before use (`async
    with`, or `open` and `close`)."""

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        merchant_serial: str,
        private_key: str,
        apiv3_key: str,
        public_key: str | None,
        public_key_id: str | None,
        api_base: str,
        clock: Clock,
        timeout: float = 10.0,
        notice_max_age_seconds: int = 300,
    ) -> None:
        self._appid = appid
        self._apiv3_key = apiv3_key
        self._public_key_id = public_key_id
        self._clock = clock
        self._notice_max_age = notice_max_age_seconds
        self._api_base = api_base.rstrip("/")
        self._client = AsyncWeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=mchid,
            private_key=private_key,
            cert_serial_no=merchant_serial,
            appid=appid,
            apiv3_key=apiv3_key,
            timeout=(timeout, timeout),
            public_key=public_key,
            public_key_id=public_key_id,
        )
        # The gateway's address is an attribute of the client's core, with no constructor argument.
        self._client._core._gate_way = self._api_base

    @classmethod
    def from_settings(cls, settings: WeChatPaySettings, *, appid: str, clock: Clock) -> WechatpayV3Gateway:
        """The adapter of the configured merchant; `WeChatPayNotConfigured` if there is none. Reads the key files."""
        if not settings.configured or settings.private_key_path is None:
            raise WeChatPayNotConfigured()
        return cls(
            mchid=settings.mchid,
            appid=appid,
            merchant_serial=settings.merchant_serial,
            private_key=settings.private_key_path.read_text(),
            apiv3_key=settings.apiv3_key,
            public_key=settings.public_key_path.read_text() if settings.public_key_path else None,
            public_key_id=settings.public_key_id or None,
            api_base=settings.api_base,
            clock=clock,
            timeout=settings.timeout_seconds,
            notice_max_age_seconds=settings.notice_max_age_seconds,
        )

    async def open(self) -> None:
        try:
            await self._client.__aenter__()
        except Exception as exc:
            # With platform certificates the client downloads them first; its pool is made before that, and an
            # answer signed by a certificate not yet known fetches them again, so a start while WeChat Pay is away
            # only logs.
            if not _library_error(exc) and not isinstance(exc, httpx.TransportError):
                raise
            log.warning("WeChat Pay platform certificates not fetched at start (%s)", type(exc).__name__)

    async def close(self) -> None:
        await self._client.__aexit__(None, None, None)

    async def __aenter__(self) -> WechatpayV3Gateway:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- orders -----------------------------------------------------------------------------------------------

    async def create_jsapi_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        total_fen: int,
        payer_openid: str,
        time_expire: datetime,
        notify_url: str,
        attach: str | None = None,
    ) -> str:
        _check_out_trade_no(out_trade_no)
        _require(0 < len(description) <= DESCRIPTION_MAX, f"description must be 1 to {DESCRIPTION_MAX} characters")
        _require(total_fen > 0, "total_fen must be positive")
        _require(0 < len(payer_openid) <= OPENID_MAX, "payer_openid must be given")
        _require(time_expire.tzinfo is not None, "time_expire must be timezone-aware")
        _require(attach is None or len(attach) <= ATTACH_MAX, f"attach must be at most {ATTACH_MAX} characters")
        _check_url(notify_url)
        answer = await self._call(
            "create an order",
            self._client.pay(
                description=description,
                out_trade_no=out_trade_no,
                amount={"total": total_fen, "currency": "CNY"},
                payer={"openid": payer_openid},
                time_expire=time_expire.astimezone(WECHATPAY_ZONE).isoformat(timespec="seconds"),
                attach=attach,
                notify_url=notify_url,
                # The async client's own enum: the synchronous client's WeChatPayType is another class.
                pay_type=WeChatPayType.JSAPI,
            ),
        )
        return str(_field(answer, "prepay_id"))

    def payment_params(self, prepay_id: str) -> PaymentParams:
        time_stamp = str(int(self._clock.now().timestamp()))
        nonce_str = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = self._client.sign([self._appid, time_stamp, nonce_str, package])
        return PaymentParams(self._appid, time_stamp, nonce_str, package, "RSA", pay_sign)

    async def query_order(self, out_trade_no: str) -> Transaction:
        _check_out_trade_no(out_trade_no)
        answer = await self._call("query an order", self._client.query(out_trade_no=out_trade_no))
        return _parsed(_transaction, answer, WeChatPayUnavailable)

    async def close_order(self, out_trade_no: str) -> None:
        _check_out_trade_no(out_trade_no)
        await self._call("close an order", self._client.close(out_trade_no))

    # --- refunds ----------------------------------------------------------------------------------------------

    async def create_refund(
        self,
        *,
        out_refund_no: str,
        out_trade_no: str,
        refund_fen: int,
        total_fen: int,
        notify_url: str,
        reason: str | None = None,
    ) -> Refund:
        _check_out_refund_no(out_refund_no)
        _check_out_trade_no(out_trade_no)
        _require(0 < refund_fen <= total_fen, "refund_fen must be positive and at most total_fen")
        _require(reason is None or len(reason) <= REASON_MAX, f"reason must be at most {REASON_MAX} characters")
        _check_url(notify_url)
        answer = await self._call(
            "refund",
            self._client.refund(
                out_refund_no=out_refund_no,
                amount={"refund": refund_fen, "total": total_fen, "currency": "CNY"},
                out_trade_no=out_trade_no,
                reason=reason,
                notify_url=notify_url,
            ),
            refusals=_REFUND_REFUSALS,
        )
        return _parsed(_refund, answer, WeChatPayUnavailable)

    async def query_refund(self, out_refund_no: str) -> Refund:
        _check_out_refund_no(out_refund_no)
        answer = await self._call(
            "query a refund", self._client.query_refund(out_refund_no), refusals=_REFUND_QUERY_REFUSALS
        )
        return _parsed(_refund, answer, WeChatPayUnavailable)

    # --- the bill ---------------------------------------------------------------------------------------------

    async def trade_bill(self, day: date) -> TradeBill:
        try:
            answer = await self._call(
                "ask for the trade bill", self._client.trade_bill(bill_date=day.isoformat(), tar_type="GZIP")
            )
        except WeChatPayRejected as exc:
            if exc.wechatpay_code == _NO_BILL:
                return TradeBill(())
            raise
        url, digest = str(_field(answer, "download_url")), str(_field(answer, "hash_value")).lower()
        if _field(answer, "hash_type") != "SHA1" or not url.startswith(self._api_base + "/"):
            log.warning("WeChat Pay's trade bill answer is not one we can download (%s)", answer.get("hash_type"))
            raise WeChatPayUnavailable()
        try:
            status, content = await self._client.download_bill(url)
        except httpx.TransportError as exc:
            log.warning("WeChat Pay unreachable while downloading the trade bill (%s)", type(exc).__name__)
            raise WeChatPayUnavailable() from exc
        if status != 200 or not isinstance(content, bytes):
            log.warning("WeChat Pay answered HTTP %s to the trade bill download", status)
            raise WeChatPayUnavailable()
        try:
            return await asyncio.to_thread(_read_bill, content, digest)
        except (BillUnreadable, OSError, EOFError, UnicodeDecodeError) as exc:  # gzip raises OSError and EOFError
            log.warning("WeChat Pay's trade bill of %s could not be read: %s", day, exc)
            raise WeChatPayUnavailable() from exc

    # --- notices ----------------------------------------------------------------------------------------------

    async def parse_payment_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        notice_id, event_type, resource = await self._open_notice(headers, body, "transaction")
        if event_type != "TRANSACTION.SUCCESS":
            raise NoticeUnreadable()
        return PaymentNotice(notice_id, event_type, _parsed(_transaction, resource, NoticeUnreadable))

    async def parse_refund_notice(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        notice_id, event_type, resource = await self._open_notice(headers, body, "refund")
        if not event_type.startswith("REFUND."):
            raise NoticeUnreadable()
        return RefundNotice(notice_id, event_type, _parsed(_refund, resource, NoticeUnreadable))

    async def _open_notice(
        self, headers: Mapping[str, str], body: bytes, original_type: str
    ) -> tuple[str, str, dict[str, Any]]:
        """The notice's id, event type and decrypted resource, once its signature and age are checked."""
        by_name = {name.lower(): value for name, value in headers.items()}
        signed = {name: by_name.get(name.lower(), "") for name in _NOTICE_HEADERS}
        signed["Wechatpay-Signature-Type"] = by_name.get("wechatpay-signature-type", _SIGNATURE_TYPE)
        if not all(signed.values()):
            log.warning("WeChat Pay notice refused: a Wechatpay-* header is missing")
            raise NoticeNotGenuine()
        try:
            if not _TIMESTAMP.fullmatch(signed["Wechatpay-Timestamp"]):
                raise ValueError("not a Unix time")
            age = self._clock.now().timestamp() - int(signed["Wechatpay-Timestamp"])
            text = body.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            log.warning("WeChat Pay notice refused: a malformed timestamp or body")
            raise NoticeNotGenuine() from None
        if abs(age) > self._notice_max_age:
            log.warning("WeChat Pay notice refused: signed %d s ago (a replay?)", age)
            raise NoticeNotGenuine()
        if not self._known_key(signed["Wechatpay-Serial"]):
            log.warning("WeChat Pay notice refused: signed with key %.40r, not one we have", signed["Wechatpay-Serial"])
            raise NoticeNotGenuine()
        if not await self._verified(signed, text):
            log.warning("WeChat Pay notice refused: its signature does not verify")
            raise NoticeNotGenuine()
        try:
            notice = json.loads(text)
            resource = notice["resource"]
            if notice["resource_type"] != "encrypt-resource" or resource["algorithm"] != "AEAD_AES_256_GCM":
                raise ValueError("not an AEAD_AES_256_GCM resource")
            if resource.get("original_type") != original_type:
                raise ValueError(f"a {resource.get('original_type')} notice, not a {original_type} one")
            plain = aes_decrypt(
                nonce=resource["nonce"],
                ciphertext=resource["ciphertext"],
                associated_data=resource.get("associated_data") or "",
                apiv3_key=self._apiv3_key,
            )
            if plain is None:
                raise ValueError("the resource does not decrypt with our APIv3 key")
            return str(notice["id"]), str(notice["event_type"]), dict(json.loads(plain))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            log.warning("WeChat Pay notice refused: %s", exc)
            raise NoticeUnreadable() from exc

    def _known_key(self, serial: str) -> bool:
        """Whether a notice names WeChat Pay's public key or a platform certificate we hold. Checked before the client
        sees it: the client reads any other serial as hex (raising on what is not), and for one it does not hold
        fetches the certificates again, emptying its list meanwhile, on every forged notice. Only while it holds none
        (WeChat Pay was away at start) is an unknown serial left to it, so that it fetches them."""
        if self._public_key_id is not None:
            return serial == self._public_key_id
        held = {certificate.serial_number for certificate in self._client._core._certificates}
        return _SERIAL.fullmatch(serial) is not None and (not held or int(serial, 16) in held)

    async def _verified(self, headers: dict[str, str], text: str) -> bool:
        try:
            return bool(await self._client._core._verify_signature_async(headers, text))
        except ValueError:  # a malformed signature or serial the client trips over
            return False
        except httpx.TransportError as exc:  # fetching platform certificates for an unknown serial
            log.warning("WeChat Pay unreachable for its platform certificates (%s)", type(exc).__name__)
            raise WeChatPayUnavailable() from exc
        except Exception as exc:
            if _library_error(exc):  # a signature type other than WECHATPAY2-SHA256-RSA2048
                return False
            raise

    # --- calls ------------------------------------------------------------------------------------------------

    async def _call(
        self,
        what: str,
        request: Awaitable[tuple[int, str | bytes]],
        refusals: Mapping[str, type[WeChatPayError]] = _REFUSALS,
    ) -> dict[str, Any]:
        """WeChat Pay's JSON answer (empty for a 204), or its refusal as our error."""
        try:
            status, content = await request
        except httpx.TransportError as exc:
            log.warning("WeChat Pay unreachable to %s (%s)", what, type(exc).__name__)
            raise WeChatPayUnavailable() from exc
        except Exception as exc:
            if not _library_error(exc):
                raise
            log.warning("WeChat Pay's answer to %s was not accepted by wechatpayv3: %s", what, exc)
            raise WeChatPayUnavailable() from exc
        try:
            answer = json.loads(content) if content else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log.warning("WeChat Pay answered HTTP %s without JSON to %s", status, what)
            raise WeChatPayUnavailable()
        if 200 <= status < 300:
            return answer
        code, message = answer.get("code"), str(answer.get("message", ""))
        log.warning("WeChat Pay refused to %s: HTTP %s %s %s", what, status, code, message)
        if status >= 500 or status == 429:
            raise WeChatPayUnavailable(code, message)
        refusal = {**_REFUSALS, **refusals}.get(str(code), WeChatPayRejected)
        raise refusal(code, message)


def _library_error(exc: Exception) -> bool:
    """wechatpayv3 raises a plain Exception for what it refuses (an answer's failed signature, an unknown signature
    type, no platform certificate); anything of a subclass is not its verdict."""
    return type(exc) is Exception


def _require(condition: bool, problem: str) -> None:
    # Every value here is computed by our services, never typed by a reader: a wrong one is a bug.
    if not condition:
        raise ValueError(problem)


def _check_out_trade_no(out_trade_no: str) -> None:
    _require(OUT_TRADE_NO.fullmatch(out_trade_no) is not None, "out_trade_no must be 6-32 of 0-9A-Za-z_*-")


def _check_out_refund_no(out_refund_no: str) -> None:
    _require(OUT_REFUND_NO.fullmatch(out_refund_no) is not None, "out_refund_no must be 1-64 of 0-9A-Za-z_*@-")


def _check_url(url: str) -> None:
    _require(url.startswith(("https://", "http://")) and "?" not in url, "notify_url must be a URL without a query")


def _field(answer: Mapping[str, Any], name: str) -> Any:
    if name not in answer:
        log.warning("WeChat Pay's answer lacks %s", name)
        raise WeChatPayUnavailable()
    return answer[name]


def _parsed(read: Callable[[dict[str, Any]], T], data: dict[str, Any], error: type[DomainError]) -> T:
    try:
        return read(data)
    except (KeyError, ValueError, TypeError) as exc:
        log.warning("WeChat Pay sent a %s it should not: %r", read.__name__.strip("_"), exc)
        raise error() from exc


def _transaction(data: dict[str, Any]) -> Transaction:
    amount = data["amount"]
    payer_total = amount.get("payer_total")
    return Transaction(
        out_trade_no=str(data["out_trade_no"]),
        trade_state=TradeState(data["trade_state"]),
        total_fen=int(amount["total"]),
        transaction_id=data.get("transaction_id") or None,
        payer_total_fen=int(payer_total) if payer_total is not None else None,
        success_time=_moment(data.get("success_time")),
        payer_openid=(data.get("payer") or {}).get("openid") or None,
        attach=str(data.get("attach") or ""),
    )


def _refund(data: dict[str, Any]) -> Refund:
    amount = data["amount"]
    payer_refund = amount.get("payer_refund")
    return Refund(
        out_refund_no=str(data["out_refund_no"]),
        refund_id=str(data["refund_id"]),
        out_trade_no=str(data["out_trade_no"]),
        transaction_id=str(data["transaction_id"]),
        # The refund's answers call it status, its notices refund_status.
        status=RefundStatus(data.get("status") or data["refund_status"]),
        refund_fen=int(amount["refund"]),
        total_fen=int(amount["total"]),
        payer_refund_fen=int(payer_refund) if payer_refund is not None else None,
        success_time=_moment(data.get("success_time")),
    )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def _read_bill(content: bytes, sha1: str) -> TradeBill:
    raw = gzip.decompress(content)
    # WeChat Pay's digest is of the bill itself, before compression.
    if hashlib.sha1(raw).hexdigest() != sha1:
        raise BillUnreadable("the bill does not match its SHA1 digest")
    return parse_trade_bill(raw.decode("utf-8"))
