"""What handlers are given: the composition root's `Dependencies` (as `deps`), and the caller resolved from the bearer
token."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from backend.accounts.errors import (
    BookstoreClerksOnly,
    ChildNotFound,
    EnrollersOnly,
    ReaderOnly,
    StaffOnly,
    TokenExpired,
    TokenInvalid,
)
from backend.accounts.models import Reader, StaffUser
from backend.accounts.services import get_child, reader_for
from backend.accounts.staff import clerk_for, enroller_for, staff_for
from backend.accounts.tokens import Principal, decode_access_token
from backend.errors import NotAuthenticated
from entrypoints.bootstrap import Dependencies
from miniprogram_api.schemas import RowId


def provide_deps(state: State) -> Dependencies:
    """What the composition root built when the app started."""
    deps: Dependencies = state.deps
    return deps


def _principal(request: Request[Any, Any, Any], deps: Dependencies) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not token:
        raise NotAuthenticated()
    if scheme.lower() != "bearer":
        raise TokenInvalid()
    return decode_access_token(deps.tokens, token.strip(), deps.clock.now())


async def provide_reader(request: Request[Any, Any, Any], deps: Dependencies) -> Reader:
    return await reader_for(_principal(request, deps))


async def provide_viewer(request: Request[Any, Any, Any], deps: Dependencies) -> Reader | None:
    """The reader on a public endpoint: nobody without a token; a token sent must be a valid reader's."""
    if "authorization" not in request.headers:
        return None
    return await provide_reader(request, deps)


async def provide_self(reader: Reader) -> Reader:
    """The card a reader's own endpoints act on."""
    return reader


async def provide_child(reader: Reader, child_id: RowId) -> Reader:
    """The child's card its guardian acts on; anyone else's child is not found."""
    return await get_child(reader, child_id)


async def provide_staff(request: Request[Any, Any, Any], deps: Dependencies) -> StaffUser:
    return await staff_for(_principal(request, deps))


async def provide_enroller(request: Request[Any, Any, Any], deps: Dependencies) -> StaffUser:
    """A partner organisation's enroller (the newborn programme), who is not library staff."""
    return await enroller_for(_principal(request, deps))


async def provide_clerk(request: Request[Any, Any, Any], deps: Dependencies) -> StaffUser:
    """A partner bookstore's clerk (reader-chosen purchases), who is not library staff."""
    return await clerk_for(_principal(request, deps))


STAFF_PROBLEMS = (NotAuthenticated, TokenInvalid, TokenExpired, StaffOnly)
"""What every staff operation can answer before its handler runs (`provide_staff`): list them in its problems."""
READER_PROBLEMS = (NotAuthenticated, TokenInvalid, TokenExpired, ReaderOnly)
"""The same for a reader's operation (`provide_reader`)."""
HOLDER_PROBLEMS = (*READER_PROBLEMS, ChildNotFound)
"""The same for an operation on my card or a child's (`provide_child` answers `child_not_found` for anyone else's)."""
ENROLLER_PROBLEMS = (NotAuthenticated, TokenInvalid, TokenExpired, StaffOnly, EnrollersOnly)
"""The same for a partner enroller's operation (`provide_enroller`)."""
CLERK_PROBLEMS = (NotAuthenticated, TokenInvalid, TokenExpired, StaffOnly, BookstoreClerksOnly)
"""The same for a partner bookstore clerk's operation (`provide_clerk`)."""


DEPENDENCIES = {
    "deps": Provide(provide_deps, sync_to_thread=False),
    "reader": Provide(provide_reader),
    "viewer": Provide(provide_viewer),
    "staff": Provide(provide_staff),
    "enroller": Provide(provide_enroller),
    "clerk": Provide(provide_clerk),
}

# OpenAPI: the bearer scheme every reader and staff endpoint requires.
BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]
# Public endpoints that show a reader's own part when one sends a token.
OPTIONAL_BEARER: list[dict[str, list[str]]] = [{}, {"BearerToken": []}]
