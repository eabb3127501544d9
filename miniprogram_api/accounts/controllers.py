"""Reader endpoints. Every `/readers/me` path acts on the caller only; children are reached through their
guardian, and another reader's child is "not found"."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, patch, post, put
from litestar.openapi.datastructures import ResponseSpec

from backend.accounts import services, tokens
from backend.accounts.errors import (
    ChildCardExists,
    ChildHasLoans,
    ChildNotFound,
    ChildrenLimitReached,
    DateOfBirthRequired,
    GuardianConsentRequired,
    InvalidBirthMonth,
    InvalidDateOfBirth,
    InvalidName,
    PhoneNotBound,
    RefreshTokenInvalid,
)
from backend.accounts.models import Reader
from backend.network.errors import LibraryNotFound
from backend.ratelimits import Kind, RateLimited
from backend.wechat.errors import (
    InvalidLoginCode,
    InvalidPhoneCode,
    WeChatRateLimited,
    WeChatRiskyUser,
    WeChatUnavailable,
)
from entrypoints.bootstrap import Dependencies
from miniprogram_api.accounts.schemas import (
    CardOut,
    ChildIn,
    ChildOut,
    ChildPage,
    ChildPatch,
    PhoneIn,
    PhoneOut,
    ProfileIn,
    ProfileOut,
    RefreshIn,
    TokensOut,
    WeChatLoginIn,
)
from miniprogram_api.deps import BEARER, READER_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.limits import rate_limited
from miniprogram_api.schemas import Offset, Page, ReaderLimit, RowId


async def _profile(deps: Dependencies, reader: Reader) -> ProfileOut:
    await reader.fetch_related("home_library")  # only here: every other request of the reader goes without it
    return ProfileOut(
        id=reader.id,
        card_number=reader.card_number,
        reader_type=reader.reader_type,
        name=reader.name,
        phone=services.masked_phone(deps.keys, reader),
        home_library_code=reader.home_library.code if reader.home_library is not None else None,
        created_at=reader.created_at,
    )


def _png(png: bytes, payload: str) -> Response[bytes]:
    # The payload travels in a header too, so a client showing the image can also show or copy the text.
    return Response(png, media_type="image/png", headers={"X-Card-Payload": payload, "Cache-Control": "no-store"})


_PNG_DOC = {200: ResponseSpec(data_container=bytes, media_type="image/png", description="The card QR code")}


class AuthController(Controller):
    path = "/auth"
    tags = ["Login"]

    @post(
        "/wechat-login",
        status_code=200,
        responses=problems(InvalidLoginCode, WeChatRateLimited, WeChatRiskyUser, WeChatUnavailable, RateLimited),
        guards=[rate_limited(Kind.READER_LOGIN)],
    )
    async def wechat_login(self, deps: Dependencies, data: WeChatLoginIn) -> TokensOut:
        """Log in with the mini-program's `wx.login` code; a first login registers the reader and issues a card."""
        pair = await services.login_with_wechat(
            deps.wechat, deps.keys, deps.tokens, deps.settings.network.card_prefix, data.code, deps.clock.now()
        )
        return TokensOut.of(pair)

    @post("/refresh", status_code=200, responses=problems(RefreshTokenInvalid))
    async def refresh(self, deps: Dependencies, data: RefreshIn) -> TokensOut:
        """Trade a refresh token (readers and staff alike) for a new pair; each refresh token works once."""
        return TokensOut.of(await tokens.refresh_session(deps.tokens, data.refresh_token, deps.clock.now()))

    @post("/logout", status_code=204, responses=problems())
    async def logout(self, deps: Dependencies, data: RefreshIn) -> None:
        """Revoke the refresh token and every token rotated from the same login."""
        await tokens.close_session(data.refresh_token, deps.clock.now())


class ReaderController(Controller):
    path = "/readers/me"
    tags = ["Reader"]
    security = BEARER

    @get("/", responses=problems(*READER_PROBLEMS))
    async def me(self, deps: Dependencies, reader: Reader) -> ProfileOut:
        """The logged-in reader's profile."""
        return await _profile(deps, reader)

    @patch("/", responses=problems(*READER_PROBLEMS, LibraryNotFound, InvalidName))
    async def update_me(self, deps: Dependencies, reader: Reader, data: ProfileIn) -> ProfileOut:
        """Change the reader's name or home library."""
        await services.update_profile(reader, name=data.name, home_library_code=data.home_library_code)
        return await _profile(deps, reader)

    @put("/phone", responses=problems(*READER_PROBLEMS, InvalidPhoneCode, WeChatRateLimited, WeChatUnavailable))
    async def bind_phone(self, deps: Dependencies, reader: Reader, data: PhoneIn) -> PhoneOut:
        """Bind the phone number authorised with the `getPhoneNumber` button; stored encrypted, shown masked."""
        return PhoneOut(await services.bind_phone(deps.wechat, deps.keys, reader, data.code))

    @delete("/phone", status_code=204, responses=problems(*READER_PROBLEMS, PhoneNotBound))
    async def unbind_phone(self, reader: Reader) -> None:
        """Remove the phone number from the account."""
        await services.unbind_phone(reader)

    @get("/card", responses=problems(*READER_PROBLEMS, RateLimited), guards=[rate_limited(Kind.CARD)])
    async def card(self, deps: Dependencies, reader: Reader) -> CardOut:
        """The virtual reader card: a signed payload valid for a minute and its QR code."""
        return CardOut.of(await services.virtual_card(deps.cards, reader, deps.clock.now()))

    @get(
        "/card.png",
        responses={**problems(*READER_PROBLEMS, RateLimited), **_PNG_DOC},
        media_type="image/png",
        guards=[rate_limited(Kind.CARD)],
    )
    async def card_png(self, deps: Dependencies, reader: Reader) -> Response[bytes]:
        """The virtual reader card as a PNG QR code; the payload is in the X-Card-Payload header."""
        card = await services.virtual_card(deps.cards, reader, deps.clock.now())
        return _png(card.qr_png, card.payload)

    @get("/children", responses=problems(*READER_PROBLEMS))
    async def children(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> ChildPage:
        """The children whose cards this reader holds as guardian."""
        found, total = await services.list_children(reader, limit=limit, offset=offset)
        return Page.of([ChildOut.of(child) for child in found], total, limit, offset)

    @post(
        "/children",
        responses=problems(
            *READER_PROBLEMS, GuardianConsentRequired, InvalidBirthMonth, InvalidName, ChildrenLimitReached
        ),
    )
    async def add_child(self, deps: Dependencies, reader: Reader, data: ChildIn) -> ChildOut:
        """Open a child's card held by the caller as guardian; needs the guardian's separate consent."""
        child = await services.add_child(
            reader,
            name=data.name,
            birth_month=data.birth_month,
            guardian_consent=data.guardian_consent,
            card_prefix=deps.settings.network.card_prefix,
            now=deps.clock.now(),
            network_time=deps.network_time,
        )
        return ChildOut.of(child)

    @get("/children/{child_id:int}", responses=problems(*READER_PROBLEMS, ChildNotFound))
    async def child(self, reader: Reader, child_id: RowId) -> ChildOut:
        """One of the caller's children."""
        return ChildOut.of(await services.get_child(reader, child_id))

    @patch(
        "/children/{child_id:int}",
        responses=problems(
            *READER_PROBLEMS,
            ChildNotFound,
            InvalidName,
            InvalidBirthMonth,
            InvalidDateOfBirth,
            DateOfBirthRequired,
            ChildCardExists,
        ),
    )
    async def correct_child(self, deps: Dependencies, reader: Reader, child_id: RowId, data: ChildPatch) -> ChildOut:
        """Correct a child's name, birth month or date of birth."""
        child = await services.correct_child(
            reader,
            child_id,
            name=data.name,
            birth_month=data.birth_month,
            born=data.date_of_birth,
            now=deps.clock.now(),
            network_time=deps.network_time,
        )
        return ChildOut.of(child)

    @delete(
        "/children/{child_id:int}", status_code=204, responses=problems(*READER_PROBLEMS, ChildNotFound, ChildHasLoans)
    )
    async def remove_child(self, deps: Dependencies, reader: Reader, child_id: RowId) -> None:
        """Close a child's card and delete the child's personal data."""
        await services.remove_child(reader, child_id, deps.clock.now(), deps.bus)

    @get(
        "/children/{child_id:int}/card",
        responses=problems(*READER_PROBLEMS, ChildNotFound, RateLimited),
        guards=[rate_limited(Kind.CARD)],
    )
    async def child_card(self, deps: Dependencies, reader: Reader, child_id: RowId) -> CardOut:
        """A child's virtual card, shown by the guardian."""
        child = await services.get_child(reader, child_id)
        return CardOut.of(await services.virtual_card(deps.cards, child, deps.clock.now()))
