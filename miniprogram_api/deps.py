"""What handlers are given: the wired services' dependencies, and the caller resolved from the bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from redis.asyncio import Redis

from backend.accounts.errors import TokenInvalid
from backend.accounts.models import Reader, StaffUser
from backend.accounts.services import get_child, reader_for
from backend.accounts.staff import LoginLimits, staff_for
from backend.accounts.tokens import Principal, TokenPolicy, decode_access_token
from backend.circulation.credit import CreditCheck
from backend.circulation.holds import HoldPolicy
from backend.clock import Clock
from backend.crypto import Keys
from backend.errors import NotAuthenticated
from backend.eventbus import EventBus
from backend.events.booking import EventPolicy, FullMark
from backend.settings import Settings
from backend.wechat.gateway import WeChatGateway
from miniprogram_api.schemas import RowId
from notifications.models import NoticeKind
from notifications.templates import Template


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    keys: Keys
    tokens: TokenPolicy
    login_limits: LoginLimits
    redis: Redis
    wechat: WeChatGateway
    clock: Clock
    credit_check: CreditCheck
    hold_policy: HoldPolicy
    event_policy: EventPolicy
    events_full: FullMark
    templates: dict[NoticeKind, Template]
    bus: EventBus


def provide_deps(state: State) -> Deps:
    deps: Deps = state.deps
    return deps


def _principal(request: Request[Any, Any, Any], deps: Deps) -> Principal:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not token:
        raise NotAuthenticated()
    if scheme.lower() != "bearer":
        raise TokenInvalid()
    return decode_access_token(deps.tokens, token.strip(), deps.clock.now())


async def provide_reader(request: Request[Any, Any, Any], deps: Deps) -> Reader:
    return await reader_for(_principal(request, deps))


async def provide_self(reader: Reader) -> Reader:
    """The card a reader's own endpoints act on."""
    return reader


async def provide_child(reader: Reader, child_id: RowId) -> Reader:
    """The child's card its guardian acts on; anyone else's child is not found."""
    return await get_child(reader, child_id)


async def provide_staff(request: Request[Any, Any, Any], deps: Deps) -> StaffUser:
    return await staff_for(_principal(request, deps))


DEPENDENCIES = {
    "deps": Provide(provide_deps, sync_to_thread=False),
    "reader": Provide(provide_reader),
    "staff": Provide(provide_staff),
}

# OpenAPI: the bearer scheme every reader and staff endpoint requires.
BEARER: list[dict[str, list[str]]] = [{"BearerToken": []}]
