"""The counter: staff find a reader by card number, phone or name, and see their loans, holds, credit and
suspensions; administrators read the log of those look-ups."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get

from backend.accounts.errors import (
    CardNumberInvalid,
    CardReportedLost,
    ReaderCardNotFound,
    RoleTooLow,
    StaffOnly,
    TokenExpired,
    TokenInvalid,
)
from backend.accounts.models import StaffUser
from backend.counter import services as counter
from backend.counter.errors import LookupQueryRequired, PhoneInvalid
from backend.errors import NotAuthenticated
from entrypoints.bootstrap import Dependencies
from miniprogram_api.counter.schemas import (
    ReaderLookupOut,
    ReaderLookupPage,
    ReaderSummaryOut,
    ReaderSummaryPage,
    ReaderViewOut,
)
from miniprogram_api.deps import BEARER
from miniprogram_api.errors import language_of, problems
from miniprogram_api.schemas import Offset, Page, StaffLimit, page_size, text_param
from miniprogram_api.staff.schemas import CardNumber

_STAFF = (NotAuthenticated, TokenInvalid, TokenExpired, StaffOnly)


class CounterController(Controller):
    path = "/staff"
    tags = ["Staff: the counter"]
    security = BEARER

    @get("/readers", responses=problems(*_STAFF, LookupQueryRequired, CardNumberInvalid, PhoneInvalid))
    async def search(
        self,
        deps: Dependencies,
        staff: StaffUser,
        card_number: Annotated[
            str | None, text_param(40, "A card number, exact (any reader of the network); spaces and dashes allowed")
        ] = None,
        phone: Annotated[str | None, text_param(30, "A phone number, exact (readers of my libraries)")] = None,
        name: Annotated[str | None, text_param(50, "The start of the name (readers of my libraries)")] = None,
        limit: Annotated[int, page_size(50)] = 20,
        offset: Offset = 0,
    ) -> ReaderSummaryPage:
        """Find readers by exactly one of card number, phone or name. A card number finds any reader of the network
        (one card everywhere); a phone or a name only readers tied to my libraries (their home library, a loan from
        one, a hold to collect at one). Every search is logged."""
        found, total = await counter.search_readers(
            staff,
            deps.keys,
            deps.clock.now(),
            card_number=card_number,
            phone=phone,
            name=name,
            limit=limit,
            offset=offset,
        )
        return Page.of([ReaderSummaryOut.of(reader, deps.keys) for reader in found], total, limit, offset)

    @get(
        "/readers/{card_number:str}",
        responses=problems(*_STAFF, CardNumberInvalid, ReaderCardNotFound, CardReportedLost),
    )
    async def view(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, request: Request[Any, Any, Any]
    ) -> ReaderViewOut:
        """One reader as the desk sees them: the profile (phone masked), loans, holds, credit and its ledger,
        suspensions in force with who set them, and a guardian's children. Logged."""
        view = await counter.reader_view(staff, deps.keys, card_number, deps.clock.now())
        return ReaderViewOut.of(view, deps.keys, language_of(request))

    @get("/reader-lookups", responses=problems(*_STAFF, RoleTooLow))
    async def lookups(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> ReaderLookupPage:
        """Who looked up which readers at my libraries, newest first (library and network administrators)."""
        found, total = await counter.lookup_log(staff, limit=limit, offset=offset)
        return Page.of([ReaderLookupOut.of(seen) for seen in found], total, limit, offset)
