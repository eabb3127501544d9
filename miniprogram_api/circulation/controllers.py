"""Borrowing on credit: the reader's loans, renewals, credit and reading history; checkout and return at desks."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter

from backend.accounts import services as accounts
from backend.accounts.errors import (
    CardPayloadExpired,
    CardPayloadInvalid,
    CardPayloadReplayed,
    ReaderOnly,
    StaffOnly,
    TokenExpired,
    TokenInvalid,
)
from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import CopyNotFound
from backend.circulation import services
from backend.circulation.errors import (
    CopyNotAvailable,
    CopyNotHere,
    CopyNotInTransit,
    CopyNotOnLoan,
    CounterOnly,
    CreditTooLow,
    LoanLimitReached,
    LoanNotFound,
    NoSelfService,
    NotLending,
    OverdueItemsBlock,
    OverdueNotRenewable,
    ReaderSuspended,
    RenewalsUsedUp,
)
from backend.errors import NotAuthenticated
from backend.network.errors import LibraryNotFound
from backend.network.services import get_library
from miniprogram_api.circulation.schemas import (
    BarcodeIn,
    CheckInOut,
    CreditOut,
    DeskCheckoutIn,
    DeskLoanOut,
    HistoryItemOut,
    LoanOut,
    ReadingHistoryIn,
    ReceivedOut,
    SelfCheckoutIn,
)
from miniprogram_api.deps import BEARER, Deps
from miniprogram_api.errors import language_of, problems
from miniprogram_api.schemas import RowId

_READER = (NotAuthenticated, TokenInvalid, TokenExpired, ReaderOnly)
_STAFF = (NotAuthenticated, TokenInvalid, TokenExpired, StaffOnly)
# Every reason a checkout is refused, each with its own code.
_REFUSALS = (
    CopyNotFound,
    CopyNotHere,
    CopyNotAvailable,
    NotLending,
    ReaderSuspended,
    CreditTooLow,
    OverdueItemsBlock,
    LoanLimitReached,
)


async def _loan_out(loan_id: int, reader: Reader, deps: Deps, request: Request[Any, Any, Any]) -> LoanOut:
    now = deps.clock.now()
    loan = next(loan for loan in await services.open_loans(reader.id) if loan.id == loan_id)
    standing = await services.standing(reader.id, now)
    return LoanOut.of(loan, standing.tier, now, language_of(request))


class LoanController(Controller):
    path = "/readers/me"
    tags = ["Borrowing"]
    security = BEARER

    @get("/loans", responses=problems(*_READER))
    async def loans(self, deps: Deps, reader: Reader, request: Request[Any, Any, Any]) -> list[LoanOut]:
        """What I have on loan: due dates, days overdue, and whether each can be renewed (and if not, why)."""
        now = deps.clock.now()
        standing = await services.standing(reader.id, now)
        language = language_of(request)
        return [LoanOut.of(loan, standing.tier, now, language) for loan in await services.open_loans(reader.id)]

    @post(
        "/loans/self-checkout",
        responses=problems(*_READER, LibraryNotFound, NoSelfService, CounterOnly, *_REFUSALS),
    )
    async def self_checkout(
        self, deps: Deps, reader: Reader, data: SelfCheckoutIn, request: Request[Any, Any, Any]
    ) -> LoanOut:
        """Borrow a book alone at a self-service library by scanning its barcode in the app."""
        library = await get_library(data.library_code)
        loan = await services.checkout(reader, data.barcode, now=deps.clock.now(), library=library)
        return await _loan_out(loan.id, reader, deps, request)

    @post("/loans/{loan_id:int}/renew", responses=problems(*_READER, LoanNotFound, OverdueNotRenewable, RenewalsUsedUp))
    async def renew(self, deps: Deps, reader: Reader, loan_id: RowId, request: Request[Any, Any, Any]) -> LoanOut:
        """Keep a book longer, when the loan rule and my credit tier allow another renewal."""
        await services.renew(reader, loan_id, deps.clock.now())
        return await _loan_out(loan_id, reader, deps, request)

    @get("/credit", responses=problems(*_READER))
    async def credit(self, deps: Deps, reader: Reader) -> CreditOut:
        """My credit score, what my tier lets me do, and the ledger that explains the score."""
        standing = await services.standing(reader.id, deps.clock.now())
        return CreditOut.of(standing, await services.credit_ledger(reader.id))

    @get("/reading-history", responses=problems(*_READER))
    async def reading_history(
        self,
        reader: Reader,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> list[HistoryItemOut]:
        """Books I returned, newest first: kept only while I have asked for a reading history."""
        loans = await services.reading_history(reader, limit=limit, offset=offset)
        return [HistoryItemOut.of(loan) for loan in loans]

    @put("/reading-history", status_code=204, responses=problems(*_READER))
    async def keep_reading_history(self, reader: Reader, data: ReadingHistoryIn) -> None:
        """Keep a reading history from now on, or stop keeping one (which also deletes it)."""
        await services.set_reading_history(reader, data.keep)

    @delete("/reading-history", status_code=204, responses=problems(*_READER))
    async def delete_reading_history(self, reader: Reader) -> None:
        """Delete the reading history kept so far (the setting stays as it is)."""
        await services.forget_reading_history(reader)


class DeskController(Controller):
    path = "/staff"
    tags = ["Staff: circulation"]
    security = BEARER

    @post(
        "/checkouts",
        responses=problems(
            *_STAFF, CardPayloadInvalid, CardPayloadExpired, CardPayloadReplayed, CounterOnly, *_REFUSALS
        ),
    )
    async def checkout(self, deps: Deps, staff: StaffUser, data: DeskCheckoutIn) -> DeskLoanOut:
        """Lend a copy of one of my libraries to the reader whose card was scanned."""
        now = deps.clock.now()
        reader = await accounts.identify_card(
            deps.keys, deps.redis, data.card_payload, now, deps.settings.card_payload_ttl_seconds
        )
        loan = await services.checkout(reader, data.barcode, now=now, staff=staff)
        await loan.fetch_related("copy__record")
        return DeskLoanOut(loan.id, data.barcode, loan.copy.record.title, reader.card_number, loan.due_at)

    @post("/checkins", status_code=200, responses=problems(*_STAFF, CopyNotFound, CopyNotOnLoan, NotLending))
    async def check_in(self, deps: Deps, staff: StaffUser, data: BarcodeIn) -> CheckInOut:
        """Take a copy back, whichever library lent it (通借通还): shelve it here, or send it where it is told."""
        return CheckInOut.of(await services.check_in(data.barcode, staff=staff, now=deps.clock.now()))

    @post("/transits/receive", status_code=200, responses=problems(*_STAFF, CopyNotFound, CopyNotInTransit))
    async def receive(self, staff: StaffUser, data: BarcodeIn) -> ReceivedOut:
        """A copy in transit has arrived here: it goes on this library's shelf."""
        copy = await services.receive(data.barcode, staff=staff)
        return ReceivedOut.of(copy, staff.library.code)
