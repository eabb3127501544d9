"""Staff endpoints. Each checks the caller's role, and acts only on libraries inside the caller's sub-tree."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, patch, post
from litestar.openapi.datastructures import ResponseSpec

from backend.accounts import staff as staff_service
from backend.accounts.errors import (
    CannotDeactivateSelf,
    CardNumberInvalid,
    CardPayloadExpired,
    CardPayloadInvalid,
    CardPayloadReplayed,
    CardReportedLost,
    EnrollerNeedsPartner,
    LoginFailed,
    LoginLocked,
    NetworkAdminOutsideCentral,
    ReaderCardNotFound,
    ReaderCardRequired,
    RoleTooLow,
    StaffNotFound,
    UsernameTaken,
    WeakPassword,
)
from backend.accounts.models import StaffUser
from backend.counter import services as counter
from backend.network import services as network
from backend.network.errors import (
    InvalidOpeningHours,
    InvalidParent,
    LibraryCodeTaken,
    LibraryNotFound,
    OutsideScope,
    UnknownTimezone,
)
from backend.ratelimits import Kind, RateLimited
from backend.wechat.errors import WeChatRateLimited, WeChatUnavailable
from entrypoints.bootstrap import Dependencies
from miniprogram_api.accounts.schemas import TokensOut
from miniprogram_api.deps import BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.limits import rate_limited
from miniprogram_api.network.schemas import CODE_PATTERN, LibraryCodeParam, LibraryOut
from miniprogram_api.schemas import Offset, Page, RowId, StaffLimit, matching_param
from miniprogram_api.staff.schemas import (
    CardScanIn,
    LibraryIn,
    LibraryPatch,
    ScannedReaderOut,
    StaffIn,
    StaffLoginIn,
    StaffOut,
    StaffPage,
)

_ADMIN = (*STAFF_PROBLEMS, RoleTooLow, OutsideScope)


class StaffAuthController(Controller):
    path = "/staff/auth"
    tags = ["Staff"]

    @post(
        "/login",
        status_code=200,
        responses=problems(LoginFailed, LoginLocked, RateLimited),
        guards=[rate_limited(Kind.STAFF_LOGIN)],
    )
    async def login(self, deps: Dependencies, data: StaffLoginIn) -> TokensOut:
        """Staff password login; repeated failures lock the username for a while."""
        pair = await staff_service.staff_login(
            deps.redis, deps.tokens, deps.login_limits, data.username, data.password, deps.clock.now()
        )
        return TokensOut.of(pair)


class StaffController(Controller):
    path = "/staff"
    tags = ["Staff"]
    security = BEARER

    @get("/me", responses=problems(*STAFF_PROBLEMS))
    async def me(self, staff: StaffUser) -> StaffOut:
        """The logged-in staff member, their role and library."""
        return StaffOut.of(staff)

    @post(
        "/cards/verify",
        status_code=200,
        responses=problems(
            *STAFF_PROBLEMS,
            CardPayloadInvalid,
            CardPayloadExpired,
            CardPayloadReplayed,
            ReaderCardRequired,
            CardNumberInvalid,
            ReaderCardNotFound,
            CardReportedLost,
            RateLimited,
        ),
    )
    async def verify_card(self, deps: Dependencies, staff: StaffUser, data: CardScanIn) -> ScannedReaderOut:
        """Whose card is at the desk: a scanned virtual card (forged, expired or already used codes are refused) or a
        physical card's number, scanned or typed (logged as a look-up of the reader; one outside my libraries spends
        one of my hourly look-ups of such readers)."""
        reader = await counter.identify(
            staff,
            deps.keys,
            deps.rate_limits,
            deps.cards,
            deps.clock.now(),
            payload=data.payload,
            card_number=data.card_number,
        )
        return ScannedReaderOut.of(reader)

    @get("/staff-users", responses=problems(*_ADMIN, LibraryNotFound))
    async def list_staff(
        self,
        staff: StaffUser,
        library: Annotated[str | None, matching_param(CODE_PATTERN)] = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> StaffPage:
        """Staff of the caller's libraries (or of one library's sub-tree inside them), in the order they were added."""
        found, total = await staff_service.list_staff(staff, library, limit=limit, offset=offset)
        return Page.of([StaffOut.of(s) for s in found], total, limit, offset)

    @post(
        "/staff-users",
        responses=problems(
            *_ADMIN, LibraryNotFound, UsernameTaken, WeakPassword, NetworkAdminOutsideCentral, EnrollerNeedsPartner
        ),
    )
    async def create_staff(self, staff: StaffUser, data: StaffIn) -> StaffOut:
        """Add a staff account to a library in the caller's scope; its role is no higher than the caller's."""
        created = await staff_service.create_staff(
            staff,
            username=data.username,
            password=data.password,
            display_name=data.display_name,
            role=data.role,
            library_code=data.library_code,
        )
        return StaffOut.of(created)

    @post(
        "/staff-users/{staff_id:int}/deactivate",
        status_code=200,
        responses=problems(*_ADMIN, StaffNotFound, CannotDeactivateSelf),
    )
    async def deactivate_staff(self, deps: Dependencies, staff: StaffUser, staff_id: RowId) -> StaffOut:
        """Disable a staff account in the caller's scope and end its sessions."""
        return StaffOut.of(await staff_service.deactivate_staff(staff, staff_id, deps.clock.now()))

    @post(
        "/libraries",
        responses=problems(
            *_ADMIN, LibraryNotFound, InvalidParent, LibraryCodeTaken, InvalidOpeningHours, UnknownTimezone
        ),
    )
    async def create_library(self, deps: Dependencies, staff: StaffUser, data: LibraryIn) -> LibraryOut:
        """Add a library to the network: a library, service point, 24-hour library or swap cabinet under a library in
        the caller's scope."""
        library = await network.create_library(
            network.LibraryDraft(
                code=data.code,
                name=data.name,
                level=data.level,
                parent_code=data.parent_code,
                latitude=data.latitude,
                longitude=data.longitude,
                address=data.address,
                phone=data.phone,
                timezone=data.timezone,
                opening_hours=data.opening_hours,
                services=data.services,
            ),
            scope_path=staff_service.managed_scope(staff),
        )
        return LibraryOut.of(library, deps.clock.now())

    @patch("/libraries/{code:str}", responses=problems(*_ADMIN, LibraryNotFound, InvalidOpeningHours))
    async def update_library(
        self, deps: Dependencies, staff: StaffUser, code: LibraryCodeParam, data: LibraryPatch
    ) -> LibraryOut:
        """Change a library's place, hours, services, or take it out of service."""
        library = await network.update_library(
            code,
            network.LibraryChanges(
                name=data.name,
                address=data.address,
                phone=data.phone,
                latitude=data.latitude,
                longitude=data.longitude,
                opening_hours=data.opening_hours,
                services=data.services,
                active=data.active,
            ),
            scope_path=staff_service.managed_scope(staff),
        )
        return LibraryOut.of(library, deps.clock.now())

    @get(
        "/libraries/{code:str}/mini-program-code",
        media_type="image/png",
        responses={
            **problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope, WeChatRateLimited, WeChatUnavailable),
            200: ResponseSpec(data_container=bytes, media_type="image/png", description="The mini-program code"),
        },
    )
    async def mini_program_code(self, deps: Dependencies, staff: StaffUser, code: LibraryCodeParam) -> Response[bytes]:
        """A printable mini-program code for the door of a library, 24-hour library or swap cabinet: scanning it
        opens that library's page in the mini-program."""
        png = await network.library_mini_program_code(
            deps.wechat, code, page=deps.settings.wechat.library_page, scope_path=staff.library.path
        )
        return Response(png, media_type="image/png")
