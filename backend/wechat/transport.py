"""The gateway's HTTP transport, telling a request that never reached WeChat from one whose answer never came.

Not sent (safe to send again): the connection could not be made (refused, DNS, connect timeout, TLS handshake), or
it failed while the request was still being written (reset, broken pipe, write timeout) with no answer after it.
Maybe received (never sent again): anything once the whole request was handed to the network. A reset or a closed
connection from then on cannot be told apart from one after WeChat read the request: TCP acknowledges what the
peer's kernel took, not what the server read (and a load balancer acknowledges for it), and a server shedding load
and one that acted on the request and then dropped the connection look alike. urllib3 swallows a reset while
writing to read an early answer and reports a failed read either way, so the connections here note which it was.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError


class RequestNotWritten(ConnectionError):
    """The connection failed before the whole request was handed to it: WeChat cannot have acted on it."""


class _HTTPConnection(urllib3.connection.HTTPConnection):
    _not_written: OSError | None = None

    def connect(self) -> None:
        try:
            super().connect()
        except RequestNotWritten:
            raise
        except OSError as exc:  # a TLS handshake or proxy tunnel (urllib3 wraps a failed TCP connect itself)
            raise RequestNotWritten("the connection could not be set up") from exc

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._not_written = None
        try:
            super().request(*args, **kwargs)
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._not_written = exc  # urllib3 goes on to read a possible early answer: getresponse tells
            raise
        except RequestNotWritten:
            raise
        except OSError as exc:  # a write timeout
            raise RequestNotWritten("the request could not be written") from exc

    def getresponse(self) -> urllib3.response.HTTPResponse:  # type: ignore[override]
        try:
            return super().getresponse()
        except (OSError, http.client.HTTPException) as exc:
            if self._not_written is None:
                raise
            raise RequestNotWritten("the connection broke while the request was written") from exc


class _HTTPSConnection(_HTTPConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class WeChatAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter on connections that note whether a request was written whole (not through a proxy:
    there, everything after the connection is made counts as maybe received)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


_NOT_SENT = (NewConnectionError, ConnectTimeoutError, RequestNotWritten)  # DNS errors are NewConnectionErrors


def maybe_received(exc: requests.RequestException) -> bool:
    """Whether WeChat may have had the whole request (see the module's docstring)."""
    if not isinstance(exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError):
        return False  # refused by requests before anything went out (an invalid URL or header)
    return not any(isinstance(cause, _NOT_SENT) for cause in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The error and every error inside it: requests and urllib3 keep the original in their arguments (a
    ProtocolError's second, a MaxRetryError's reason), Python in `__cause__` and `__context__`."""
    stack, seen = [exc], set[int]()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inside = [*current.args, getattr(current, "reason", None), current.__cause__, current.__context__]
        stack.extend(e for e in inside if isinstance(e, BaseException))
