"""Buying a reader's choice in the shop and lending it on the spot; cancelling one; the shops' monthly settlement;
the owning library's processing of the bought copies once they come back.

An approval is one transaction under the reader's card lock (the lock checkout takes, so the quota counted is the
quota there is): the check again, the record found or made, a copy with a network barcode, the loan made by
circulation's own checkout (so every rule of lending holds for it too), and last the budget reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.services import identify_at_desk, lock_card
from backend.accounts.staff import authority_scope, require_role
from backend.catalog.barcodes import normalise_barcode
from backend.catalog.errors import CopyNotFound
from backend.catalog.models import Copy, CopyStatus, Record
from backend.catalog.search import index_records, refresh_holdings
from backend.circulation import holds
from backend.circulation.credit import CreditCheck
from backend.circulation.holds import HoldPolicy
from backend.circulation.models import Hold, Loan
from backend.circulation.services import checkout
from backend.clock import NetworkTime
from backend.eventbus import EventBus, record
from backend.money.errors import yuan
from backend.network.errors import OutsideScope
from backend.network.services import in_scope
from backend.passes import SignedPasses
from backend.purchases import budgets
from backend.purchases.checks import Month, evaluate, month_of
from backend.purchases.domain_events import BookPurchased
from backend.purchases.errors import (
    BudgetShort,
    CopyNotInProcessing,
    MonthInvalid,
    MonthNotOver,
    PurchaseNotFound,
    PurchaseNotReserved,
    PurchaseRefused,
    RequestsOnTheWay,
    StatementExists,
)
from backend.purchases.models import (
    RESERVED_REQUEST,
    Bookstore,
    Purchase,
    PurchaseRequest,
    PurchaseState,
    Statement,
    StockItem,
)
from backend.purchases.policy import PurchasePolicy
from backend.purchases.shops import clerks_bookstore, managed_bookstore, stock_item
from backend.spreadsheets import csv_document


@dataclass(frozen=True, slots=True)
class ReaderCard:
    """The card the clerk scanned or typed: the phone's signed card code, or a physical card's number."""

    payload: str | None = None
    card_number: str | None = None

    async def reader(self, card_passes: SignedPasses, now: datetime) -> Reader:
        return await identify_at_desk(card_passes, now, payload=self.payload, card_number=self.card_number)


async def approve(
    clerk: StaffUser,
    card: ReaderCard,
    isbn: str,
    *,
    card_passes: SignedPasses,
    now: datetime,
    bus: EventBus,
    policy: PurchasePolicy,
    credit_check: CreditCheck,
) -> Purchase:
    """Buy the book the reader brought to the counter of the clerk's shop and lend it to them: refused with every
    reason the check gives (`purchase_refused`), else the copy made (owned by the shop's main library, its price the
    list price), lent for the reader-purchase loan period, and the budget reserved at the discounted price."""
    bookstore = await clerks_bookstore(clerk)
    reader = await card.reader(card_passes, now)
    when = month_of(now, policy)
    async with bus.transaction():
        # The quota counted here is the quota there is until the purchase is made; the row read under the lock is
        # the card as it is now.
        reader = await lock_card(reader.id)
        item = await stock_item(bookstore.id, isbn)
        # The copies counted against the holdings threshold are the copies there are until this one is made: two
        # clerks selling the last title the network lacks take turns here (the card lock is always taken first).
        await connections.get("default").execute_query("SELECT pg_advisory_xact_lock(hashtext($1))", [item.isbn13])
        check = await evaluate(reader, item, now=now, policy=policy, credit_check=credit_check)
        if check.reasons:
            raise PurchaseRefused(check.reasons)
        bought, copy = await new_copy(item, check.record, policy)
        lent = await checkout(
            reader,
            copy.barcode,
            now=now,
            bus=bus,
            network_time=policy.network_time,
            staff=clerk,
            credit_check=credit_check,
            period_days=check.terms.loan_days,  # the reader-purchase rule's period, not the item type's
        )
        # The shop's feed may be behind the shelf: a sale it counts as the last copy or none is still a sale, as the
        # book is in the reader's hand; the count only stops below zero.
        await connections.get("default").execute_query(
            "UPDATE purchase_stock SET quantity = GREATEST(quantity - 1, 0) WHERE id = $1", [item.id]
        )
        # Last, so that the budget's row stays locked only until the commit that follows.
        try:
            await budgets.reserve(bookstore.main_library_id, when.year, when.month, check.price_fen)
        except BudgetShort as short:
            raise PurchaseRefused([short]) from short
        purchase = await new_purchase(
            item,
            reader,
            bought,
            copy,
            lent.loan,
            clerk=clerk,
            list_price_fen=item.list_price_fen,
            discount_bp=bookstore.discount_bp,
            price_fen=check.price_fen,
            when=when,
            now=now,
        )
    await purchase.fetch_related("copy", "record", "loan")
    return purchase


async def new_copy(
    item: StockItem, found: Record | None, policy: PurchasePolicy, status: CopyStatus = CopyStatus.AVAILABLE
) -> tuple[Record, Copy]:
    """A bought book made the network's: its record found (`found`) or made from the stock row, and a copy of it with
    a network barcode, owned by the shop's main library and to be processed there once its first reader returns it
    (the list price is what a reader who loses it pays)."""
    bought = await _record_of(item, found)
    main = item.bookstore.main_library_id
    copy = await Copy.create(
        barcode=await _new_barcode(policy),
        record=bought,
        home_library_id=main,
        current_library_id=main,
        item_type=item.item_type,
        price_fen=item.list_price_fen,
        unprocessed=True,
        status=status,
    )
    return bought, copy


async def new_purchase(
    item: StockItem,
    reader: Reader,
    bought: Record,
    copy: Copy,
    loan: Loan | None,
    *,
    clerk: StaffUser | None,
    list_price_fen: int,
    discount_bp: int,
    price_fen: int,
    when: Month,
    now: datetime,
) -> Purchase:
    """The purchase of a copy made for a reader at the prices it was approved at, as the budget (`price_fen` already
    reserved for `when`) and the shop's statement of that month count it."""
    bookstore = item.bookstore
    purchase = await Purchase.create(
        bookstore=bookstore,
        main_library_id=bookstore.main_library_id,
        branch_id=reader.home_library_id,
        reader=reader,
        clerk=clerk,
        isbn13=item.isbn13,
        record=bought,
        copy=copy,
        loan=loan,
        clc_class=item.clc_class or bought.clc_class,
        list_price_fen=list_price_fen,
        discount_bp=discount_bp,
        price_fen=price_fen,
        year=when.year,
        month=when.month,
        approved_at=now,
    )
    record(
        BookPurchased(
            purchase.id, reader.id, bought.id, copy.id, bookstore.id, bookstore.main_library_id, price_fen, now
        )
    )
    return purchase


async def _record_of(item: StockItem, found: Record | None) -> Record:
    """The union catalogue's record of the ISBN, made from the shop's stock row if the network has none. Two shops
    buying a new title at once make it once: INSERT ... ON CONFLICT DO NOTHING on the unique ISBN, then read."""
    if found is not None:
        await refresh_holdings([found.id])
        return found
    authors = [{"name": name, "role": "author"} for name in item.authors.split("、") if name]
    draft = Record(
        isbn13=item.isbn13,
        title=item.title,
        authors=authors,
        publisher=item.publisher,
        year=item.year,
        clc_class=item.clc_class,
    )
    await Record.bulk_create([draft], ignore_conflicts=True)
    made = await Record.get(isbn13=item.isbn13)
    await index_records([made.id])
    return made


async def _new_barcode(policy: PurchasePolicy) -> str:
    # A sequence, not a counter row: its numbers are never handed out twice and nobody waits for another approval's
    # commit to get one (a gap from a refused approval is harmless).
    rows = await connections.get("default").execute_query_dict("SELECT nextval('purchase_barcode') AS n")
    return normalise_barcode(f"{policy.barcode_prefix}{rows[0]['n']:010d}")


async def _managed_purchase(staff: StaffUser, purchase_id: int) -> Purchase:
    """A purchase of a main library in the administrator's authority, its row locked (others are not found)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    purchase = await Purchase.select_for_update().get_or_none(id=purchase_id)
    if purchase is None:
        raise PurchaseNotFound()
    await purchase.fetch_related("main_library")
    if not in_scope(purchase.main_library, authority_scope(staff)):
        raise PurchaseNotFound()
    return purchase


async def cancel(staff: StaffUser, purchase_id: int, now: datetime) -> Purchase:
    """Undo a purchase not yet settled with the shop (the sale reversed, the book given back to the shop): its
    copy, returned by the reader and in the processing queue, is withdrawn, and the budget's reservation released."""
    async with in_transaction():
        purchase = await _managed_purchase(staff, purchase_id)
        if purchase.state is not PurchaseState.RESERVED:
            raise PurchaseNotReserved(state=purchase.state.value)
        if not await Copy.filter(id=purchase.copy_id, status=CopyStatus.IN_PROCESSING, unprocessed=True).update(
            status=CopyStatus.WITHDRAWN, unprocessed=False
        ):
            raise CopyNotInProcessing()
        await budgets.release(purchase.main_library_id, purchase.year, purchase.month, purchase.price_fen)
        purchase.state, purchase.closed_at = PurchaseState.RELEASED, now
        await purchase.save(update_fields=["state", "closed_at"])
        await refresh_holdings([purchase.record_id])
    return purchase


# The shops' monthly settlement.


async def settle_month(
    staff: StaffUser, bookstore_id: int, year: int, month: int, now: datetime, *, policy: PurchasePolicy
) -> Statement:
    """Settle a bookstore's month once it is over (`month_not_over`: its sales are not all made yet): every purchase
    of that month not cancelled goes on its statement, and what it reserved in the budget is spent. Once per shop
    and month (`statement_exists`)."""
    bookstore = await managed_bookstore(staff, bookstore_id)
    if not (budgets.YEARS[0] <= year <= budgets.YEARS[1] and 1 <= month <= 12):
        raise MonthInvalid(year=year, month=month)
    this = month_of(now, policy)
    if (year, month) >= (this.year, this.month):
        raise MonthNotOver(year=year, month=month)
    # A request approved that month is bought when its parcel arrives, counted in that month's sales and budget.
    on_the_way = PurchaseRequest.filter(bookstore_id=bookstore.id, year=year, month=month, state__in=RESERVED_REQUEST)
    if count := await on_the_way.count():
        raise RequestsOnTheWay(bookstore=bookstore.name, year=year, month=month, count=count)
    async with in_transaction():
        try:
            statement = await Statement.create(
                bookstore=bookstore,
                year=year,
                month=month,
                books=0,
                list_total_fen=0,
                due_fen=0,
                staff=staff,
                settled_at=now,
            )
        except IntegrityError as exc:
            raise StatementExists(bookstore=bookstore.name, year=year, month=month) from exc
        sold = await Purchase.select_for_update().filter(
            bookstore_id=bookstore.id, year=year, month=month, state=PurchaseState.RESERVED
        )
        statement.books = len(sold)
        statement.list_total_fen = sum(p.list_price_fen for p in sold)
        statement.due_fen = sum(p.price_fen for p in sold)
        await statement.save(update_fields=["books", "list_total_fen", "due_fen"])
        await Purchase.filter(id__in=[p.id for p in sold]).update(
            state=PurchaseState.SPENT, statement_id=statement.id, closed_at=now
        )
        await budgets.spend(bookstore.main_library_id, year, month, statement.due_fen)
    return statement


async def managed_statement(staff: StaffUser, statement_id: int) -> Statement:
    """A statement of a bookstore the administrator manages (others are not found)."""
    statement = await Statement.get_or_none(id=statement_id)
    if statement is None:
        raise PurchaseNotFound()
    await managed_bookstore(staff, statement.bookstore_id)
    return statement


def _lines_of(statement: Statement) -> QuerySet[Purchase]:
    return Purchase.filter(statement_id=statement.id).select_related("record", "copy").order_by("approved_at", "id")


async def statement_lines(
    staff: StaffUser, statement_id: int, *, limit: int, offset: int
) -> tuple[Statement, list[Purchase], int]:
    """A statement and a page of what it lists, in the order sold (each purchase with its record and copy)."""
    statement = await managed_statement(staff, statement_id)
    lines, total = await paging.page(_lines_of(statement), limit, offset)
    return statement, lines, total


async def statement_document(staff: StaffUser, statement_id: int, network_time: NetworkTime) -> tuple[Statement, str]:
    """A statement with every line, as `statement_csv` writes it (one shop's month: a query, not pages)."""
    statement = await managed_statement(staff, statement_id)
    return statement, statement_csv(statement, await _lines_of(statement), network_time)


def statement_csv(statement: Statement, lines: list[Purchase], network_time: NetworkTime) -> str:
    """A statement as the shop and the library's accounts open it in a spreadsheet."""
    header = ["日期 date", "ISBN", "书名 title", "条码 barcode", "定价 list price", "折扣 discount", "结算价 due"]
    rows: list[list[object]] = [
        [
            network_time.day(p.approved_at).isoformat(),
            p.isbn13,
            p.record.title,
            p.copy.barcode,
            yuan(p.list_price_fen),
            f"{p.discount_bp / 100:g}%",
            yuan(p.price_fen),
        ]
        for p in lines
    ]
    rows.append(
        ["合计 total", "", f"{statement.books}", "", yuan(statement.list_total_fen), "", yuan(statement.due_fen)]
    )
    return csv_document(header, rows)


# What readers and shops see of their purchases.


async def readers_purchases(reader: Reader, *, limit: int, offset: int) -> tuple[list[Purchase], int]:
    """The books bought for a reader, newest first, each with its copy, record and loan."""
    query = Purchase.filter(reader_id=reader.id).select_related("record", "copy", "loan")
    return await paging.page(query.order_by("-approved_at", "-id"), limit, offset)


async def bookstore_sales(
    bookstore: Bookstore, year: int, month: int, *, limit: int, offset: int
) -> tuple[list[Purchase], int]:
    """A shop's sales to the library in a month of the network's calendar, in the order sold."""
    query = Purchase.filter(bookstore_id=bookstore.id, year=year, month=month).select_related("copy")
    return await paging.page(query.order_by("approved_at", "id"), limit, offset)


# Processing the bought copies once they come back.


async def processing_queue(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[Copy], int]:
    """Bought copies back from their first reader and waiting at the staff member's libraries to be processed
    (labelled, stamped, shelved), the longest waiting first."""
    require_role(staff, StaffRole.LIBRARIAN)
    query = Copy.filter(
        status=CopyStatus.IN_PROCESSING, unprocessed=True, current_library__path__startswith=staff.library.path
    )
    return await paging.page(
        query.select_related("record", "current_library").order_by("updated_at", "id"), limit, offset
    )


async def finish_processing(
    staff: StaffUser, barcode: str, *, now: datetime, hold_policy: HoldPolicy, bus: EventBus
) -> tuple[Copy, Hold | None]:
    """A bought copy processed at its library joins the collection like any other copy: it fills the next hold for
    its title, or goes on the shelf."""
    require_role(staff, StaffRole.LIBRARIAN)
    async with bus.transaction():
        copy = await Copy.select_for_update().get_or_none(barcode=normalise_barcode(barcode))
        if copy is None:
            raise CopyNotFound(barcode=normalise_barcode(barcode))
        if copy.status is not CopyStatus.IN_PROCESSING or not copy.unprocessed:
            raise CopyNotInProcessing()
        here = await copy.current_library
        if not in_scope(here, staff.library.path):
            raise OutsideScope()
        copy.unprocessed = False
        await copy.save(update_fields=["unprocessed"])
        hold = await holds.settle(copy, here, now, hold_policy)
    return copy, hold
