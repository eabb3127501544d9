"""Async gateway to the WeChat mini-program APIs over wechatpy, with one access_token shared by every process.

wechatpy is synchronous (requests), so every call runs in a thread pool of our own and never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import requests
from redis.asyncio import Redis
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from backend.errors import DomainError
from backend.wechat.errors import (
    InvalidLoginCode,
    InvalidPhoneCode,
    WeChatNoAnswer,
    WeChatRateLimited,
    WeChatRiskyUser,
    WeChatUnavailable,
)
from backend.wechat.transport import WeChatAdapter, maybe_received

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_REJECTED = {40001, 42001}  # invalid credential / access_token expired: refresh once and retry
_INVALID_CODE = {40029, 40163}  # invalid code / code already used
_RATE_LIMITED = {45009, 45011}
_RISKY_USER = 40226
# WeChat invalidates the old token 5 minutes after a new one is fetched; renew before that window.
_TOKEN_EARLY_RENEWAL_SECONDS = 300


@dataclass(frozen=True, slots=True)
class WeChatSession:
    openid: str
    session_key: str
    unionid: str | None


class WeChatGateway(Protocol):
    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a `wx.login` code (single use, 5 minutes) for the reader's openid and session key."""
        ...

    async def phone_number(self, code: str) -> str:
        """Exchange a `getPhoneNumber` code for the phone number, as +<country code><number>."""
        ...

    async def mini_program_code(self, scene: str, page: str | None) -> bytes:
        """A PNG mini-program code (getwxacodeunlimit) that opens `page` with `scene` (<= 32 characters)."""
        ...

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: dict[str, dict[str, str]], page: str
    ) -> None:
        """Send one subscribe message. WeChat's refusal raises `SendRefused` with its errcode; WeChat unreachable
        or failing (5xx) raises `WeChatUnavailable`."""
        ...


class SendRefused(Exception):
    """WeChat refused a message with an errcode (token errors are the gateway's own business, retried there)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"errcode={errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class _MiniProgramClient(WeChatClient):  # type: ignore[misc]
    """wechatpy's client bound to a configurable API root. The access_token is handed in by the gateway (from
    the shared cache) instead of wechatpy's per-process storage, and wechatpy's own retry is off: refreshing
    is the gateway's job, done once for every process."""

    def __init__(
        self, appid: str, secret: str, api_base: str, http: requests.Session, timeout: float, token: str | None
    ) -> None:
        super().__init__(appid, secret, timeout=timeout, auto_retry=False)
        self._http = http
        self._token = token
        self.api_root = api_base.rstrip("/") + "/"
        self.API_BASE_URL = self.api_root + "cgi-bin/"
        self.wxa.API_BASE_URL = self.api_root

    def use_token(self, token: str | None) -> None:
        self._token = token

    @property
    def access_token(self) -> str | None:
        # None is dropped from the query by requests: calls that need no token (jscode2session) send none.
        return getattr(self, "_token", None)

    def fetch_access_token(self, force_refresh: bool = False) -> dict[str, Any]:
        # stable_token is the recommended endpoint; force_refresh only when WeChat has rejected our token.
        result: dict[str, Any] = self.post(
            self.api_root + "cgi-bin/stable_token",
            data={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": force_refresh,
            },
        )
        return result


class WechatpyGateway:
    """The real gateway. One instance per process; the token lives in Redis, shared by all processes."""

    def __init__(
        self, *, appid: str, secret: str, api_base: str, redis: Redis, timeout: float = 5.0, threads: int = 32
    ) -> None:
        self._appid = appid
        self._secret = secret
        self._api_base = api_base
        self._redis = redis
        self._timeout = timeout
        self._http = requests.Session()
        # The environment's proxy and CA bundle settings are read once here: requests rereads the environment on
        # every request otherwise, a good part of the CPU a message send took.
        self._http.proxies = requests.utils.get_environ_proxies(api_base)
        self._http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self._http.trust_env = False
        adapter = WeChatAdapter(pool_maxsize=threads)
        for scheme in ("http://", "https://"):  # requests' own adapters sit at these prefixes: a shorter one loses
            self._http.mount(scheme, adapter)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wechat")
        self._local = threading.local()
        self._token_key = f"wechat:access_token:{appid}"
        self._lock_key = f"wechat:access_token:lock:{appid}"

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    async def code_to_session(self, code: str) -> WeChatSession:
        try:
            result = await self._run(None, lambda c: c.wxa.code_to_session(code))
        except WeChatClientException as exc:
            raise _translate(exc, invalid_code=InvalidLoginCode) from exc
        return WeChatSession(
            openid=result["openid"], session_key=result["session_key"], unionid=result.get("unionid") or None
        )

    async def phone_number(self, code: str) -> str:
        result = await self._with_token(
            lambda c: c.post("wxa/business/getuserphonenumber", data={"code": code}, api_base_url=c.api_root),
            invalid_code=InvalidPhoneCode,
        )
        info = result["phone_info"]
        return f"+{info['countryCode']}{info['purePhoneNumber']}"

    async def mini_program_code(self, scene: str, page: str | None) -> bytes:
        response = await self._with_token(lambda c: c.wxa.get_wxa_code_unlimited(scene, page=page))
        content: bytes = response.content  # wechatpy hands back the raw response when the answer is a PNG
        return content

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: dict[str, dict[str, str]], page: str
    ) -> None:
        try:
            await self._call_with_token(lambda c: c.wxa.send_subscribe_message(openid, template_id, data, page=page))
        except WeChatClientException as exc:
            if exc.errcode is None:  # an HTTP error (a 5xx) with no WeChat answer in it
                log.warning("WeChat failed a subscribe message send (%s)", type(exc.__cause__).__name__)
                raise WeChatUnavailable() from None
            raise SendRefused(int(exc.errcode), str(exc.errmsg)) from None

    async def access_token(self) -> str:
        """The current token from the shared cache, fetched by exactly one process when missing."""
        cached = await self._redis.get(self._token_key)
        return cached.decode() if cached else await self._refresh(rejected=None)

    async def _with_token(
        self, call: Callable[[_MiniProgramClient], T], invalid_code: type[DomainError] = WeChatUnavailable
    ) -> T:
        try:
            return await self._call_with_token(call)
        except WeChatClientException as exc:
            raise _translate(exc, invalid_code=invalid_code) from exc

    async def _call_with_token(self, call: Callable[[_MiniProgramClient], T]) -> T:
        token = await self.access_token()
        try:
            return await self._run(token, call)
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_REJECTED:
                raise
            log.info("WeChat rejected the access_token (%s); refreshing once", exc.errcode)
            return await self._run(await self._refresh(rejected=token), call)

    async def _refresh(self, rejected: str | None) -> str:
        # One refresh at a time across every process: fetching a new token invalidates the old one.
        async with self._redis.lock(self._lock_key, timeout=30, blocking_timeout=30):
            cached = await self._redis.get(self._token_key)
            if cached and cached.decode() != rejected:
                return str(cached.decode())  # another process refreshed while we waited
            try:
                result = await self._run(None, lambda c: c.fetch_access_token(force_refresh=False))
                if rejected is not None and result["access_token"] == rejected:
                    # Still handed out yet refused: only now force a new one (WeChat allows 20 forced a day, and
                    # a forced token invalidates the old one for every process at once).
                    result = await self._run(None, lambda c: c.fetch_access_token(force_refresh=True))
            except WeChatClientException as exc:
                raise _translate(exc, invalid_code=WeChatUnavailable) from exc
            except WeChatNoAnswer as exc:  # a token is asked for again safely: only a message's lost answer matters
                raise WeChatUnavailable() from exc
            token = str(result["access_token"])
            ttl = max(int(result.get("expires_in", 7200)) - _TOKEN_EARLY_RENEWAL_SECONDS, 60)
            await self._redis.set(self._token_key, token, ex=ttl)
            return token

    def _client(self) -> _MiniProgramClient:
        """This thread's client: wechatpy builds dozens of API objects per client, too many to make per call
        (most of a message send's CPU). A thread runs one call at a time, so its client is its own."""
        client: _MiniProgramClient | None = getattr(self._local, "client", None)
        if client is None:
            client = _MiniProgramClient(self._appid, self._secret, self._api_base, self._http, self._timeout, None)
            self._local.client = client
        return client

    async def _run(self, token: str | None, call: Callable[[_MiniProgramClient], T]) -> T:
        def work() -> T:
            client = self._client()
            client.use_token(token)
            try:
                return call(client)
            except requests.RequestException as exc:
                # Only the exception's type: its text holds the URL, with the AppSecret or access_token in it.
                log.warning("WeChat unreachable (%s)", type(exc).__name__)
                raise (WeChatNoAnswer() if maybe_received(exc) else WeChatUnavailable()) from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, work)


def _translate(exc: WeChatClientException, *, invalid_code: type[DomainError]) -> DomainError:
    code = exc.errcode
    if code in _INVALID_CODE:
        return invalid_code()
    if code in _RATE_LIMITED:
        return WeChatRateLimited()
    if code == _RISKY_USER:
        return WeChatRiskyUser()
    log.warning("WeChat answered errcode=%s errmsg=%s", code, exc.errmsg)
    return WeChatUnavailable()
