"""The Litestar application: routes, error mapping and OpenAPI; its lifespan runs the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect

from backend import db
from backend.clock import Clock
from backend.settings import Settings
from backend.wechat.gateway import WeChatGateway
from entrypoints.bootstrap import Dependencies, bootstrap
from miniprogram_api.accounts.controllers import AuthController, ReaderController
from miniprogram_api.accounts.lost_cards import ChildLostCardController, LostCardController, StaffLostCardController
from miniprogram_api.booklists.controllers import BooklistController, StaffBooklistController
from miniprogram_api.catalog.controllers import RecordController, StaffCatalogueController
from miniprogram_api.catalog.imports import import_routes
from miniprogram_api.circulation.controllers import (
    ChildHoldController,
    ChildLoanController,
    DeskController,
    HoldController,
    LoanController,
    PolicyController,
    StaffReaderController,
)
from miniprogram_api.counter.controllers import CounterController
from miniprogram_api.delivery.controllers import CONTROLLERS as DELIVERY_CONTROLLERS
from miniprogram_api.deps import DEPENDENCIES
from miniprogram_api.docs import assets, swagger_page
from miniprogram_api.errors import EXCEPTION_HANDLERS, DocumentedRetryAfter, problems
from miniprogram_api.events.controllers import BookingController, EventController, StaffEventController
from miniprogram_api.money.controllers import MoneyController, StaffMoneyController
from miniprogram_api.network.controllers import LibraryController
from miniprogram_api.newborn.controllers import (
    EnrollerController,
    GuardianNewbornController,
    NewbornController,
    StaffNewbornController,
)
from miniprogram_api.newborn.packs import GuardianPackController, StaffPackController
from miniprogram_api.newborn.reading import ChildReadingController, StaffFiguresController
from miniprogram_api.notifications.controllers import (
    NoticeController,
    NoticeTemplateController,
    StaffMessageController,
)
from miniprogram_api.observability import RequestObserver, metrics
from miniprogram_api.openapi import DocstringSummaries
from miniprogram_api.payments.controllers import (
    PaymentController,
    StaffReconciliationController,
    WeChatPayNoticeController,
)
from miniprogram_api.purchases.controllers import (
    ClerkController,
    PurchaseController,
    ReaderPurchaseController,
    StaffPurchaseController,
)
from miniprogram_api.purchases.requests import CONTROLLERS as PURCHASE_REQUEST_CONTROLLERS
from miniprogram_api.query import DeclaredQueryOnly
from miniprogram_api.recommendations.controllers import (
    AlsoBorrowedController,
    ChildRecommendationController,
    RecommendationController,
)
from miniprogram_api.requests import ApiRequest
from miniprogram_api.schemas import TYPE_DECODERS, BoundedDatesSchema
from miniprogram_api.shipping.controllers import CONTROLLERS as SHIPPING_CONTROLLERS
from miniprogram_api.staff.controllers import StaffAuthController, StaffController

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


@get(["/ready", "/health"], tags=["Service"], responses=problems())
async def ready(state: State) -> dict[str, str]:
    """Readiness: the database and Redis answer (503 `service_unavailable` while either does not). `/health` is
    the same check under its older name."""
    deps: Dependencies = state.deps
    await deps.redis.ping()
    await db.ping()
    return {"status": "ok"}


@get("/", include_in_schema=False)
async def index() -> Redirect:
    return Redirect("/docs")


def create_app(
    settings: Settings | None = None, *, wechat: WeChatGateway | None = None, clock: Clock | None = None
) -> Litestar:
    """Build the app; `settings` default to the environment. Its lifespan builds what handlers are given with the
    composition root; `wechat` and `clock` replace the real gateway and clock (tests, scripts that hold one)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with await bootstrap(settings, wechat=wechat, clock=clock) as deps:
            app.state.deps = deps
            yield

    app = Litestar(
        route_handlers=[
            index,
            live,
            ready,
            metrics,
            LibraryController,
            RecordController,
            StaffCatalogueController,
            import_routes(settings.imports),
            LoanController,
            HoldController,
            ChildLoanController,
            ChildHoldController,
            DeskController,
            StaffReaderController,
            CounterController,
            PolicyController,
            MoneyController,
            StaffMoneyController,
            PaymentController,
            WeChatPayNoticeController,
            StaffReconciliationController,
            EventController,
            BookingController,
            StaffEventController,
            NoticeController,
            NoticeTemplateController,
            StaffMessageController,
            BooklistController,
            StaffBooklistController,
            RecommendationController,
            ChildRecommendationController,
            AlsoBorrowedController,
            NewbornController,
            GuardianNewbornController,
            StaffNewbornController,
            EnrollerController,
            GuardianPackController,
            StaffPackController,
            ChildReadingController,
            StaffFiguresController,
            PurchaseController,
            ReaderPurchaseController,
            ClerkController,
            StaffPurchaseController,
            *PURCHASE_REQUEST_CONTROLLERS,
            *DELIVERY_CONTROLLERS,
            *SHIPPING_CONTROLLERS,
            AuthController,
            ReaderController,
            LostCardController,
            ChildLostCardController,
            StaffLostCardController,
            StaffAuthController,
            StaffController,
            assets(),
        ],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="shuxiang 书香",
            version="0.1.0",
            description=_DESCRIPTION,
            path="/docs",
            use_handler_docstrings=True,
            render_plugins=[swagger_page()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                }
            ),
        ),
        request_max_body_size=64 * 1024,
        request_class=ApiRequest,
        logging_config=None,  # the process configured logging (entrypoints/logs.py): Litestar's would replace it
        middleware=[DeclaredQueryOnly()],
        type_decoders=TYPE_DECODERS,
        plugins=[BoundedDatesSchema(), DocstringSummaries(), DocumentedRetryAfter()],
    )
    # Around the router too, so a request no route takes (a 404, a 405) gets its id, its log line and its count.
    app.asgi_handler = RequestObserver(app.asgi_handler)
    return app
