"""Rate limits at the edge: the guard an operation names its kind of budget with, and who the caller is."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network, ip_address
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from backend.accounts.tokens import decode_access_token
from backend.errors import NotAuthenticated
from backend.ratelimits import Kind
from entrypoints.bootstrap import Dependencies
from miniprogram_api.client_address import client_address


def rate_limited(kind: Kind) -> Guard:
    """A guard that spends one request of `kind` before the handler runs (and before its body is read), answering
    429 `rate_limited` with `Retry-After` past the budget. The operation lists `RateLimited` in its problems."""

    async def spend(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        deps: Dependencies = connection.app.state.deps
        await deps.rate_limits.spend(kind, _caller(kind, connection, deps))

    return spend


_PER_ADDRESS = frozenset({Kind.READER_LOGIN, Kind.STAFF_LOGIN})
"""Budgets always spent per address: a login's budget is the brake on password guessing and on calls to WeChat, and a
token (any reader's, which a login is not about) must not buy a fresh one."""


def _caller(kind: Kind, connection: ASGIConnection[Any, Any, Any, Any], deps: Dependencies) -> str:
    """Whose budget a request spends: for a login, the client's address; else the account of a valid access token
    (`reader:12`), else the address (`client_address`: behind a trusted proxy, the one it forwards for). A token that
    does not pass counts as none: the handler refuses it, and the address has paid for the try."""
    if kind not in _PER_ADDRESS:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            try:
                principal = decode_access_token(deps.tokens, token.strip(), deps.clock.now())
            except NotAuthenticated:
                pass
            else:
                return f"{principal.kind}:{principal.id}"
    return f"ip:{address_key(client_address(connection.scope, deps.settings.server.trusted_proxies))}"


def address_key(address: str) -> str:
    """The budget an address spends: an IPv6 address its /64 (one subscriber's network: a phone picks any address in
    it), an IPv4 address itself."""
    try:
        parsed = ip_address(address)
    except ValueError:  # `unknown`, a test client's name
        return address
    if isinstance(parsed, IPv6Address):
        return str(IPv6Network((parsed, 64), strict=False))
    return address
