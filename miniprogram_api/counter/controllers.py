"""The counter: staff find a reader by card number, phone or name, and see their loans, holds, credit and
suspensions; administrators read the log of those look-ups."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import Parameter

from backend.accounts.errors import CardNumberInvalid, CardReportedLost, ReaderCardNotFound, RoleTooLow
from backend.accounts.models import StaffUser
from backend.counter import services as counter
from backend.counter.errors import LookupQueryRequired, PhoneInvalid
from backend.ratelimits import RateLimited
from entrypoints.bootstrap import Dependencies
from miniprogram_api.counter.schemas import (
    ReaderLookupOut,
    ReaderLookupPage,
    ReaderSummaryOut,
    ReaderSummaryPage,
    ReaderViewOut,
)
from miniprogram_api.deps import BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import language_of, problems
from miniprogram_api.schemas import CardNumber, Offset, Page, StaffLimit, page_size, text_param

# A search is for finding the reader at the desk, not for working through a list (`StaffLimit`'s 200): each page
# shows people's names and masked phones, so pages stay small and a desk narrows the name instead.
SearchLimit = Annotated[int, page_size(50)]


class CounterController(Controller):
    path = "/staff"
    tags = ["Staff: the counter"]
    security = BEARER

    @get(
        "/readers",
        responses=problems(
            *STAFF_PROBLEMS, LookupQueryRequired, CardNumberInvalid, CardReportedLost, PhoneInvalid, RateLimited
        ),
    )
    async def search(
        self,
        deps: Dependencies,
        staff: StaffUser,
        card_number: Annotated[
            str | None, text_param(40, "A card number, exact (any reader of the network); spaces and dashes allowed")
        ] = None,
        phone: Annotated[str | None, text_param(30, "A phone number, exact (readers of my libraries)")] = None,
        name: Annotated[str | None, text_param(50, "The start of the name (readers of my libraries)")] = None,
        limit: SearchLimit = 20,
        offset: Offset = 0,
    ) -> ReaderSummaryPage:
        """Find readers by exactly one of card number, phone or name. A card number finds any reader of the network
        (one card everywhere), but a reader outside my libraries spends one of my hourly look-ups of such readers
        (429 `rate_limited` past them), and a card reported lost answers `card_reported_lost`; a phone or a name
        finds only readers tied to my libraries (their home library, a loan from one, a hold to collect at one).
        Every search is logged."""
        found, total = await counter.search_readers(
            staff,
            deps.keys,
            deps.rate_limits,
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
        responses=problems(*STAFF_PROBLEMS, CardNumberInvalid, ReaderCardNotFound, CardReportedLost, RateLimited),
    )
    async def view(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, request: Request[Any, Any, Any]
    ) -> ReaderViewOut:
        """One reader as the desk sees them: the profile (phone masked), loans, holds, credit and its ledger,
        suspensions in force with who set them, and a guardian's children. Logged; a reader outside my libraries
        spends one of my hourly look-ups of such readers."""
        view = await counter.reader_view(staff, deps.keys, deps.rate_limits, card_number, deps.clock.now())
        return ReaderViewOut.of(view, deps.keys, language_of(request))

    @get("/reader-lookups", responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def lookups(
        self,
        staff: StaffUser,
        outside_scope: Annotated[
            bool | None,
            Parameter(description="Only look-ups of readers outside the looker's libraries (true), or only the others"),
        ] = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> ReaderLookupPage:
        """Who looked up which readers at my libraries, newest first (library and network administrators); those of
        readers outside the looker's libraries, by card number, are marked `outside_scope`."""
        found, total = await counter.lookup_log(staff, outside_scope=outside_scope, limit=limit, offset=offset)
        return Page.of([ReaderLookupOut.of(seen) for seen in found], total, limit, offset)
