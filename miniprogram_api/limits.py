"""Rate limits at the edge: the guard an operation names its kind of budget with, and who the caller is."""

from __future__ import annotations

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
        await deps.rate_limits.spend(kind, _caller(connection, deps))

    return spend


def _caller(connection: ASGIConnection[Any, Any, Any, Any], deps: Dependencies) -> str:
    """Whose budget a request spends: the account of a valid access token (`reader:12`), else the client's address
    (`client_address`: behind a trusted proxy, the one it forwards for). A token that does not pass counts as none:
    the handler refuses it, and the address has paid for the try."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            principal = decode_access_token(deps.tokens, token.strip(), deps.clock.now())
        except NotAuthenticated:
            pass
        else:
            return f"{principal.kind}:{principal.id}"
    return f"ip:{client_address(connection.scope, deps.settings.server.trusted_proxies)}"
