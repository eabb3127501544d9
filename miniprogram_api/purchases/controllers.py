"""Reader-chosen purchases (你选书我买单): readers search partner shops and check a book for themselves; a shop's
clerks check a reader's card and book, approve (the book is lent on the spot), load their stock and see their sales;
library administrators set partner shops, rules and budgets up, read the figures, settle each shop's month, and
librarians process the bought copies once they come back."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter

from backend.accounts.errors import (
    CardNumberInvalid,
    CardPayloadExpired,
    CardPayloadInvalid,
    CardPayloadReplayed,
    CardReportedLost,
    ReaderCardNotFound,
    ReaderCardRequired,
    RoleTooLow,
    UsernameTaken,
    WeakPassword,
)
from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import CopyNotFound, InvalidIsbn
from backend.catalog.isbn import normalise_isbn
from backend.circulation.errors import CheckoutRefused
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.network.models import Library
from backend.network.services import get_library
from backend.purchases import budgets, policy, purchases, shops
from backend.purchases.checks import check_isbn, month_of
from backend.purchases.errors import (
    BookstoreNameTaken,
    BookstoreNotFound,
    BudgetInvalid,
    BudgetMonthsOverYear,
    CopyNotInProcessing,
    DiscountInvalid,
    ItemTypesUnknown,
    MonthInvalid,
    MonthNotOver,
    NotInStock,
    NotMainLibrary,
    NotThisBookstore,
    PurchaseNotFound,
    PurchaseNotReserved,
    PurchaseRefused,
    RulesInvalid,
    StatementExists,
    StockFileInvalid,
)
from backend.purchases.models import Budget
from backend.purchases.purchases import ReaderCard
from backend.purchases.shops import MAX_STOCK_BYTES
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, CLERK_PROBLEMS, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import language_of, problems
from miniprogram_api.network.schemas import LibraryCodeParam
from miniprogram_api.purchases.schemas import (
    BarcodeIn,
    BookstoreOut,
    BookstorePage,
    BookstoreUpdate,
    BudgetIn,
    BudgetOut,
    CardIsbnIn,
    ClerkIn,
    FiguresOut,
    IsbnCheckOut,
    IsbnOffersOut,
    NewBookstoreIn,
    PartnerOffersOut,
    ProcessedOut,
    PurchaseOut,
    PurchasePage,
    QueuedCopyOut,
    QueuePage,
    RulesIn,
    RulesOut,
    SaleOut,
    SalePage,
    SettleIn,
    StatementLineOut,
    StatementLinePage,
    StatementOut,
    StockFormat,
    StockImportOut,
    StockItemOut,
    StockPage,
)
from miniprogram_api.schemas import Offset, Page, ReaderLimit, RowId, StaffLimit, text_param
from miniprogram_api.staff.schemas import StaffOut

IsbnParam = Annotated[str, text_param(20, "An ISBN-10 or ISBN-13, with or without hyphens")]
IsbnsParam = Annotated[str, text_param(300, "Up to 20 ISBNs, comma-separated")]
YearParam = Annotated[int, Parameter(ge=2000, le=2100)]
MonthParam = Annotated[int, Parameter(ge=1, le=12)]
MAX_OFFER_ISBNS = 20
_CARD = (
    CardPayloadInvalid,
    CardPayloadExpired,
    CardPayloadReplayed,
    ReaderCardRequired,
    CardNumberInvalid,
    ReaderCardNotFound,
    CardReportedLost,
)
_CLERK = (*CLERK_PROBLEMS, NotThisBookstore, BookstoreNotFound)
_ADMIN = (*STAFF_PROBLEMS, RoleTooLow)
_MAIN = (*_ADMIN, LibraryNotFound, OutsideScope, NotMainLibrary)
_SHOP = (*_ADMIN, BookstoreNotFound)
_STOCK = (StockFileInvalid,)
_CHECK = (InvalidIsbn, NotInStock)


async def _stock_upload(
    deps: Dependencies, staff: StaffUser, bookstore_id: int, request: Request[Any, Any, Any], format: StockFormat
) -> StockImportOut:
    body = await request.body()
    now = deps.clock.now()
    done = await shops.import_stock(
        staff, bookstore_id, body, format, now, this_year=deps.purchase_policy.network_time.day(now).year
    )
    return StockImportOut.of(done)


class PurchaseController(Controller):
    path = "/purchases"
    tags = ["Reader-chosen purchases"]

    @get("/bookstores", responses=problems(LibraryNotFound))
    async def bookstores(
        self,
        library_code: Annotated[LibraryCodeParam | None, Parameter(description="Shops of this main library")] = None,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> BookstorePage:
        """The partner bookstores where the library buys the new book a reader picks: those of a main library, or
        all of them, by name. No login needed."""
        library: Library | None = None if library_code is None else await get_library(library_code)
        found, total = await shops.open_bookstores(library, limit=limit, offset=offset)
        return Page.of([BookstoreOut.of(shop) for shop in found], total, limit, offset)

    @get("/bookstores/{bookstore_id:int}/stock", responses=problems(BookstoreNotFound, InvalidIsbn))
    async def stock(
        self,
        bookstore_id: RowId,
        q: Annotated[str, text_param(100, "An ISBN, or words of a title or an author")] = "",
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> StockPage:
        """A partner bookstore's titles in stock, by title: an ISBN finds that book, other words search titles and
        authors. No login needed."""
        found, total = await shops.search_stock(bookstore_id, q, limit=limit, offset=offset)
        return Page.of([StockItemOut.of(item) for item in found], total, limit, offset)

    @get("/partner-offers", responses=problems(InvalidIsbn))
    async def partner_offers(self, isbns: IsbnsParam) -> PartnerOffersOut:
        """For titles the catalogue search finds the network lacks: which partner bookstores have each ISBN in stock
        and at what list price ("not in the library yet: at partner X, ¥price"). No login needed."""
        wanted = list(dict.fromkeys(normalise_isbn(part) for part in isbns.split(",") if part.strip()))
        if not 1 <= len(wanted) <= MAX_OFFER_ISBNS:
            raise InvalidIsbn(reason=f"give 1 to {MAX_OFFER_ISBNS} ISBNs")
        offers = await shops.partner_offers(wanted)
        return PartnerOffersOut([IsbnOffersOut.of(isbn13, offers.get(isbn13, [])) for isbn13 in wanted])


class ReaderPurchaseController(Controller):
    path = "/readers/me/purchases"
    tags = ["Reader-chosen purchases"]
    security = BEARER

    @get("/check", responses=problems(*READER_PROBLEMS, BookstoreNotFound, *_CHECK))
    async def check(
        self, deps: Dependencies, reader: Reader, request: Request[Any, Any, Any], bookstore_id: RowId, isbn: IsbnParam
    ) -> IsbnCheckOut:
        """In the shop, before going to the counter: would the library buy this book for me now? Every reason it
        would not, each with its code, and where I could borrow it instead when the network holds it."""
        found = await check_isbn(
            reader,
            bookstore_id,
            isbn,
            now=deps.clock.now(),
            policy=deps.purchase_policy,
            credit_check=deps.credit_check,
        )
        return IsbnCheckOut.of(found, language_of(request))

    @get("/", responses=problems(*READER_PROBLEMS))
    async def mine(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> PurchasePage:
        """The books the library bought for me, newest first, with their loans (returned or not)."""
        found, total = await purchases.readers_purchases(reader, limit=limit, offset=offset)
        return Page.of([PurchaseOut.of(p) for p in found], total, limit, offset)


class ClerkController(Controller):
    path = "/bookstore"
    tags = ["Partner bookstore clerks"]
    security = BEARER

    @get("/", responses=problems(*_CLERK))
    async def bookstore(self, clerk: StaffUser) -> BookstoreOut:
        """The bookstore I serve readers for."""
        return BookstoreOut.of(await shops.clerks_bookstore(clerk))

    @post("/checks", status_code=200, responses=problems(*_CLERK, *_CARD, *_CHECK))
    async def check(
        self, deps: Dependencies, clerk: StaffUser, request: Request[Any, Any, Any], data: CardIsbnIn
    ) -> IsbnCheckOut:
        """Check the book a reader brought to the counter, their card scanned (the phone's card code or a physical
        card's number): every reason the library would not buy it for them now."""
        bookstore = await shops.clerks_bookstore(clerk)
        now = deps.clock.now()
        card = ReaderCard(payload=data.card_payload, card_number=data.card_number)
        found = await check_isbn(
            await card.reader(deps.cards, now),
            bookstore.id,
            data.isbn,
            now=now,
            policy=deps.purchase_policy,
            credit_check=deps.credit_check,
        )
        return IsbnCheckOut.of(found, language_of(request))

    @post("/purchases", responses=problems(*_CLERK, *_CARD, *_CHECK, PurchaseRefused, CheckoutRefused))
    async def approve(self, deps: Dependencies, clerk: StaffUser, data: CardIsbnIn) -> PurchaseOut:
        """Approve: the library buys the book for the reader and lends it to them now (hand it over). Refused with
        every reason that applies (`purchase_refused`, its `reasons` listed); a phone's card code is used once."""
        bought = await purchases.approve(
            clerk,
            ReaderCard(payload=data.card_payload, card_number=data.card_number),
            data.isbn,
            card_passes=deps.cards,
            now=deps.clock.now(),
            bus=deps.bus,
            policy=deps.purchase_policy,
            credit_check=deps.credit_check,
        )
        return PurchaseOut.of(bought)

    @post("/stock", status_code=200, request_max_body_size=MAX_STOCK_BYTES, responses=problems(*_CLERK, *_STOCK))
    async def upload_stock(
        self, deps: Dependencies, clerk: StaffUser, request: Request[Any, Any, Any], format: StockFormat
    ) -> StockImportOut:
        """Load my shop's stock feed, the request body being the file (`format=csv`: header isbn, title, authors,
        publisher, year, price or list_price_fen, quantity, clc_class[, item_type]; `format=json`: a list of objects
        with the same keys), at most 10 MB and 50,000 rows. Good rows are written, the rest reported with their line
        and why; loading the same file again changes nothing."""
        bookstore = await shops.clerks_bookstore(clerk)
        return await _stock_upload(deps, clerk, bookstore.id, request, format)

    @get("/sales", responses=problems(*_CLERK))
    async def sales(
        self,
        deps: Dependencies,
        clerk: StaffUser,
        year: YearParam | None = None,
        month: MonthParam | None = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> SalePage:
        """My shop's sales to the library in a month (this month unless given), in the order sold."""
        bookstore = await shops.clerks_bookstore(clerk)
        this = month_of(deps.clock.now(), deps.purchase_policy)
        found, total = await purchases.bookstore_sales(
            bookstore, year or this.year, month or this.month, limit=limit, offset=offset
        )
        return Page.of([SaleOut.of(p) for p in found], total, limit, offset)


def _budget_out(code: str, budget: Budget) -> BudgetOut:
    return BudgetOut(code, budget.year, budget.month, budget.total_fen, budget.reserved_fen, budget.spent_fen)


class StaffPurchaseController(Controller):
    path = "/staff/purchases"
    tags = ["Staff: reader-chosen purchases"]
    security = BEARER

    @post("/bookstores", responses=problems(*_MAIN, DiscountInvalid, BookstoreNameTaken))
    async def create_bookstore(self, deps: Dependencies, staff: StaffUser, data: NewBookstoreIn) -> BookstoreOut:
        """Add a partner bookstore of a main library in my authority (administrators), at its discount."""
        made = await shops.create_bookstore(staff, data.library_code, data.draft(), deps.clock.now())
        return BookstoreOut.of(await shops.managed_bookstore(staff, made.id))

    @put("/bookstores/{bookstore_id:int}", responses=problems(*_SHOP, DiscountInvalid, BookstoreNameTaken))
    async def update_bookstore(self, staff: StaffUser, bookstore_id: RowId, data: BookstoreUpdate) -> BookstoreOut:
        """Rename a partner bookstore, change its discount (for purchases from now on), or end the partnership."""
        await shops.update_bookstore(staff, bookstore_id, data.draft(), data.active)
        return BookstoreOut.of(await shops.managed_bookstore(staff, bookstore_id))

    @post("/bookstores/{bookstore_id:int}/clerks", responses=problems(*_SHOP, UsernameTaken, WeakPassword))
    async def create_clerk(self, staff: StaffUser, bookstore_id: RowId, data: ClerkIn) -> StaffOut:
        """A clerk account of a partner bookstore: it checks and approves readers' choices in that shop, loads its
        stock and sees its sales, nothing else."""
        made = await shops.create_clerk(
            staff, bookstore_id, username=data.username, password=data.password, display_name=data.display_name
        )
        return StaffOut.of(made)

    @post(
        "/bookstores/{bookstore_id:int}/stock",
        status_code=200,
        request_max_body_size=MAX_STOCK_BYTES,
        responses=problems(*_SHOP, *_STOCK),
    )
    async def upload_stock(
        self,
        deps: Dependencies,
        staff: StaffUser,
        bookstore_id: RowId,
        request: Request[Any, Any, Any],
        format: StockFormat,
    ) -> StockImportOut:
        """Load a partner bookstore's stock feed on its behalf (as its clerks do at `POST /bookstore/stock`)."""
        return await _stock_upload(deps, staff, bookstore_id, request, format)

    @put("/libraries/{code:str}/rules", responses=problems(*_MAIN, RulesInvalid, ItemTypesUnknown))
    async def set_rules(self, staff: StaffUser, code: LibraryCodeParam, data: RulesIn) -> RulesOut:
        """Set a main library's own purchase rules, replacing those it stated before: a term left null takes the
        network's default."""
        await policy.set_rules(staff, code, data.draft())
        return RulesOut(**{**{f: getattr(data, f) for f in data.__struct_fields__}, "library_code": code})

    @put("/libraries/{code:str}/budgets/{year:int}", responses=problems(*_MAIN, BudgetInvalid, BudgetMonthsOverYear))
    async def set_year_budget(
        self, staff: StaffUser, code: LibraryCodeParam, year: YearParam, data: BudgetIn
    ) -> BudgetOut:
        """Set a main library's reader-choice budget for a year (never below what is reserved and spent)."""
        return _budget_out(code, await budgets.set_budget(staff, code, year, data.total_fen))

    @put(
        "/libraries/{code:str}/budgets/{year:int}/{month:int}",
        responses=problems(*_MAIN, BudgetInvalid, BudgetMonthsOverYear),
    )
    async def set_month_budget(
        self, staff: StaffUser, code: LibraryCodeParam, year: YearParam, month: MonthParam, data: BudgetIn
    ) -> BudgetOut:
        """Set a month's share of the year's budget (the months' shares together within the year's)."""
        return _budget_out(code, await budgets.set_budget(staff, code, year, data.total_fen, month))

    @get("/libraries/{code:str}/figures", responses=problems(*_MAIN))
    async def figures(self, staff: StaffUser, code: LibraryCodeParam, year: YearParam) -> FiguresOut:
        """Where a main library's reader-choice budget went in a year: spent, reserved and left, by month, branch
        (the readers' home libraries), CLC main class and bookstore."""
        return FiguresOut.of(code, await budgets.figures(staff, code, year))

    @post(
        "/bookstores/{bookstore_id:int}/statements",
        responses=problems(*_SHOP, MonthInvalid, MonthNotOver, StatementExists),
    )
    async def settle(self, deps: Dependencies, staff: StaffUser, bookstore_id: RowId, data: SettleIn) -> StatementOut:
        """Settle a bookstore's month once it is over: its sales not cancelled go on the statement and their price is
        spent from the budget. Once per shop and month."""
        made = await purchases.settle_month(
            staff, bookstore_id, data.year, data.month, deps.clock.now(), policy=deps.purchase_policy
        )
        return StatementOut.of(made)

    @get("/statements/{statement_id:int}", responses=problems(*_SHOP, PurchaseNotFound))
    async def statement(self, staff: StaffUser, statement_id: RowId) -> StatementOut:
        """A monthly statement's totals: its lines are at `GET .../statements/{statement_id}/lines`."""
        return StatementOut.of(await purchases.managed_statement(staff, statement_id))

    @get("/statements/{statement_id:int}/lines", responses=problems(*_SHOP, PurchaseNotFound))
    async def statement_lines(
        self, staff: StaffUser, statement_id: RowId, limit: StaffLimit = 50, offset: Offset = 0
    ) -> StatementLinePage:
        """A page of a monthly statement's lines, in the order sold."""
        _, lines, total = await purchases.statement_lines(staff, statement_id, limit=limit, offset=offset)
        return Page.of([StatementLineOut.of(p) for p in lines], total, limit, offset)

    @get(
        "/statements/{statement_id:int}/statement.csv",
        media_type="text/csv",
        responses=problems(*_SHOP, PurchaseNotFound),
    )
    async def statement_csv(self, deps: Dependencies, staff: StaffUser, statement_id: RowId) -> Response[str]:
        """A monthly statement as a CSV file for the shop and the accounts: every line, then the totals."""
        found, document = await purchases.statement_document(staff, statement_id, deps.network_time)
        name = f"statement-{found.bookstore_id}-{found.year}-{found.month:02d}.csv"
        return Response(
            document,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @post(
        "/{purchase_id:int}/cancel",
        status_code=204,
        responses=problems(*_ADMIN, PurchaseNotFound, PurchaseNotReserved, CopyNotInProcessing),
    )
    async def cancel(self, deps: Dependencies, staff: StaffUser, purchase_id: RowId) -> None:
        """Cancel a purchase not yet settled whose copy came back to the processing queue (the book goes back to the
        shop): the copy is withdrawn and the budget's reservation released."""
        await purchases.cancel(staff, purchase_id, deps.clock.now())

    @get("/processing", responses=problems(*_ADMIN))
    async def processing(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> QueuePage:
        """Bought copies waiting to be processed at my libraries: back from their first reader, longest waiting
        first."""
        found, total = await purchases.processing_queue(staff, limit=limit, offset=offset)
        items = [
            QueuedCopyOut(c.barcode, c.record.title, c.record.id, c.current_library.code, c.updated_at) for c in found
        ]
        return Page.of(items, total, limit, offset)

    @post(
        "/processing/done",
        status_code=200,
        responses=problems(*_ADMIN, CopyNotFound, CopyNotInProcessing, OutsideScope),
    )
    async def processed(self, deps: Dependencies, staff: StaffUser, data: BarcodeIn) -> ProcessedOut:
        """A bought copy processed (labelled, stamped): it joins the collection, filling the next hold for its title
        or going on the shelf."""
        copy, hold = await purchases.finish_processing(
            staff, data.barcode, now=deps.clock.now(), hold_policy=deps.hold_policy, bus=deps.bus
        )
        return ProcessedOut(copy.barcode, copy.status.value, None if hold is None else hold.id)
