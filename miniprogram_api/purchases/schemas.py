"""Reader-chosen purchases (你选书我买单) as readers, shop clerks and library staff see them, and what they send."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from backend.catalog.models import ItemType
from backend.errors import DomainError
from backend.purchases.budgets import Figures, Line
from backend.purchases.checks import IsbnCheck
from backend.purchases.models import (
    Bookstore,
    Purchase,
    PurchaseRequest,
    PurchaseState,
    RequestState,
    Statement,
    StockItem,
)
from backend.purchases.policy import RulesDraft
from backend.purchases.requests import Delivery
from backend.purchases.shops import BookstoreDraft, Offer, StockImport
from backend.shipping.addresses import Address, MaskedAddress
from backend.shipping.models import Destination, ShipmentState
from miniprogram_api.catalog.schemas import Barcode
from miniprogram_api.errors import Reason
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import CardNumber, Page, named, text
from miniprogram_api.shipping.schemas import AddressIn, AddressOut
from miniprogram_api.staff.schemas import Password, Username

Isbn = Annotated[str, text(20, min_length=10)]
Fen = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
Year = Annotated[int, msgspec.Meta(ge=2000, le=2100)]
Month = Annotated[int, msgspec.Meta(ge=1, le=12)]
Count = Annotated[int, msgspec.Meta(ge=0, le=1000)]
TermList = Annotated[str, text(500)]


def reasons_of(errors: list[DomainError], language: str) -> list[Reason]:
    """Each reason as a refusal's problem lists it: its code, its message, its parameters."""
    return [Reason(error.code, error.message(language), error.params) for error in errors]


class BookstoreOut(msgspec.Struct):
    id: int
    name: str
    address: str
    discount_bp: int
    """Basis points off list price: 1500 is 15% off (八五折)."""
    library_code: str
    library_name: str
    active: bool

    @classmethod
    def of(cls, shop: Bookstore) -> BookstoreOut:
        library = shop.main_library
        return cls(shop.id, shop.name, shop.address, shop.discount_bp, library.code, library.name, shop.active)


BookstorePage = Annotated[Page[BookstoreOut], named("BookstorePage")]


class StockItemOut(msgspec.Struct):
    isbn13: str
    title: str
    authors: str
    publisher: str
    year: int
    list_price_fen: int
    quantity: int
    clc_class: str
    item_type: ItemType

    @classmethod
    def of(cls, item: StockItem) -> StockItemOut:
        return cls(
            item.isbn13,
            item.title,
            item.authors,
            item.publisher,
            item.year,
            item.list_price_fen,
            item.quantity,
            item.clc_class,
            item.item_type,
        )


StockPage = Annotated[Page[StockItemOut], named("PartnerStockPage")]


class HoldingOut(msgspec.Struct):
    library: str
    code: str
    copies: int
    available: int


class IsbnCheckOut(msgspec.Struct):
    """Whether the library would buy the book for the reader now; if not, every reason, each with its code."""

    approvable: bool
    reasons: list[Reason]
    book: StockItemOut
    bookstore_id: int
    bookstore: str
    price_fen: int
    """What the library pays the shop (list price less the shop's discount); the reader pays nothing."""
    record_id: int | None
    """The network's catalogue record of the ISBN, when it has one."""
    holdings: list[HoldingOut]
    """Where to borrow it instead: libraries with a copy available now first."""

    @classmethod
    def of(cls, check: IsbnCheck, language: str) -> IsbnCheckOut:
        return cls(
            approvable=check.approvable,
            reasons=reasons_of(check.reasons, language),
            book=StockItemOut.of(check.item),
            bookstore_id=check.item.bookstore_id,
            bookstore=check.item.bookstore.name,
            price_fen=check.price_fen,
            record_id=None if check.record is None else check.record.id,
            holdings=[HoldingOut(h.library, h.code, h.copies, h.available) for h in check.holdings],
        )


class CardIsbnIn(msgspec.Struct, forbid_unknown_fields=True):
    """The book's ISBN, and the reader by exactly one of their phone's card code or their physical card's number."""

    isbn: Isbn
    card_payload: Annotated[str, text(200, min_length=1)] | None = None
    card_number: CardNumber | None = None


class PurchaseOut(msgspec.Struct):
    """A book bought for a reader, and its loan to them."""

    id: int
    isbn13: str
    title: str
    record_id: int
    barcode: str
    bookstore_id: int
    list_price_fen: int
    price_fen: int
    state: PurchaseState
    approved_at: datetime
    loan_id: int | None
    """Null while a book bought online waits on a service point's hold shelf for the reader to collect it."""
    due_at: datetime | None
    returned_at: datetime | None
    """Null while the reader has it on loan, or has yet to collect it."""

    @classmethod
    def of(cls, purchase: Purchase) -> PurchaseOut:
        loan = purchase.loan
        return cls(
            id=purchase.id,
            isbn13=purchase.isbn13,
            title=purchase.record.title,
            record_id=purchase.record_id,
            barcode=purchase.copy.barcode,
            bookstore_id=purchase.bookstore_id,
            list_price_fen=purchase.list_price_fen,
            price_fen=purchase.price_fen,
            state=purchase.state,
            approved_at=purchase.approved_at,
            loan_id=None if loan is None else loan.id,
            due_at=None if loan is None else loan.due_at,
            returned_at=None if loan is None else loan.returned_at,
        )


PurchasePage = Annotated[Page[PurchaseOut], named("ReaderPurchasePage")]


class OfferOut(msgspec.Struct):
    bookstore_id: int
    bookstore: str
    list_price_fen: int


class IsbnOffersOut(msgspec.Struct):
    isbn13: str
    offers: list[OfferOut]
    """Partner bookstores with it in stock, cheapest first: empty when none has it."""

    @classmethod
    def of(cls, isbn13: str, offers: list[Offer]) -> IsbnOffersOut:
        return cls(isbn13, [OfferOut(o.bookstore_id, o.bookstore, o.list_price_fen) for o in offers])


class PartnerOffersOut(msgspec.Struct):
    isbns: list[IsbnOffersOut]
    """Each ISBN asked for, in the order asked (at most 20)."""


class RowProblemOut(msgspec.Struct):
    line: int
    reason: str


class StockImportOut(msgspec.Struct):
    rows: int
    created: int
    updated: int
    problem_count: int
    problems: list[RowProblemOut]
    """The first thousand rows refused, in file order: `line` is the file's line (CSV) or the item's place (JSON)."""

    @classmethod
    def of(cls, done: StockImport) -> StockImportOut:
        listed = [RowProblemOut(p.line, p.reason) for p in done.problems]
        return cls(done.rows, done.created, done.updated, done.problem_count, listed)


StockFormat = Literal["csv", "json"]


class BookstoreIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, text(100, min_length=1)]
    discount_bp: Annotated[int, msgspec.Meta(ge=0, le=10000)]
    address: Annotated[str, text(200)] = ""

    def draft(self) -> BookstoreDraft:
        return BookstoreDraft(self.name, self.address, self.discount_bp)


class NewBookstoreIn(BookstoreIn, forbid_unknown_fields=True):
    library_code: Code = ""
    """The main library (central, district or county) that buys from it."""


class BookstoreUpdate(BookstoreIn, forbid_unknown_fields=True):
    active: bool = True
    """False: the partnership ended; its clerks can no longer approve."""


class ClerkIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password
    display_name: Annotated[str, text(50)] = ""


class RulesIn(msgspec.Struct, forbid_unknown_fields=True):
    """A main library's own purchase rules: each term given replaces the network's default, null keeps it."""

    holdings_threshold: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None
    price_cap_fen: Annotated[int, msgspec.Meta(ge=1, le=10**8)] | None = None
    max_age_years: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    excluded_classes: TermList | None = None
    """Comma-separated CLC class prefixes, e.g. "G42,G624,Z"."""
    excluded_keywords: TermList | None = None
    excluded_item_types: Annotated[str, text(100)] | None = None
    monthly_quota: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    max_unreturned: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    loan_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    auto_approve_under_fen: Annotated[int, msgspec.Meta(ge=0, le=10**8)] | None = None
    """An online request for a book listed below this price is approved without staff; 0: none is."""

    def draft(self) -> RulesDraft:
        return RulesDraft(**msgspec.structs.asdict(self))


class RulesOut(RulesIn):
    library_code: str = ""


class BudgetIn(msgspec.Struct, forbid_unknown_fields=True):
    total_fen: Fen


class BudgetOut(msgspec.Struct):
    library_code: str
    year: int
    month: int | None
    total_fen: int
    reserved_fen: int
    spent_fen: int


class LineOut(msgspec.Struct):
    key: str
    label: str
    books: int
    reserved_fen: int
    spent_fen: int
    budget_fen: int | None

    @classmethod
    def of(cls, line: Line) -> LineOut:
        return cls(line.key, line.label, line.books, line.reserved_fen, line.spent_fen, line.budget_fen)


class FiguresOut(msgspec.Struct):
    """Where a main library's reader-choice budget went in a year."""

    library_code: str
    year: int
    total_fen: int
    reserved_fen: int
    spent_fen: int
    left_fen: int
    by_month: list[LineOut]
    by_branch: list[LineOut]
    by_class: list[LineOut]
    """By CLC main class (its first letter)."""
    by_bookstore: list[LineOut]

    @classmethod
    def of(cls, code: str, f: Figures) -> FiguresOut:
        def lines(of: list[Line]) -> list[LineOut]:
            return [LineOut.of(line) for line in of]

        return cls(
            code,
            f.year,
            f.total_fen,
            f.reserved_fen,
            f.spent_fen,
            f.left_fen,
            lines(f.by_month),
            lines(f.by_branch),
            lines(f.by_class),
            lines(f.by_bookstore),
        )


class SettleIn(msgspec.Struct, forbid_unknown_fields=True):
    year: Year
    month: Month


class StatementLineOut(msgspec.Struct):
    purchase_id: int
    approved_at: datetime
    isbn13: str
    title: str
    barcode: str
    list_price_fen: int
    discount_bp: int
    price_fen: int

    @classmethod
    def of(cls, p: Purchase) -> StatementLineOut:
        return cls(
            p.id, p.approved_at, p.isbn13, p.record.title, p.copy.barcode, p.list_price_fen, p.discount_bp, p.price_fen
        )


StatementLinePage = Annotated[Page[StatementLineOut], named("StatementLinePage")]


class StatementOut(msgspec.Struct):
    """A bookstore's monthly settlement: what it sold the library that month and what the library owes it."""

    id: int
    bookstore_id: int
    year: int
    month: int
    books: int
    list_total_fen: int
    due_fen: int
    settled_at: datetime

    @classmethod
    def of(cls, s: Statement) -> StatementOut:
        return cls(s.id, s.bookstore_id, s.year, s.month, s.books, s.list_total_fen, s.due_fen, s.settled_at)


class SaleOut(msgspec.Struct):
    """A sale of the shop's to the library, as the clerk sees it (no reader's details)."""

    id: int
    approved_at: datetime
    isbn13: str
    barcode: str
    list_price_fen: int
    price_fen: int
    state: PurchaseState

    @classmethod
    def of(cls, p: Purchase) -> SaleOut:
        return cls(p.id, p.approved_at, p.isbn13, p.copy.barcode, p.list_price_fen, p.price_fen, p.state)


SalePage = Annotated[Page[SaleOut], named("BookstoreSalePage")]


class QueuedCopyOut(msgspec.Struct):
    barcode: str
    title: str
    record_id: int
    library_code: str
    waiting_since: datetime


QueuePage = Annotated[Page[QueuedCopyOut], named("ProcessingQueuePage")]


class BarcodeIn(msgspec.Struct, forbid_unknown_fields=True):
    barcode: Barcode


class ProcessedOut(msgspec.Struct):
    barcode: str
    status: str
    """Where the copy went: available (shelve it), or on the hold shelf / in transit for a hold."""
    hold_id: int | None


# Requests online.


class PurchaseRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    """A book of a partner's stock, and where to send it: a service point's hold shelf (`library_code`) or my door
    (`address`)."""

    bookstore_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    isbn: Isbn
    destination: Destination
    library_code: Code | None = None
    address: AddressIn | None = None

    def delivery(self) -> Delivery:
        if self.destination is Destination.SERVICE_POINT:
            return Delivery(self.destination, library_code=self.library_code or "")
        at = self.address
        return Delivery(self.destination, address=None if at is None else at.parsed())


class RefusalIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, text(200, min_length=1)]
    """Told to the reader."""


class ParcelStepIn(msgspec.Struct, forbid_unknown_fields=True):
    state: ShipmentState
    """in_transit, out_for_delivery, delivered, failed or returned."""
    note: Annotated[str, text(200)] = ""


class ParcelOut(msgspec.Struct):
    destination: Destination
    state: ShipmentState
    pickup_library_code: str | None
    pickup_library_name: str | None
    address: AddressOut | None
    """To the door: masked (张*, 138****5678), in full only to the shop's clerk who is to send it."""
    courier: str | None
    tracking_no: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None


class PurchaseRequestOut(msgspec.Struct):
    """A reader's request to buy a book of a partner's stock, and its parcel."""

    id: int
    state: RequestState
    auto_approved: bool
    """Approved at once: its list price was under the library's auto-approval price."""
    bookstore_id: int
    bookstore: str
    isbn13: str
    title: str
    list_price_fen: int
    price_fen: int
    """What the library pays the shop; the reader pays nothing."""
    reason: str
    """Why staff refused it, or why it was cancelled."""
    requested_at: datetime
    decided_at: datetime | None
    closed_at: datetime | None
    purchase_id: int | None
    """The purchase made when the parcel arrived (its copy and loan: `GET /readers/me/purchases`)."""
    parcel: ParcelOut

    @classmethod
    def of(cls, request: PurchaseRequest, address: Address | MaskedAddress | None) -> PurchaseRequestOut:
        shipment = request.shipment
        pickup, courier = shipment.pickup_library, shipment.courier
        parcel = ParcelOut(
            destination=shipment.destination,
            state=shipment.state,
            pickup_library_code=None if pickup is None else pickup.code,
            pickup_library_name=None if pickup is None else pickup.name,
            address=AddressOut.of(address),
            courier=None if courier is None else courier.name,
            tracking_no=shipment.tracking_no,
            shipped_at=shipment.shipped_at,
            delivered_at=shipment.delivered_at,
        )
        return cls(
            id=request.id,
            state=request.state,
            auto_approved=request.auto_approved,
            bookstore_id=request.bookstore_id,
            bookstore=request.bookstore.name,
            isbn13=request.isbn13,
            title=request.title,
            list_price_fen=request.list_price_fen,
            price_fen=request.price_fen,
            reason=request.reason,
            requested_at=request.requested_at,
            decided_at=request.decided_at,
            closed_at=request.closed_at,
            purchase_id=request.purchase_id,
            parcel=parcel,
        )


PurchaseRequestPage = Annotated[Page[PurchaseRequestOut], named("PurchaseRequestPage")]
