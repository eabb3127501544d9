"""A query parameter the operation does not take, or a required one missing, is a 400 naming it: Litestar would ignore a
misspelt `?limt=5` and answer with the default limit, which the client takes for an answer to what it asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class DeclaredQuery:
    """The query parameters one operation takes, its own and its dependencies', as Litestar reads them."""

    names: frozenset[str]
    required: frozenset[str]

    def problems(self, given: set[str]) -> list[dict[str, str]]:
        """One field problem per parameter given that is not taken, and per required one not given, by name."""
        named = [(name, "Unknown query parameter") for name in sorted(given - self.names)]
        named += [(name, "Missing required query parameter") for name in sorted(self.required - given)]
        return [{"key": name, "source": "query", "message": message} for name, message in named]


def declared_query(app: Litestar, path_template: str, method: str) -> DeclaredQuery | None:
    """Read from the parameter model Litestar built for the route, so what is checked is what the handler is given.
    None, nothing checked, for an OPTIONS request (a CORS preflight, which Litestar answers itself) and for a route
    outside the API document (the docs page, its files and openapi.json, /metrics): no client codes against those, and
    a `?v=5` that busts a cache in front of them is no mistake."""
    if method == "OPTIONS":
        return None
    route = next(r for r in app.routes if isinstance(r, HTTPRoute) and r.path_format == path_template)
    handler, model = route.route_handler_map[method]  # type: ignore[index]
    if not handler.resolve_include_in_schema():
        return None
    return DeclaredQuery(
        names=frozenset(p.field_alias for p in model.expected_query_params),
        # As Litestar's own extractor decides: no default to fall back on.
        required=frozenset(p.field_alias for p in model.expected_query_params if p.is_required or p.default is ...),
    )


class DeclaredQueryOnly(ASGIMiddleware):
    """Refuses a request whose query names a parameter the operation does not take or lacks a required one, every
    such parameter named in the problem's `errors` (code `invalid_request`, like any other malformed input); what is
    checked is `declared_query`'s to say."""

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        # (path template, method) -> what it takes, None when unchecked; filled on first use and never changed: the
        # routes are fixed once the app is built.
        self._declared: dict[tuple[str, str], DeclaredQuery | None] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        key = (scope["path_template"], scope["method"])  # type: ignore[typeddict-item]
        try:
            declared = self._declared[key]
        except KeyError:
            declared = self._declared[key] = declared_query(scope["litestar_app"], *key)
        if declared is not None:
            connection: ASGIConnection[Any, Any, Any, Any] = ASGIConnection(scope)
            if problems := declared.problems(set(connection.query_params)):
                detail = "; ".join(f"{p['message']} {p['key']!r}" for p in problems)
                raise ValidationException(detail, extra=problems)
        await next_app(scope, receive, send)
