"""The Litestar application: routes, error mapping, OpenAPI, and the wiring of services' dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect
from redis.asyncio import Redis

from backend import db
from backend.accounts.staff import LoginLimits
from backend.accounts.tokens import TokenPolicy
from backend.circulation.credit import LocalCreditCheck
from backend.circulation.holds import HoldPolicy
from backend.clock import Clock, SystemClock
from backend.crypto import Keys
from backend.events.booking import EventPolicy, FullMark
from backend.settings import Settings
from backend.wechat.gateway import WeChatGateway, WechatpyGateway
from entrypoints.bootstrap import event_bus
from miniprogram_api.accounts.controllers import AuthController, ReaderController
from miniprogram_api.catalog.controllers import RecordController, StaffCatalogueController
from miniprogram_api.circulation.controllers import (
    ChildHoldController,
    ChildLoanController,
    DeskController,
    HoldController,
    LoanController,
    PolicyController,
    StaffReaderController,
)
from miniprogram_api.deps import DEPENDENCIES, Deps
from miniprogram_api.errors import EXCEPTION_HANDLERS
from miniprogram_api.events.controllers import BookingController, EventController, StaffEventController
from miniprogram_api.network.controllers import LibraryController
from miniprogram_api.notifications.controllers import (
    NoticeController,
    NoticeTemplateController,
    StaffMessageController,
)
from miniprogram_api.staff.controllers import StaffAuthController, StaffController
from notifications import templates

_DESCRIPTION = """书香: the reader services of a city library network (一网一卡一平台).

Readers log in with the mini-program's `wx.login` code (`POST /auth/wechat-login`) and send
`Authorization: Bearer <access_token>`; staff log in with a password (`POST /staff/auth/login`).
Every error is `application/problem+json` with a stable `code`; messages are Chinese unless
`Accept-Language: en` is sent.
"""


@get("/health/live", tags=["Service"])
async def live() -> dict[str, str]:
    """Liveness: the process serves requests (touches nothing else)."""
    return {"status": "ok"}


@get("/health", tags=["Service"])
async def health(state: State) -> dict[str, str]:
    """Readiness: the database and Redis answer."""
    deps: Deps = state.deps
    await deps.redis.ping()
    await db.ping()
    return {"status": "ok"}


@get("/", include_in_schema=False)
async def index() -> Redirect:
    return Redirect("/docs")


def create_app(
    settings: Settings | None = None, *, wechat: WeChatGateway | None = None, clock: Clock | None = None
) -> Litestar:
    """Build the app; `settings` default to the environment. `wechat` and `clock` replace the real gateway and
    clock (scripts that already hold one)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await db.init_orm(settings.database_url)
        redis = Redis.from_url(settings.redis_url)
        gateway = wechat or WechatpyGateway(
            appid=settings.wechat_appid,
            secret=settings.wechat_secret,
            api_base=settings.wechat_api_base,
            redis=redis,
            timeout=settings.wechat_timeout_seconds,
        )
        keys = Keys(settings.effective_secret_key)
        app.state.deps = Deps(
            settings=settings,
            keys=keys,
            tokens=TokenPolicy(
                keys,
                timedelta(seconds=settings.access_token_ttl_seconds),
                timedelta(days=settings.refresh_token_ttl_days),
            ),
            login_limits=LoginLimits(settings.staff_login_max_failures, settings.staff_login_lockout_seconds),
            redis=redis,
            wechat=gateway,
            clock=clock or SystemClock(),
            credit_check=LocalCreditCheck(min_score=settings.deposit_free_min_score),
            hold_policy=HoldPolicy(shelf_days=settings.hold_shelf_days, prefer_local=settings.holds_prefer_local),
            event_policy=EventPolicy.of(settings),
            events_full=FullMark(redis),
            templates=templates.load(settings.wechat_templates_path),
            bus=event_bus(),
        )
        try:
            yield
        finally:
            if isinstance(gateway, WechatpyGateway) and wechat is None:
                gateway.close()
            await redis.aclose()
            await db.close_orm()

    return Litestar(
        route_handlers=[
            index,
            live,
            health,
            LibraryController,
            RecordController,
            StaffCatalogueController,
            LoanController,
            HoldController,
            ChildLoanController,
            ChildHoldController,
            DeskController,
            StaffReaderController,
            PolicyController,
            EventController,
            BookingController,
            StaffEventController,
            NoticeController,
            NoticeTemplateController,
            StaffMessageController,
            AuthController,
            ReaderController,
            StaffAuthController,
            StaffController,
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="shuxiang 书香",
            version="0.1.0",
            description=_DESCRIPTION,
            path="/docs",
            render_plugins=[SwaggerRenderPlugin(path="/")],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                }
            ),
        ),
        request_max_body_size=64 * 1024,
    )
