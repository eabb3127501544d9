"""A WeChat-compatible HTTP server on 127.0.0.1, standing in for api.weixin.qq.com in tests, benchmarks and the demo
(`shuxiang run` without an AppID)."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import struct
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qsl, urlsplit

from standins.loopback import LoopbackHandler, LoopbackServer

TOKEN_LIFETIME = 7200  # seconds, as WeChat documents for access_token
TOKEN_EARLY_RENEWAL = 300  # stable_token hands out a new token in the last 5 minutes of the current one
CODE_LIFETIME = 300  # login and phone codes are valid 5 minutes
SCENE_MAX = 32
# getwxacodeunlimit documents these as the only characters a scene may hold.
_SCENE_CHARS = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]*")

ERRMSG: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40029: "invalid code",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    40169: "invalid length for scene",
    40226: "high risk user",
    41001: "access_token missing",
    41008: "missing code",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    47001: "data format error",
    47003: "argument invalid!",
}

# Subscribe-message value limits by keyword kind (the key is the kind plus a number: thing1, phrase2, ...).
_FIELD_LIMITS = {
    "thing": 20,
    "phrase": 5,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phone_number": 17,
    "car_number": 8,
    "name": 20,
}
_FIELD_KEY = re.compile(r"([a-z_]+?)(\d+)")

HTTP500 = "http500"  # scripted answer: an HTTP 500 with a non-JSON body
DISCONNECT = "disconnect"  # scripted answer: the connection is closed without any response
# Scripted answers: the connection is reset (a TCP RST, as a server shedding load sends) before the request is
# read, so nothing is done; or once the request was read and done (a message sent), with no answer.
RESET_BEFORE_READ = "reset_before_read"
RESET_AFTER_READ = "reset_after_read"
_HELD_WHOLE = 1 << 20  # a request larger than this is reset before it has arrived whole, while it is written

ScriptedAnswer = int | str


class Request(NamedTuple):
    method: str
    path: str
    query: dict[str, str]
    body: Any  # the decoded JSON body, or None when there is none (or it is not JSON)


@dataclass(slots=True)
class _Token:
    value: str
    issued_at: float
    state: str = "valid"  # valid | expired (42001) | invalid (40001)


@dataclass(slots=True)
class _Code:
    issued_at: float
    used: bool = False
    expired: bool = False


@dataclass(slots=True)
class _LoginCode(_Code):
    openid: str = ""
    unionid: str | None = None


@dataclass(slots=True)
class _PhoneCode(_Code):
    pure_number: str = ""
    country_code: str = "86"


class _Reply(NamedTuple):
    status: int
    content_type: str
    body: bytes


def _json(payload: dict[str, Any]) -> _Reply:
    # WeChat answers business errors with HTTP 200 and an errcode in the JSON body.
    return _Reply(200, "application/json; encoding=utf-8", json.dumps(payload, ensure_ascii=False).encode())


def _error(errcode: int, errmsg: str | None = None) -> _Reply:
    return _json({"errcode": errcode, "errmsg": errmsg or ERRMSG.get(errcode, "error")})


def _png(rows: list[list[bool]], scale: int) -> bytes:
    """A real 8-bit greyscale PNG of a boolean matrix (True is black), built with zlib only."""
    raw = bytearray()
    for row in rows:
        line = bytes(0 if dark else 255 for dark in row for _ in range(scale))
        for _ in range(scale):
            raw += b"\x00" + line  # filter type 0 (None) for every scanline
    height = len(rows) * scale
    width = len(rows[0]) * scale if rows else 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    )


def _code_image(scene: str, width: int) -> bytes:
    """A QR of the scene when the qrcode package is there (so tests can decode it), else a plain square."""
    try:
        import qrcode  # a dependency of the project; the server itself needs only the standard library
    except ImportError:  # pragma: no cover - qrcode is installed with the project
        matrix = [[(x + y) % 2 == 0 for x in range(21)] for y in range(21)]
    else:
        qr = qrcode.QRCode(border=2, mask_pattern=0)  # a fixed mask is several times faster than choosing one
        qr.add_data(scene)
        matrix = qr.get_matrix()
    return _png(matrix, max(1, min(width, 1280) // len(matrix)))


class FakeWeChat:
    """The WeChat mini-program server API for one app, with controls for tests. Start it, point the gateway
    at `base_url`, register codes, users and templates, then look at what was asked in `requests`.

    Simplifications, on purpose: a force-refreshed token leaves the previous one valid (WeChat keeps it only
    for a short overlap) until a test expires it; stable_token and the old /cgi-bin/token share one pool of
    tokens (WeChat keeps them apart); force_refresh has no 30-second / 20-a-day limit."""

    def __init__(
        self,
        appid: str = "wx-test-app",
        secret: str = "test-secret",
        *,
        standing_logins: Mapping[str, str] | None = None,
    ) -> None:
        """`standing_logins` maps login codes that never expire nor wear out to the openid each logs in (the demo's
        readers: there is no phone to call `wx.login`, so `demo-alice` is always alice)."""
        self.appid = appid
        self.secret = secret
        self._standing_logins = dict(standing_logins or {})
        self._lock = threading.Lock()
        self._message_arrived = threading.Condition(self._lock)  # notified under the lock each message takes
        self._server: LoopbackServer[FakeWeChat] | None = None
        self.requests: list[Request] = []
        self.token_fetches = 0
        self.wxacode_requests: list[dict[str, Any]] = []
        self.subscribe_messages: list[dict[str, Any]] = []
        self._tokens: dict[str, _Token] = {}
        self._current_token: str | None = None
        self._login_codes: dict[str, _LoginCode] = {}
        self._login_errors: dict[str, int] = {}
        self._phone_codes: dict[str, _PhoneCode] = {}
        self._openids: set[str] = set(self._standing_logins.values())
        self._session_keys: dict[str, str] = {}
        self._templates: dict[str, frozenset[str] | None] = {}
        self._authorisations: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._scripted: defaultdict[str, deque[ScriptedAnswer]] = defaultdict(deque)
        self._time_offset = 0.0

    # --- life cycle -------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeWeChat is not started")
        return self._server.base_url

    def start(self) -> Self:
        if self._server is None:
            self._server = LoopbackServer[FakeWeChat](_Handler, self, "fake-wechat").start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- test controls ----------------------------------------------------------------------------------------

    def issue_login_code(self, openid: str, unionid: str | None = None) -> str:
        """A fresh `wx.login` code for this user; the openid becomes known to the message API at once."""
        code = secrets.token_hex(16)
        with self._lock:
            self._login_codes[code] = _LoginCode(issued_at=self._now(), openid=openid, unionid=unionid)
            self._openids.add(openid)
        return code

    def script_login_error(self, code: str, errcode: int) -> None:
        """Every exchange of `code` answers `errcode` (e.g. 45011 rate limit, 40226 risky user)."""
        with self._lock:
            self._login_errors[code] = errcode

    def add_user(self, openid: str) -> None:
        """Make an openid known (to send it messages) without a login code."""
        with self._lock:
            self._openids.add(openid)

    def session_key(self, openid: str) -> str | None:
        """The session_key last handed out for this user."""
        with self._lock:
            return self._session_keys.get(openid)

    def issue_phone_code(self, pure_number: str, country_code: str = "86") -> str:
        """A fresh `getPhoneNumber` code for this number (without the country code)."""
        code = secrets.token_hex(32)
        with self._lock:
            self._phone_codes[code] = _PhoneCode(
                issued_at=self._now(), pure_number=pure_number, country_code=country_code
            )
        return code

    def expire_codes(self) -> None:
        """Every outstanding login and phone code passes its 5 minutes: they answer 40029 from now on."""
        with self._lock:
            for code in (*self._login_codes.values(), *self._phone_codes.values()):
                code.expired = True

    def add_template(self, template_id: str, fields: Iterable[str] | None = None) -> None:
        """A subscribe-message template of the app; with `fields`, data keys outside them answer 47003."""
        with self._lock:
            self._templates[template_id] = frozenset(fields) if fields is not None else None

    def authorise_subscription(self, openid: str, template_id: str, times: int = 1) -> None:
        """The user tapped "allow" `times` times: that many messages of the template may be sent to them."""
        with self._lock:
            self._openids.add(openid)
            self._authorisations[openid, template_id] += times

    def wait_for_messages(self, count: int, timeout: float) -> bool:
        """Block until at least `count` subscribe messages were accepted; False if `timeout` passes first."""
        with self._message_arrived:
            return self._message_arrived.wait_for(lambda: len(self.subscribe_messages) >= count, timeout)

    def forget_subscriptions(self) -> None:
        """Start afresh: no authorisation and no message recorded (the server outlives each test)."""
        with self._lock:
            self._authorisations.clear()
            self.subscribe_messages.clear()

    def subscriptions_left(self, openid: str, template_id: str) -> int:
        with self._lock:
            return self._authorisations.get((openid, template_id), 0)

    @property
    def current_token(self) -> str | None:
        """The token stable_token hands out without force_refresh, if it is still valid."""
        with self._lock:
            return self._valid_current()

    def expire_all_tokens(self) -> None:
        """Every token issued so far answers 42001 (access_token expired)."""
        self._set_token_states(None, "expired")

    def invalidate_all_tokens(self) -> None:
        """Every token issued so far answers 40001 (invalid credential)."""
        self._set_token_states(None, "invalid")

    def expire_token(self, token: str) -> None:
        """This one token answers 42001 from now on."""
        self._set_token_states(token, "expired")

    def expire_superseded_tokens(self) -> None:
        """End the overlap after a refresh: every token but the newest answers 42001."""
        with self._lock:
            for token in self._tokens.values():
                if token.value != self._current_token and token.state == "valid":
                    token.state = "expired"

    def script_next_errors(self, path: str, answers: Iterable[ScriptedAnswer]) -> None:
        """The next calls to `path` answer these, in order, before anything else is checked: an errcode (JSON,
        HTTP 200), "http500" (HTTP 500), "disconnect" (the connection is closed with no answer),
        "reset_before_read" (reset once the request has arrived, before it is read: nothing is done or recorded;
        a request over 1 MiB is reset while it arrives) or "reset_after_read"
        (the request is handled as usual, a message sent, then the connection is reset instead of answered)."""
        with self._lock:
            self._scripted[path].extend(answers)

    def advance_time(self, seconds: float) -> None:
        """Move the fake's clock on, so that codes (5 minutes) and tokens (7200 s) age without waiting."""
        with self._lock:
            self._time_offset += seconds

    def calls(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- request handling (runs on the server's threads) ------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic() + self._time_offset

    def _set_token_states(self, token: str | None, state: str) -> None:
        with self._lock:
            for issued in self._tokens.values():
                if token is None or issued.value == token:
                    issued.state = state

    def _valid_current(self) -> str | None:
        token = self._tokens.get(self._current_token or "")
        if token is None or token.state != "valid" or self._now() - token.issued_at >= TOKEN_LIFETIME:
            return None
        return token.value

    def _issue_token(self) -> _Token:
        token = _Token(value=secrets.token_urlsafe(96), issued_at=self._now())
        # The previous token stays valid: a simplification of WeChat's 5-minute overlap (see expire_token).
        self._tokens[token.value] = token
        self._current_token = token.value
        return token

    def _token_error(self, query: dict[str, str]) -> _Reply | None:
        token = self._tokens.get(query.get("access_token", ""))
        if token is None or token.state == "invalid":
            return _error(40001)
        if token.state == "expired" or self._now() - token.issued_at >= TOKEN_LIFETIME:
            return _error(42001)
        return None

    def _credentials_error(self, appid: Any, secret: Any) -> _Reply | None:
        if appid != self.appid:
            return _error(40013)
        if secret != self.secret:
            return _error(40125)
        return None

    def _reset_before_read(self, path: str) -> bool:
        """Whether the next scripted answer to `path` is a reset before the request is read (taken if so)."""
        with self._lock:
            scripted = self._scripted.get(path)
            if scripted and scripted[0] == RESET_BEFORE_READ:
                scripted.popleft()
                return True
            return False

    def _handle(self, method: str, path: str, query: dict[str, str], body: Any) -> _Reply | str | None:
        """The answer to one request: a reply, a scripted "disconnect" or "reset_after_read", or None for an unknown
        path."""
        route = _ROUTES.get((method, path))
        with self._lock:
            self.requests.append(Request(method, path, query, body))
            if route is None:
                return None
            if path in ("/cgi-bin/stable_token", "/cgi-bin/token"):
                self.token_fetches += 1
            scripted = self._scripted.get(path)
            answer = scripted.popleft() if scripted else None
            if answer == HTTP500:
                return _Reply(500, "text/html", b"<html><body>500 Internal Server Error</body></html>")
            if answer == DISCONNECT:
                return DISCONNECT
            if answer is not None and answer != RESET_AFTER_READ:
                return _error(int(answer))
        reply = self._answer(route, path, query, body)
        return RESET_AFTER_READ if answer == RESET_AFTER_READ else reply

    def _answer(self, route: _Route, path: str, query: dict[str, str], body: Any) -> _Reply:
        with self._lock:
            if path.startswith(("/cgi-bin/", "/wxa/")) and path not in ("/cgi-bin/stable_token", "/cgi-bin/token"):
                rejected = self._token_error(query)
                if rejected is not None:
                    return rejected
            if route.needs_json and not isinstance(body, dict):
                return _error(47001)
            if not route.slow:
                return route.handler(self, query, body)
        # Drawing the code takes milliseconds: do it outside the lock.
        return route.handler(self, query, body)

    def _jscode2session(self, query: dict[str, str], _body: Any) -> _Reply:
        if (rejected := self._credentials_error(query.get("appid"), query.get("secret"))) is not None:
            return rejected
        if query.get("grant_type") != "authorization_code":
            return _error(40002)
        code = query.get("js_code", "")
        if not code:
            return _error(41008)
        if code in self._login_errors:
            return _error(self._login_errors[code])
        issued = self._login_codes.get(code)
        if code in self._standing_logins:
            issued = _LoginCode(issued_at=self._now(), openid=self._standing_logins[code])  # as if fresh from wx.login
        if issued is None or issued.expired or self._now() - issued.issued_at >= CODE_LIFETIME:
            return _error(40029)
        if issued.used:
            return _error(40163)
        issued.used = True
        session_key = secrets.token_urlsafe(18)[:24]  # base64 of 16 bytes is 24 characters, like WeChat's
        self._session_keys[issued.openid] = session_key
        answer = {"session_key": session_key, "openid": issued.openid}
        if issued.unionid is not None:
            answer["unionid"] = issued.unionid
        return _json(answer)

    def _stable_token(self, _query: dict[str, str], body: Any) -> _Reply:
        if body.get("grant_type") != "client_credential":
            return _error(40002)
        if (rejected := self._credentials_error(body.get("appid"), body.get("secret"))) is not None:
            return rejected
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            return _error(47001)
        current = None if force else self._tokens.get(self._valid_current() or "")
        if current is not None and self._now() - current.issued_at >= TOKEN_LIFETIME - TOKEN_EARLY_RENEWAL:
            current = None
        token = current or self._issue_token()
        # Like WeChat, expires_in is what is left of the token's life, not always 7200.
        remaining = TOKEN_LIFETIME - int(self._now() - token.issued_at)
        return _json({"access_token": token.value, "expires_in": remaining})

    def _token(self, query: dict[str, str], _body: Any) -> _Reply:
        if query.get("grant_type") != "client_credential":
            return _error(40002)
        if (rejected := self._credentials_error(query.get("appid"), query.get("secret"))) is not None:
            return rejected
        return _json({"access_token": self._issue_token().value, "expires_in": TOKEN_LIFETIME})

    def _phone_number(self, _query: dict[str, str], body: Any) -> _Reply:
        issued = self._phone_codes.get(str(body.get("code", "")))
        # WeChat documents 40029 for used and expired phone codes alike.
        if issued is None or issued.used or issued.expired or self._now() - issued.issued_at >= CODE_LIFETIME:
            return _error(40029)
        issued.used = True
        # phoneNumber carries the country code only for numbers outside mainland China.
        number = issued.pure_number if issued.country_code == "86" else f"+{issued.country_code}{issued.pure_number}"
        return _json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": number,
                    "purePhoneNumber": issued.pure_number,
                    "countryCode": issued.country_code,
                    "watermark": {"timestamp": int(time.time()), "appid": self.appid},
                },
            }
        )

    def _wxacode(self, _query: dict[str, str], body: Any) -> _Reply:
        scene = body.get("scene")
        if not isinstance(scene, str) or not 0 < len(scene) <= SCENE_MAX or not _SCENE_CHARS.fullmatch(scene):
            return _error(40169)
        width = body.get("width", 430)
        image = _code_image(scene, width if isinstance(width, int) and width > 0 else 430)
        with self._lock:
            self.wxacode_requests.append(dict(body))
        return _Reply(200, "image/png", image)

    def _subscribe_send(self, _query: dict[str, str], body: Any) -> _Reply:
        openid = body.get("touser")
        template_id = body.get("template_id")
        if openid not in self._openids:
            return _error(40003)
        if template_id not in self._templates:
            return _error(40037)
        if (problem := self._data_problem(body.get("data"), self._templates[template_id])) is not None:
            return _error(47003, f"argument invalid! {problem}")
        # Checked last so that a rejected message does not use up the reader's authorisation.
        if self._authorisations.get((openid, template_id), 0) <= 0:
            return _error(43101)
        self._authorisations[openid, template_id] -= 1
        self.subscribe_messages.append(dict(body))
        self._message_arrived.notify_all()
        return _json({"errcode": 0, "errmsg": "ok", "msgid": secrets.randbelow(2**62)})

    def _sent(self, _query: dict[str, str], _body: Any) -> _Reply:
        """Not WeChat's: what the demo would have pushed to readers' phones, for a person to look at."""
        return _json({"count": len(self.subscribe_messages), "messages": self.subscribe_messages})

    @staticmethod
    def _data_problem(data: Any, fields: frozenset[str] | None) -> str | None:
        if not isinstance(data, dict) or not data:
            return "data is empty"
        for key, item in data.items():
            if fields is not None and key not in fields:
                return f"data.{key} is not a keyword of the template"
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value:
                return f"data.{key}.value is empty"
            match = _FIELD_KEY.fullmatch(key)
            if match is None:
                return f"data.{key} is not a keyword"
            limit = _FIELD_LIMITS.get(match.group(1))
            if limit is not None and len(value) > limit:
                return f"data.{key}.value exceeds limit {limit}"
        return None


@dataclass(frozen=True, slots=True)
class _Route:
    handler: Callable[[FakeWeChat, dict[str, str], Any], _Reply]
    needs_json: bool = True
    slow: bool = False  # runs outside the state lock (and takes it itself)


_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "/sns/jscode2session"): _Route(FakeWeChat._jscode2session, needs_json=False),
    ("POST", "/cgi-bin/stable_token"): _Route(FakeWeChat._stable_token),
    ("GET", "/cgi-bin/token"): _Route(FakeWeChat._token, needs_json=False),
    ("POST", "/wxa/business/getuserphonenumber"): _Route(FakeWeChat._phone_number),
    ("POST", "/wxa/getwxacodeunlimit"): _Route(FakeWeChat._wxacode, slow=True),
    ("POST", "/cgi-bin/message/subscribe/send"): _Route(FakeWeChat._subscribe_send),
    ("GET", "/demo/sent"): _Route(FakeWeChat._sent, needs_json=False),
}


class _Handler(LoopbackHandler[FakeWeChat]):
    def serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.server.standin._reset_before_read(url.path):
            length = int(self.headers.get("Content-Length") or 0)
            if length <= _HELD_WHOLE:  # let it arrive whole, so the client is past writing it when the reset comes
                self.rfile.read(length)
            self._reset()
            return
        raw = self.read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                body = None  # recorded as None; JSON endpoints answer 47001
        reply = self.server.standin._handle(method, url.path, query, body)
        if reply == DISCONNECT:
            self.disconnect()
            return
        if reply == RESET_AFTER_READ:
            self._reset()
            return
        if reply is None:
            reply = _Reply(404, "text/html", b"<html><body>404 Not Found</body></html>")
        assert isinstance(reply, _Reply)
        self.respond(reply.status, reply.body, {"Content-Type": reply.content_type})

    def _reset(self) -> None:
        """Abort the connection: with a zero linger time, closing it sends a TCP RST rather than a FIN."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.connection):  # the socket closes once its reader is closed too
            with contextlib.suppress(OSError):
                stream.close()
