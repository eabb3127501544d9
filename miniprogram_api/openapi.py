"""Each operation on the OpenAPI page is written once, in its handler's docstring: the docstring describes it, and the
docstring's first clause summarises it."""

from __future__ import annotations

import re

from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

# Where the first clause ends: the end of a sentence, a colon, a semicolon or an aside in brackets (not a comma, which
# may be inside a list: "Change the pickup library, or suspend the hold").
_CLAUSE_END = re.compile(r"(?<=\.)\s|[:;]\s|\s\(")


def summary_of(docstring: str) -> str:
    """The docstring's first clause: "Lend a copy at the desk: to the reader ..." is "Lend a copy at the desk"."""
    return _CLAUSE_END.split(" ".join(docstring.split()), maxsplit=1)[0].rstrip(".")


class DocstringSummaries(ReceiveRoutePlugin):
    """Summarises every operation that has no `summary=` by its docstring's first clause. Litestar's own summary is the
    handler's name, which says `Detail`, `Mine` or `Cancel` for a dozen different operations."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if handler.summary is None and handler.fn.__doc__:
                handler.summary = summary_of(handler.fn.__doc__)
