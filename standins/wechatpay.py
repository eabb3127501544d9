"""A WeChat Pay API v3-compatible HTTP server on 127.0.0.1, standing in for api.mch.weixin.qq.com in tests and
benchmarks: it checks each request's signature with the merchant's public key, signs each answer with a platform key
the test generates, keeps orders and refunds in memory, and sends notices the way WeChat Pay does."""

from __future__ import annotations

import base64
import enum
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from standins.loopback import LoopbackHandler, LoopbackServer

CHINA = ZoneInfo("Asia/Shanghai")  # WeChat Pay's times and bill days
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
REQUEST_MAX_AGE = 300  # seconds a request's signature timestamp may differ from the server's clock
_SENDERS = 64  # threads sending notices: the most deliveries that can be made at once
DISCONNECT = "disconnect"  # scripted answer: the connection is closed without any response
_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_AUTHORIZATION = re.compile(r'(\w+)="([^"]*)"')
_PAID = ("SUCCESS", "REFUND")
_BILL_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
_BILL_SUMMARY = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"

ScriptedAnswer = tuple[int, str] | str  # (HTTP status, WeChat Pay code), or "disconnect"


class Forgery(enum.Enum):
    """Ways a notice can be wrong, for `FakeWeChatPay.deliver` and `signed`."""

    BAD_SIGNATURE = "signed with a key that is not the platform's"
    TAMPERED_BODY = "changed after it was signed"
    TAMPERED_CIPHERTEXT = "ciphertext changed, then signed with the platform key (only decryption can tell)"
    WRONG_APIV3_KEY = "encrypted with another APIv3 key, signed with the platform key"
    STALE = "signed an hour ago (a replay)"
    UNKNOWN_SERIAL = "names another platform key's serial"
    AMOUNT_CHANGED = "says one fen more than was paid, genuinely signed and encrypted (the amount check must catch it)"


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    body: Any  # the decoded JSON body, or None


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice, as WeChat Pay repeats it: the same id and resource on every delivery, signed anew each time."""

    notify_url: str
    notice_id: str
    event_type: str
    summary: str
    original_type: str  # transaction | refund
    resource: dict[str, Any]
    create_time: str


@dataclass(frozen=True, slots=True)
class Delivery:
    notice_id: str
    status: int  # the HTTP status the merchant answered, 0 when it could not be reached


@dataclass(slots=True)
class _Order:
    request: dict[str, Any]
    prepay_id: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    payer_total: int | None = None
    success_time: datetime | None = None
    refunded: int = 0  # by refunds not closed
    expired: bool = False  # closed by its time_expire passing, not by the merchant

    @property
    def out_trade_no(self) -> str:
        return str(self.request["out_trade_no"])

    @property
    def total(self) -> int:
        return int(self.request["amount"]["total"])


@dataclass(slots=True)
class _Refund:
    request: dict[str, Any]
    refund_id: str
    order: _Order
    created: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None

    @property
    def amount(self) -> int:
        return int(self.request["amount"]["refund"])


class _Reply(NamedTuple):
    status: int
    body: bytes
    content_type: str = "application/json"
    signed: bool = True


def _json(status: int, payload: dict[str, Any] | None) -> _Reply:
    return _Reply(status, json.dumps(payload, ensure_ascii=False).encode() if payload is not None else b"")


def _error(status: int, code: str, message: str) -> _Reply:
    return _json(status, {"code": code, "message": message})


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def platform_certificate(key: rsa.RSAPrivateKey, serial: int | None = None) -> x509.Certificate:
    """A self-signed certificate of a platform key, for the platform-certificate mode (valid a year from now)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA stand-in")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def new_key() -> rsa.RSAPrivateKey:
    """An RSA key of the kind WeChat Pay signs with and issues merchants (2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_pem(path: Path, key: rsa.RSAPrivateKey, *, public: bool = False) -> Path:
    """`key`, or its public half, as a PEM file the adapter's settings can name; a private one readable by its owner
    only."""
    if public:
        data = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        path.touch(mode=0o600)
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    path.write_bytes(data)
    return path


@dataclass(frozen=True, slots=True)
class MerchantKeys:
    """What a merchant and WeChat Pay share, made afresh for a stand-in's merchant: the merchant's key (WeChat Pay
    holds its public half), the platform's key (the merchant holds its public half) and the APIv3 key."""

    merchant: rsa.RSAPrivateKey
    platform: rsa.RSAPrivateKey
    apiv3: str

    @classmethod
    def new(cls) -> MerchantKeys:
        return cls(merchant=new_key(), platform=new_key(), apiv3=secrets.token_hex(16))

    def write(self, folder: Path) -> tuple[Path, Path]:
        """The merchant's private key and the platform's public key in `folder`, named as WeChat Pay's downloads
        are: the adapter's private_key_path and public_key_path."""
        return (
            write_pem(folder / "apiclient_key.pem", self.merchant),
            write_pem(folder / "pub_key.pem", self.platform, public=True),
        )


class FakeWeChatPay:
    """WeChat Pay API v3 for one merchant and its mini-program, with controls for tests. Start it, point the adapter
    at `base_url` with the merchant's key and the platform's public key (`public_key_id`, or `platform_certificate`
    for the certificate mode), then drive it: `pay` an order as the reader would and `deliver` its notice (again, many
    times, at once, late, forged), `finish_refund`, `add_foreign_payment`, `script_next_errors`.

    Simplifications, on purpose: a day's bill can be had as soon as the day is over (WeChat Pay makes it the next
    morning); closing an order does not wait the five minutes WeChat Pay asks for after creating it; refunds stay
    PROCESSING until a test finishes them; fees are zero."""

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        merchant_serial: str,
        merchant_public_key: rsa.RSAPublicKey,
        apiv3_key: str,
        platform_key: rsa.RSAPrivateKey,
        public_key_id: str = "PUB_KEY_ID_0114232134912410000000000000",
        platform_certificate: x509.Certificate | None = None,
        pay_at_once: bool = False,
    ) -> None:
        """`pay_at_once`: every new order is paid as soon as it is made and its notice delivered, as though the
        reader paid at once (the demo's, which has no phone to pay on)."""
        self.mchid = mchid
        self.appid = appid
        self.merchant_serial = merchant_serial
        self._merchant_public_key = merchant_public_key
        self.apiv3_key = apiv3_key
        self._platform_key = platform_key
        self.public_key_id = public_key_id
        self._certificate = platform_certificate
        self._pay_at_once = pay_at_once
        self._lock = threading.Lock()
        self._server: LoopbackServer[FakeWeChatPay] | None = None
        self._senders = ThreadPoolExecutor(max_workers=_SENDERS, thread_name_prefix="fake-wechatpay-notice")
        self._other_key: rsa.RSAPrivateKey | None = None
        self.requests: list[Request] = []
        self.deliveries: list[Delivery] = []
        self.merchant_balance_fen: int | None = None
        """When set, a refund larger than this answers NOT_ENOUGH (the merchant account's balance)."""
        self._orders: dict[str, _Order] = {}
        self._refunds: dict[str, _Refund] = {}
        self._bills: dict[str, bytes] = {}
        self._scripted: defaultdict[str, deque[ScriptedAnswer]] = defaultdict(deque)
        self._time_offset = 0.0

    # --- life cycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeWeChatPay is not started")
        return self._server.base_url

    @property
    def serial(self) -> str:
        """The Wechatpay-Serial of the platform's signatures: the public key's id, or the certificate's serial."""
        return f"{self._certificate.serial_number:X}" if self._certificate else self.public_key_id

    def start(self) -> Self:
        if self._server is None:
            self._server = LoopbackServer[FakeWeChatPay](_Handler, self, "fake-wechatpay").start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        self._senders.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- test controls ----------------------------------------------------------------------------------------

    def pay(self, out_trade_no: str, *, payer_total_fen: int | None = None, at: datetime | None = None) -> Notice:
        """The reader pays the order (payer_total_fen less than the total: a coupon paid the rest). Returns the
        TRANSACTION.SUCCESS notice, not sent yet: `deliver` it."""
        with self._lock:
            order = self._orders[out_trade_no]
            self._expire(order)
            if order.state != "NOTPAY":
                raise ValueError(f"order {out_trade_no} is {order.state}, not payable")
            return self._mark_paid(order, payer_total_fen, at)

    def _mark_paid(self, order: _Order, payer_total_fen: int | None, at: datetime | None) -> Notice:
        """The order paid, and its notice (under the lock)."""
        order.state = "SUCCESS"
        order.transaction_id = "4200" + "".join(str(secrets.randbelow(10)) for _ in range(24))
        order.payer_total = order.total if payer_total_fen is None else payer_total_fen
        order.success_time = (at or self._now()).replace(microsecond=0)
        resource = self._transaction(order)
        notify_url = str(order.request["notify_url"])
        return self._notice(notify_url, "TRANSACTION.SUCCESS", "支付成功", "transaction", resource)

    def add_foreign_payment(
        self, out_trade_no: str, total_fen: int, *, at: datetime | None = None, openid: str = "o-stranger"
    ) -> None:
        """A paid order we never created (another system on the same merchant, or our record lost): it is in the
        day's bill and answers queries, and sends no notice anywhere."""
        with self._lock:
            order = _Order(
                request={
                    "appid": self.appid,
                    "mchid": self.mchid,
                    "out_trade_no": out_trade_no,
                    "description": "—",
                    "notify_url": "",
                    "amount": {"total": total_fen, "currency": "CNY"},
                    "payer": {"openid": openid},
                },
                prepay_id=self._prepay_id(),
            )
            self._orders[out_trade_no] = order
        self.pay(out_trade_no, at=at)

    def finish_refund(self, out_refund_no: str, status: str = "SUCCESS", *, at: datetime | None = None) -> Notice:
        """The refund ends (SUCCESS, CLOSED or ABNORMAL; an ABNORMAL one may still end SUCCESS or CLOSED, once the
        merchant sends it on). Returns its REFUND.<status> notice, not sent yet."""
        with self._lock:
            refund = self._refunds[out_refund_no]
            if refund.status not in ("PROCESSING", "ABNORMAL"):
                raise ValueError(f"refund {out_refund_no} is {refund.status} already")
            refund.status = status
            if status == "SUCCESS":
                refund.success_time = (at or self._now()).replace(microsecond=0)
            elif status == "CLOSED":
                refund.order.refunded -= refund.amount
            resource = self._refund_notice_resource(refund)
            notify_url = str(refund.request.get("notify_url", ""))
        summary = {"SUCCESS": "退款成功", "CLOSED": "退款关闭", "ABNORMAL": "退款异常"}[status]
        return self._notice(notify_url, f"REFUND.{status}", summary, "refund", resource)

    def signed(self, notice: Notice, forgery: Forgery | None = None) -> tuple[dict[str, str], bytes]:
        """The headers and body of one delivery of the notice, signed now (or forged as asked)."""
        resource = notice.resource
        if forgery is Forgery.AMOUNT_CHANGED:
            amount = dict(resource["amount"])
            amount["total"] += 1
            if "payer_total" in amount:
                amount["payer_total"] += 1
            resource = {**resource, "amount": amount}
        key = secrets.token_hex(16) if forgery is Forgery.WRONG_APIV3_KEY else None
        encrypted = self._encrypt(json.dumps(resource, ensure_ascii=False), notice.original_type, key)
        if forgery is Forgery.TAMPERED_CIPHERTEXT:
            raw = bytearray(base64.b64decode(encrypted["ciphertext"]))
            raw[0] ^= 0x01
            encrypted["ciphertext"] = base64.b64encode(bytes(raw)).decode()
        body = json.dumps(
            {
                "id": notice.notice_id,
                "create_time": notice.create_time,
                "resource_type": "encrypt-resource",
                "event_type": notice.event_type,
                "summary": notice.summary,
                "resource": encrypted,
            },
            ensure_ascii=False,
        ).encode()
        stamp = self._now() - timedelta(hours=1) if forgery is Forgery.STALE else None
        signer = self._forger_key() if forgery is Forgery.BAD_SIGNATURE else None
        headers = self._signature_headers(body, at=stamp, key=signer)
        if forgery is Forgery.UNKNOWN_SERIAL:
            headers["Wechatpay-Serial"] = "PUB_KEY_ID_" + "9" * 28
        if forgery is Forgery.TAMPERED_BODY:
            body = body.replace(notice.summary.encode(), "已退款".encode())
        return {**headers, "Content-Type": "application/json"}, body

    def deliver(
        self, notice: Notice, *, times: int = 1, concurrently: bool = False, forgery: Forgery | None = None
    ) -> Future[list[int]]:
        """POST the notice to its notify_url `times` times, each signed at its sending; all at once when
        `concurrently`. The future holds the statuses answered (0: not reached), in sending order when sequential."""
        if concurrently:
            if times > _SENDERS:
                raise ValueError(f"at most {_SENDERS} deliveries at once")
            start = threading.Barrier(times)
            sends = [self._senders.submit(self._send, notice, forgery, start) for _ in range(times)]
            result: Future[list[int]] = Future()

            def collect(_: Future[int]) -> None:
                if all(s.done() for s in sends) and not result.done():
                    result.set_result([s.result() for s in sends])

            for s in sends:
                s.add_done_callback(collect)
            return result
        return self._senders.submit(lambda: [self._send(notice, forgery, None) for _ in range(times)])

    def script_next_errors(self, path: str, answers: Iterable[ScriptedAnswer]) -> None:
        """The next requests to `path` (without its query) answer these, in order, before anything is checked or
        done: (HTTP status, code) such as (500, "SYSTEM_ERROR") or (429, "FREQUENCY_LIMITED"), or "disconnect"."""
        with self._lock:
            self._scripted[path].extend(answers)

    def advance_time(self, seconds: float) -> None:
        """Move the fake's clock on: notices' signatures and payment times, and which bill days are over."""
        with self._lock:
            self._time_offset += seconds

    def order_state(self, out_trade_no: str) -> str | None:
        with self._lock:
            order = self._orders.get(out_trade_no)
            if order is not None:
                self._expire(order)
            return order.state if order else None

    def calls(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- notices (run on the test's thread or the senders') ---------------------------------------------------

    def _notice(self, notify_url: str, event_type: str, summary: str, kind: str, resource: dict[str, Any]) -> Notice:
        return Notice(
            notify_url=notify_url,
            notice_id=secrets.token_hex(18),
            event_type=event_type,
            summary=summary,
            original_type=kind,
            resource=resource,
            create_time=_rfc3339(self._now()),
        )

    def _send(self, notice: Notice, forgery: Forgery | None, start: threading.Barrier | None) -> int:
        headers, body = self.signed(notice, forgery)
        request = urllib.request.Request(notice.notify_url, data=body, headers=headers, method="POST")
        if start is not None:
            start.wait(timeout=30)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status = int(answer.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError):
            status = 0
        with self._lock:
            self.deliveries.append(Delivery(notice.notice_id, status))
        return status

    def _forger_key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._other_key is None:
                self._other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._other_key

    def _encrypt(self, plain: str, associated: str, key: str | None = None) -> dict[str, str]:
        nonce = secrets.token_urlsafe(9)[:12]  # WeChat Pay's nonces are 12 printable characters
        ciphertext = AESGCM((key or self.apiv3_key).encode()).encrypt(
            nonce.encode(), plain.encode(), associated.encode()
        )
        return {
            "original_type": associated,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated,
            "nonce": nonce,
        }

    def _signature_headers(
        self, body: bytes, *, at: datetime | None = None, key: rsa.RSAPrivateKey | None = None
    ) -> dict[str, str]:
        stamp = str(int((at or self._now()).timestamp()))
        nonce = secrets.token_hex(16)
        message = f"{stamp}\n{nonce}\n".encode() + body + b"\n"
        signature = (key or self._platform_key).sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": self.serial,
            "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        }

    # --- request handling (runs on the server's threads) ------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._time_offset)

    def _expire(self, order: _Order) -> None:
        """An unpaid order closes when its time_expire passes, by the fake's clock (under the lock)."""
        expire = order.request.get("time_expire")
        if order.state == "NOTPAY" and expire and datetime.fromisoformat(str(expire)) <= self._now():
            order.state, order.expired = "CLOSED", True

    def _prepay_id(self) -> str:
        return "wx" + secrets.token_hex(16)

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Reply | str:
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(Request(method, url.path, query, body))
            scripted = self._scripted.get(url.path)
            answer = scripted.popleft() if scripted else None
        if answer == DISCONNECT:
            return DISCONNECT
        if isinstance(answer, tuple):
            return _error(answer[0], answer[1], "scripted")
        if (refusal := self._authorization_error(method, target, headers, raw)) is not None:
            return refusal
        for (verb, pattern), handler in _ROUTES.items():
            match = pattern.fullmatch(url.path)
            if verb == method and match:
                if raw and not isinstance(body, dict):
                    return _error(400, "PARAM_ERROR", "请求体不是合法的JSON")
                with self._lock:
                    return handler(self, *match.groups(), query=query, body=body or {})
        return _error(404, "RESOURCE_NOT_EXISTS", "无此接口")

    def _authorization_error(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Reply | None:
        scheme, _, fields = headers.get("authorization", "").partition(" ")
        given = dict(_AUTHORIZATION.findall(fields))
        if scheme != SIGNATURE_TYPE or not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= set(given):
            return _error(401, "SIGN_ERROR", "Http头Authorization值格式错误")
        if given["mchid"] != self.mchid:
            return _error(401, "SIGN_ERROR", "商户号与签名不一致")
        if given["serial_no"] != self.merchant_serial:
            return _error(401, "SIGN_ERROR", "商户证书序列号有误")
        if not given["timestamp"].isdigit() or abs(time.time() - int(given["timestamp"])) > REQUEST_MAX_AGE:
            return _error(401, "SIGN_ERROR", "Http头Authorization中的timestamp已过期")
        message = f"{method}\n{target}\n{given['timestamp']}\n{given['nonce_str']}\n".encode() + raw + b"\n"
        try:
            signature = base64.b64decode(given["signature"], validate=True)
            self._merchant_public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return _error(401, "SIGN_ERROR", "签名错误")
        return None

    def _jsapi(self, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        if (problem := self._order_problem(body)) is not None:
            return _error(400, "PARAM_ERROR", problem)
        if body["appid"] != self.appid:
            return _error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        existing = self._orders.get(body["out_trade_no"])
        if existing is not None:
            self._expire(existing)
            if existing.state in _PAID:
                return _error(400, "ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED":
                return _error(400, "ORDER_CLOSED", "该订单已关闭")
            if existing.request != body:
                return _error(403, "OUT_TRADE_NO_USED", "商户订单号重复")
            return _json(200, {"prepay_id": existing.prepay_id})
        order = _Order(request=body, prepay_id=self._prepay_id())
        self._orders[order.out_trade_no] = order
        if self._pay_at_once:  # sent from another thread: it may arrive before this answer does, as WeChat Pay's can
            self.deliver(self._mark_paid(order, None, None))
        return _json(200, {"prepay_id": order.prepay_id})

    def _order_problem(self, body: dict[str, Any]) -> str | None:
        amount, payer = body.get("amount"), body.get("payer")
        checks: list[tuple[bool, str]] = [
            (body.get("mchid") == self.mchid, "mchid与请求头不一致"),
            (isinstance(body.get("appid"), str), "缺少参数appid"),
            (isinstance(body.get("description"), str) and 0 < len(body["description"]) <= 127, "description不合法"),
            (_OUT_TRADE_NO.fullmatch(str(body.get("out_trade_no", ""))) is not None, "out_trade_no不合法"),
            (str(body.get("notify_url", "")).startswith(("http://", "https://")), "notify_url不合法"),
            (isinstance(amount, dict) and type(amount.get("total")) is int and amount["total"] > 0, "amount不合法"),
            (isinstance(amount, dict) and amount.get("currency", "CNY") == "CNY", "currency不合法"),
            (isinstance(payer, dict) and bool(payer.get("openid")), "缺少参数openid"),
            (len(str(body.get("attach", ""))) <= 128, "attach超长"),
        ]
        if "time_expire" in body:
            try:
                expire = datetime.fromisoformat(str(body["time_expire"]))
                checks.append((expire.tzinfo is not None and expire > self._now(), "time_expire已过期或格式错误"))
            except ValueError:
                checks.append((False, "time_expire格式错误"))
        return next((problem for ok, problem in checks if not ok), None)

    def _query(self, out_trade_no: str, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        if query.get("mchid") != self.mchid:
            return _error(400, "PARAM_ERROR", "mchid不合法")
        order = self._orders.get(out_trade_no)
        if order is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        self._expire(order)
        return _json(200, self._transaction(order))

    def _close(self, out_trade_no: str, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        if body.get("mchid") != self.mchid:
            return _error(400, "PARAM_ERROR", "mchid不合法")
        order = self._orders.get(out_trade_no)
        if order is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        self._expire(order)
        if order.state in _PAID:
            return _error(400, "ORDERPAID", "该订单已支付")
        if order.expired:  # WeChat Pay closed it itself; one the merchant closed closes again quietly
            return _error(400, "ORDERCLOSED", "订单已关闭")
        order.state = "CLOSED"
        return _json(204, None)

    def _transaction(self, order: _Order) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "appid": order.request["appid"],
            "mchid": self.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": "JSAPI",
            "trade_state": order.state,
            "trade_state_desc": {"NOTPAY": "订单未支付", "CLOSED": "订单已关闭", "REFUND": "转入退款"}.get(
                order.state, "支付成功"
            ),
            "attach": order.request.get("attach", ""),
            "payer": dict(order.request["payer"]) if order.state in _PAID else {},
            "amount": {"total": order.total, "currency": "CNY"},
        }
        if order.state in _PAID:
            answer |= {"transaction_id": order.transaction_id, "bank_type": "OTHERS"}
            answer["success_time"] = _rfc3339(order.success_time) if order.success_time else None
            answer["amount"] |= {"payer_total": order.payer_total, "payer_currency": "CNY"}
        return answer

    def _refund(self, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        amount = body.get("amount")
        if not (
            _OUT_REFUND_NO.fullmatch(str(body.get("out_refund_no", "")))
            and isinstance(amount, dict)
            and type(amount.get("refund")) is int
            and type(amount.get("total")) is int
            and 0 < amount["refund"] <= amount["total"]
            and amount.get("currency", "CNY") == "CNY"
        ):
            return _error(400, "PARAM_ERROR", "out_refund_no或amount不合法")
        order = self._orders.get(str(body.get("out_trade_no", "")))
        if order is None and body.get("transaction_id"):
            order = next((o for o in self._orders.values() if o.transaction_id == body["transaction_id"]), None)
        if order is None:
            return _error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        existing = self._refunds.get(body["out_refund_no"])
        if existing is not None:
            if existing.request["amount"] != amount or existing.order is not order:
                return _error(400, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
            return _json(200, self._refund_answer(existing))
        if order.state not in _PAID:
            return _error(400, "INVALID_REQUEST", "订单未支付，不能退款")
        if amount["total"] != order.total:
            return _error(400, "PARAM_ERROR", "订单金额total与原订单金额不一致")
        if amount["refund"] > order.total - order.refunded:
            return _error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        if self.merchant_balance_fen is not None and amount["refund"] > self.merchant_balance_fen:
            return _error(403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        refund = _Refund(request=body, refund_id="50" + secrets.token_hex(14), order=order, created=self._now())
        self._refunds[refund.request["out_refund_no"]] = refund
        order.refunded += refund.amount
        order.state = "REFUND"
        return _json(200, self._refund_answer(refund))

    def _refund_query(self, out_refund_no: str, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        refund = self._refunds.get(out_refund_no)
        if refund is None:
            return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return _json(200, self._refund_answer(refund))

    def _refund_amount(self, refund: _Refund) -> dict[str, Any]:
        order = refund.order
        payer_total = order.payer_total if order.payer_total is not None else order.total
        payer_refund = min(refund.amount, payer_total)
        return {
            "total": order.total,
            "refund": refund.amount,
            "payer_total": payer_total,
            "payer_refund": payer_refund,
            "settlement_refund": refund.amount,
            "settlement_total": order.total,
            "discount_refund": refund.amount - payer_refund,
            "currency": "CNY",
        }

    def _refund_answer(self, refund: _Refund) -> dict[str, Any]:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.request["out_refund_no"],
            "transaction_id": refund.order.transaction_id,
            "out_trade_no": refund.order.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "success_time": _rfc3339(refund.success_time) if refund.success_time else None,
            "create_time": _rfc3339(refund.created),
            "status": refund.status,
            "funds_account": "AVAILABLE",
            "amount": self._refund_amount(refund),
        }

    def _refund_notice_resource(self, refund: _Refund) -> dict[str, Any]:
        amount = self._refund_amount(refund)
        return {
            "mchid": self.mchid,
            "out_trade_no": refund.order.out_trade_no,
            "transaction_id": refund.order.transaction_id,
            "out_refund_no": refund.request["out_refund_no"],
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "success_time": _rfc3339(refund.success_time) if refund.success_time else None,
            "user_received_account": "支付用户零钱",
            "amount": {k: amount[k] for k in ("total", "refund", "payer_total", "payer_refund")},
        }

    def _tradebill(self, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        try:
            day = date.fromisoformat(query.get("bill_date", ""))
        except ValueError:
            return _error(400, "PARAM_ERROR", "bill_date格式错误")
        if query.get("bill_type", "ALL") != "ALL":
            return _error(400, "PARAM_ERROR", "本替身只提供ALL账单")
        if day >= self._now().astimezone(CHINA).date():
            return _error(400, "STATEMENT_CREATING", "账单生成中")
        lines = self._bill_lines(day)
        if not lines:
            return _error(400, "NO_STATEMENT_EXIST", "账单不存在")
        bill = "\r\n".join(lines).encode() + b"\r\n"
        token = secrets.token_urlsafe(24)
        self._bills[token] = gzip.compress(bill) if query.get("tar_type") == "GZIP" else bill
        return _json(
            200,
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(bill).hexdigest(),
                "download_url": f"{self.base_url}/v3/billdownload/file?token={token}",
            },
        )

    def _bill_lines(self, day: date) -> list[str]:
        def on_day(moment: datetime | None) -> bool:
            return moment is not None and moment.astimezone(CHINA).date() == day

        def line(moment: datetime, order: _Order, state: str, refund: _Refund | None) -> list[str]:
            refunded = refund.amount if refund else 0
            return [
                moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                str(order.request["appid"]),
                self.mchid,
                "0",
                "",
                str(order.transaction_id),
                order.out_trade_no,
                str(order.request["payer"]["openid"]),
                "JSAPI",
                state,
                "OTHERS",
                "CNY",
                _yuan(0 if refund else order.total),
                "0.00",
                refund.refund_id if refund else "0",
                str(refund.request["out_refund_no"]) if refund else "0",
                _yuan(refunded),
                "0.00",
                "ORIGINAL" if refund else "",
                refund.status if refund else "",
                str(order.request["description"]),
                str(order.request.get("attach", "")),
                "0.00000",
                "0.60%",
                _yuan(order.total),
                _yuan(refunded),
                "",
            ]

        rows = [
            line(o.success_time, o, "SUCCESS", None)
            for o in self._orders.values()
            if o.success_time is not None and on_day(o.success_time)
        ]
        rows += [
            line(r.success_time, r.order, "REFUND", r)
            for r in self._refunds.values()
            if r.success_time is not None and on_day(r.success_time)
        ]
        if not rows:
            return []
        rows.sort(key=lambda row: row[0])
        paid = sum(o.total for o in self._orders.values() if on_day(o.success_time))
        refunded = sum(r.amount for r in self._refunds.values() if on_day(r.success_time))
        summary = [str(len(rows)), _yuan(paid), _yuan(refunded), "0.00", "0.00000", _yuan(paid), _yuan(refunded)]
        return [
            _BILL_HEADER,
            *(",".join("`" + cell for cell in row) for row in rows),
            _BILL_SUMMARY,
            ",".join("`" + cell for cell in summary),
        ]

    def _bill_download(self, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        bill = self._bills.get(query.get("token", ""))
        if bill is None:
            return _error(400, "PARAM_ERROR", "token无效")
        return _Reply(200, bill, "application/octet-stream", signed=False)

    def _certificates(self, *, query: dict[str, str], body: dict[str, Any]) -> _Reply:
        if self._certificate is None:
            return _error(404, "RESOURCE_NOT_EXISTS", "商户使用微信支付公钥，无平台证书")
        pem = self._certificate.public_bytes(serialization.Encoding.PEM).decode()
        return _json(
            200,
            {
                "data": [
                    {
                        "serial_no": self.serial,
                        "effective_time": _rfc3339(self._certificate.not_valid_before_utc),
                        "expire_time": _rfc3339(self._certificate.not_valid_after_utc),
                        "encrypt_certificate": self._encrypt(pem, "certificate"),
                    }
                ]
            },
        )


_ROUTES: dict[tuple[str, re.Pattern[str]], Callable[..., _Reply]] = {
    ("POST", re.compile(r"/v3/pay/transactions/jsapi")): FakeWeChatPay._jsapi,
    ("GET", re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)")): FakeWeChatPay._query,
    ("POST", re.compile(r"/v3/pay/transactions/out-trade-no/([^/]+)/close")): FakeWeChatPay._close,
    ("POST", re.compile(r"/v3/refund/domestic/refunds")): FakeWeChatPay._refund,
    ("GET", re.compile(r"/v3/refund/domestic/refunds/([^/]+)")): FakeWeChatPay._refund_query,
    ("GET", re.compile(r"/v3/bill/tradebill")): FakeWeChatPay._tradebill,
    ("GET", re.compile(r"/v3/billdownload/file")): FakeWeChatPay._bill_download,
    ("GET", re.compile(r"/v3/certificates")): FakeWeChatPay._certificates,
}


class _Handler(LoopbackHandler[FakeWeChatPay]):
    def serve(self, method: str) -> None:
        raw = self.read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.standin._handle(method, self.path, headers, raw)
        if not isinstance(reply, _Reply):  # DISCONNECT
            self.disconnect()
            return
        answer = self.server.standin._signature_headers(reply.body) if reply.signed else {}
        answer["Request-ID"] = secrets.token_hex(16)
        if reply.body or reply.status != 204:
            answer["Content-Type"] = reply.content_type
        self.respond(reply.status, reply.body, answer)
