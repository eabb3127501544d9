"""Reader-chosen purchases online: a reader asks for a title from a partner's stock, sent to a service point or to
their door; staff approve it (or the library's price approves it at once), which reserves its price in the budget;
the shop sends it; it is bought when the parcel arrives (`subscribers`) and lent when the reader has it.

Locks, always taken in this order: the reader's card (counting the quota and adding a request is one step, as at the
shop's counter), the parcel's row (what the courier's reports and staff take), the request's row (what approval,
refusal, cancellation, shipping and arrival take turns on), the shop's stock row, the budget's rows last (held only to
the commit). A reservation is released only by the step that moves its request out of `approved` or `shipped` under
that lock, so once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.expressions import Case, F, When
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.services import lock_card
from backend.accounts.staff import authority_scope, require_role
from backend.catalog.models import CopyStatus, Record
from backend.circulation.credit import CreditCheck
from backend.circulation.domain_events import LoanOpened
from backend.circulation.holds import HoldPolicy, shelve_for
from backend.circulation.services import lend_delivered
from backend.crypto import Keys
from backend.errors import DomainError
from backend.eventbus import EventBus
from backend.network.models import Library
from backend.network.services import get_library, in_scope
from backend.purchases import budgets
from backend.purchases.checks import Month, evaluate, month_of
from backend.purchases.errors import (
    BudgetShort,
    PurchaseRefused,
    PurchaseRequestNotFound,
    RequestNotApproved,
    RequestNotCancellable,
    RequestNotPending,
    SoldOut,
)
from backend.purchases.models import RESERVED_REQUEST, Bookstore, PurchaseRequest, RequestState, StockItem
from backend.purchases.policy import PurchasePolicy
from backend.purchases.purchases import new_copy, new_purchase
from backend.purchases.shops import clerks_bookstore, main_library, stock_item
from backend.shipping.addresses import Address, label_address
from backend.shipping.domain_events import ShipmentDelivered, ShipmentReturned, ShipmentShipped
from backend.shipping.models import Destination, Shipment, ShipmentState
from backend.shipping.services import cancel_shipment, hand_over, open_shipment, set_state

# A request the shop has not sent yet: the reader may still cancel it, staff refuse it.
_UNSENT = (RequestState.PENDING, RequestState.APPROVED)
RETURNED_REASON = "包裹未能送达，已退回书店"


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the reader wants the book: a service point's hold shelf (`library_code`) or their door (`address`)."""

    destination: Destination
    library_code: str | None = None
    address: Address | None = None


async def request_purchase(
    reader: Reader,
    bookstore_id: int,
    isbn: str,
    delivery: Delivery,
    *,
    keys: Keys,
    now: datetime,
    bus: EventBus,
    policy: PurchasePolicy,
    credit_check: CreditCheck,
) -> PurchaseRequest:
    """Ask the library to buy a book of a partner's stock for me, sent where I say. Refused with every reason the
    shop's check gives (`purchase_refused`), and `sold_out` when the shop has none left. Made waiting for staff, or
    approved at once (its price reserved) when the book is listed below the library's auto-approval price."""
    item = await stock_item(bookstore_id, isbn)
    pickup = None if delivery.library_code is None else await get_library(delivery.library_code)
    async with bus.transaction():
        # The quota counted is the quota there is until the request is made (as for a purchase at the counter).
        reader = await lock_card(reader.id)
        # First, so that a missing address or a service point without a hold shelf is answered as such; a refusal
        # below rolls the parcel back.
        shipment = await open_shipment(
            keys,
            reader_id=reader.id,
            destination=delivery.destination,
            pickup_library_id=None if pickup is None else pickup.id,
            address=delivery.address,
            now=now,
        )
        check = await evaluate(reader, item, now=now, policy=policy, credit_check=credit_check)
        reasons: list[DomainError] = [*check.reasons, *([SoldOut(isbn=item.isbn13)] if item.quantity <= 0 else [])]
        if reasons:
            raise PurchaseRefused(reasons)
        when = month_of(now, policy)
        request = await PurchaseRequest.create(
            reader=reader,
            bookstore_id=item.bookstore_id,
            main_library_id=item.bookstore.main_library_id,
            branch_id=reader.home_library_id,
            shipment=shipment,
            isbn13=item.isbn13,
            title=item.title,
            list_price_fen=item.list_price_fen,
            discount_bp=item.bookstore.discount_bp,
            price_fen=check.price_fen,
            year=when.year,
            month=when.month,
            requested_at=now,
        )
        if item.list_price_fen < check.terms.auto_approve_under_fen:
            await _approved(request, item, now, staff=None)
    return await _loaded(request.id)


async def approve_request(
    staff: StaffUser, request_id: int, *, now: datetime, policy: PurchasePolicy, credit_check: CreditCheck
) -> PurchaseRequest:
    """Approve a waiting request (an administrator over its main library): the check runs again, as the reader and
    the budget are now (`purchase_refused` with every reason, `budget_short` among them), and the price is reserved in
    this month's budget. The shop is then to send it."""
    found = await _managed_request(staff, request_id)
    if found.reader_id is None:
        raise RequestNotPending(state="card_removed")
    async with in_transaction():
        reader = await lock_card(found.reader_id)
        request = await _locked(request_id)
        if request.state is not RequestState.PENDING:
            raise RequestNotPending(state=request.state.value)
        item = await stock_item(request.bookstore_id, request.isbn13)
        check = await evaluate(reader, item, now=now, policy=policy, credit_check=credit_check, request_id=request.id)
        if check.reasons:
            raise PurchaseRefused(check.reasons)
        # Bought at the shop's price of the day it is approved, and counted in the month whose budget pays it (the
        # reader's quota of that month too: the check above counted it there).
        when = month_of(now, policy)
        request.year, request.month = when.year, when.month
        request.list_price_fen, request.discount_bp = item.list_price_fen, item.bookstore.discount_bp
        request.price_fen = check.price_fen
        await _approved(request, item, now, staff=staff)
    return await _loaded(request_id)


async def _approved(request: PurchaseRequest, item: StockItem, now: datetime, *, staff: StaffUser | None) -> None:
    """The approval of a request whose row the caller holds: one book taken off the shop's stock (never below none:
    the shop must have it to send it) and its price reserved, last."""
    if not await StockItem.filter(id=item.id, quantity__gt=0).update(quantity=F("quantity") - 1):
        raise PurchaseRefused([SoldOut(isbn=item.isbn13)])
    try:
        await budgets.reserve(request.main_library_id, request.year, request.month, request.price_fen)
    except BudgetShort as short:
        raise PurchaseRefused([short]) from short
    request.state, request.decided_at, request.staff = RequestState.APPROVED, now, staff
    request.auto_approved = staff is None
    await request.save()


async def refuse_request(staff: StaffUser, request_id: int, reason: str, now: datetime) -> PurchaseRequest:
    """Refuse a request not yet sent (an administrator over its main library), saying why: an approved one gives its
    reservation back to the budget and its book back to the shop's stock."""
    await _managed_request(staff, request_id)
    async with in_transaction():
        request = await _locked(request_id)
        await _close(request, RequestState.REFUSED, reason, now, staff=staff)
    return await _loaded(request_id)


async def cancel_request(reader: Reader, request_id: int, now: datetime) -> PurchaseRequest:
    """Cancel my request while the shop has not sent it (`purchase_request_not_cancellable` once it has)."""
    async with in_transaction():
        request = await _locked(request_id, reader_id=reader.id)
        await _close(request, RequestState.CANCELLED, "", now, staff=None)
    return await _loaded(request_id)


async def _close(
    request: PurchaseRequest, state: RequestState, reason: str, now: datetime, *, staff: StaffUser | None
) -> None:
    if request.state not in _UNSENT:
        raise RequestNotCancellable(state=request.state.value)
    await cancel_shipment(request.shipment_id, now)
    if request.state is RequestState.APPROVED:
        await _unreserve(request)
    request.state, request.reason, request.closed_at = state, reason[:200], now
    if staff is not None:
        request.staff, request.decided_at = staff, now
    await request.save()


async def _unreserve(request: PurchaseRequest) -> None:
    """The book back in the shop's stock and the reservation given back (the caller holds the request's row): the
    budget's rows last, as an approval takes them after the stock's row."""
    await StockItem.filter(bookstore_id=request.bookstore_id, isbn13=request.isbn13).update(quantity=F("quantity") + 1)
    await budgets.release(request.main_library_id, request.year, request.month, request.price_fen)


async def ship_request(
    clerk: StaffUser,
    request_id: int,
    *,
    courier_code: str | None,
    tracking_no: str | None,
    now: datetime,
    bus: EventBus,
) -> PurchaseRequest:
    """The clerk hands an approved request's parcel over: to a courier, with its tracking number (required to the
    reader's door); to a service point, to a courier too, or to nobody when the library's own van collects it from
    the shop. Its steps follow from the courier's reports, or from staff setting them by hand."""
    bookstore = await clerks_bookstore(clerk)
    async with bus.transaction():
        request = await _locked(request_id, bookstore_id=bookstore.id)
        if request.state is not RequestState.APPROVED:
            raise RequestNotApproved(state=request.state.value)
        await hand_over(request.shipment_id, courier_code=courier_code, tracking_no=tracking_no, now=now, staff=clerk)
    return await _loaded(request_id)


async def label(clerk: StaffUser, request_id: int, keys: Keys, now: datetime) -> tuple[PurchaseRequest, Address | None]:
    """An approved request of the clerk's shop with its parcel's full address (none to a service point), shown to
    make up the label: each showing logged."""
    bookstore = await clerks_bookstore(clerk)
    request = await _with_parcel(PurchaseRequest.filter(id=request_id, bookstore_id=bookstore.id)).first()
    if request is None:
        raise PurchaseRequestNotFound()
    if request.state is not RequestState.APPROVED:
        raise RequestNotApproved(state=request.state.value)
    address = await label_address(keys, request.shipment, staff=clerk, subject=f"purchase-label:{request.id}", now=now)
    return request, address


async def set_parcel_state(
    staff: StaffUser, request_id: int, state: ShipmentState, *, note: str, now: datetime, bus: EventBus
) -> PurchaseRequest:
    """Staff set a step of a request's parcel by hand, as its courier would report it: a librarian of the service
    point it goes to (the library's van brought it: `delivered`), or of its main library. What follows is what a
    courier's report would do (delivered: bought, and lent or shelved; returned: cancelled)."""
    require_role(staff, StaffRole.LIBRARIAN)
    request = await PurchaseRequest.get_or_none(id=request_id).select_related(
        "main_library", "shipment__pickup_library"
    )
    places = [] if request is None else [request.main_library, request.shipment.pickup_library]
    if request is None or not any(p is not None and in_scope(p, staff.library.path) for p in places):
        raise PurchaseRequestNotFound()
    async with bus.transaction():
        await set_state(request.shipment_id, state, now=now, staff=staff, note=note)
    return await _loaded(request_id)


async def _locked(request_id: int, *, reader_id: int | None = None, bookstore_id: int | None = None) -> PurchaseRequest:
    """A request's row locked after its parcel's (the order the parcel's events take them in); one of another reader
    or shop is not found."""
    mine = PurchaseRequest.filter(id=request_id)
    if reader_id is not None:
        mine = mine.filter(reader_id=reader_id)
    if bookstore_id is not None:
        mine = mine.filter(bookstore_id=bookstore_id)
    shipment_id = await mine.first().values_list("shipment_id", flat=True)
    if shipment_id is None:
        raise PurchaseRequestNotFound()
    await Shipment.select_for_update().get(id=shipment_id)
    return await PurchaseRequest.select_for_update().get(id=request_id)


async def _managed_request(staff: StaffUser, request_id: int) -> PurchaseRequest:
    """A request to a main library in the administrator's authority (others are not found)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    request = await PurchaseRequest.get_or_none(id=request_id).select_related("main_library")
    if request is None or not in_scope(request.main_library, authority_scope(staff)):
        raise PurchaseRequestNotFound()
    return request


def _with_parcel(query: QuerySet[PurchaseRequest]) -> QuerySet[PurchaseRequest]:
    return query.select_related("bookstore", "shipment__pickup_library", "shipment__courier")


async def _loaded(request_id: int) -> PurchaseRequest:
    return await _with_parcel(PurchaseRequest.filter(id=request_id)).get()


# The parcel's steps, as the shipping area records them (`subscribers` wires these).


async def shipped(event: ShipmentShipped) -> None:
    await PurchaseRequest.filter(shipment_id=event.shipment_id, state=RequestState.APPROVED).update(
        state=RequestState.SHIPPED
    )


async def delivered(policy: PurchasePolicy, hold_policy: HoldPolicy, event: ShipmentDelivered) -> None:
    """The shop's parcel reached the reader or their service point: the book is bought (its record found or made,
    a copy made, the purchase taking over the request's reservation) and lent to the reader at their door, for the
    reader-purchase loan period from now; at a service point it waits on the hold shelf for them, lent for that
    period when they collect it."""
    request = await PurchaseRequest.select_for_update().get_or_none(shipment_id=event.shipment_id)
    if request is None or request.state not in RESERVED_REQUEST:
        return
    if request.reader_id is None:  # the card was removed on the way: nobody to lend it to, the shop takes it back
        await _unreserve(request)
        request.state, request.reason, request.closed_at = RequestState.CANCELLED, RETURNED_REASON, event.at
        await request.save()
        return
    assert request.decided_at is not None, "an approved request has its approval's time"
    item = await StockItem.get(bookstore_id=request.bookstore_id, isbn13=request.isbn13).select_related(
        "bookstore__main_library"
    )
    bought, copy = await new_copy(item, await Record.get_or_none(isbn13=item.isbn13), policy, CopyStatus.IN_DELIVERY)
    terms = await policy.terms_for(request.main_library_id)
    if event.destination is Destination.HOME:
        library: Library = item.bookstore.main_library
        loan = await lend_delivered(request.reader_id, copy, library=library, period_days=terms.loan_days, now=event.at)
        request.state, request.closed_at = RequestState.RECEIVED, event.at
    else:
        shipment = await Shipment.get(id=event.shipment_id).select_related("pickup_library")
        pickup = shipment.pickup_library
        assert pickup is not None, "a parcel to a service point names it"
        await shelve_for(request.reader_id, copy, pickup, period_days=terms.loan_days, now=event.at, policy=hold_policy)
        loan, request.state = None, RequestState.ARRIVED
    request.purchase = await new_purchase(
        item,
        await Reader.get(id=request.reader_id),
        bought,
        copy,
        loan,
        clerk=None,
        list_price_fen=request.list_price_fen,
        discount_bp=request.discount_bp,
        price_fen=request.price_fen,
        when=Month(request.year, request.month),
        now=request.decided_at,
    )
    await request.save()


async def returned(event: ShipmentReturned) -> None:
    """The parcel came back to the shop undelivered: the request is cancelled, its reservation released."""
    request = await PurchaseRequest.select_for_update().get_or_none(shipment_id=event.shipment_id)
    if request is None or request.state not in RESERVED_REQUEST:
        return
    await _unreserve(request)
    request.state, request.reason, request.closed_at = RequestState.CANCELLED, RETURNED_REASON, event.at
    await request.save()


# The purchase of a book bought online and waiting on a service point's hold shelf for this reader takes the loan
# of that copy to them; one statement, as every loan in the network passes here.
_COLLECTED = (
    "UPDATE purchase SET loan_id = $1 WHERE loan_id IS NULL AND reader_id = $2 "
    "AND copy_id = (SELECT copy_id FROM loan WHERE id = $1) RETURNING id"
)


async def collected(event: LoanOpened) -> None:
    """The reader collected the book bought for them from the hold shelf: the purchase has its loan, the request is
    done."""
    rows = await connections.get("default").execute_query_dict(_COLLECTED, [event.loan_id, event.reader_id])
    if rows:
        await PurchaseRequest.filter(purchase_id=rows[0]["id"], state=RequestState.ARRIVED).update(
            state=RequestState.RECEIVED, closed_at=event.at
        )


# What readers, staff and shops see.


async def my_requests(reader: Reader, *, limit: int, offset: int) -> tuple[list[PurchaseRequest], int]:
    """My requests, newest first, with their parcels."""
    query = _with_parcel(PurchaseRequest.filter(reader_id=reader.id))
    return await paging.page(query.order_by("-requested_at", "-id"), limit, offset)


async def library_requests(
    staff: StaffUser, library_code: str, state: RequestState | None, *, limit: int, offset: int
) -> tuple[list[PurchaseRequest], int]:
    """A main library's requests (an administrator over it), of one state or all: those waiting for a decision
    first, then the oldest first."""
    library = await main_library(library_code, staff)
    query = PurchaseRequest.filter(main_library_id=library.id)
    if state is not None:
        query = query.filter(state=state)
    # The ranks are text because Tortoise's types take no number there.
    waiting = Case(When(state=RequestState.PENDING, then="0"), default="1")
    ordered = _with_parcel(query).annotate(waiting=waiting).order_by("waiting", "requested_at", "id")
    return await paging.page(ordered, limit, offset)


async def to_send(clerk: StaffUser, *, limit: int, offset: int) -> tuple[Bookstore, list[PurchaseRequest], int]:
    """The approved requests the clerk's shop is to send, approved longest ago first."""
    bookstore = await clerks_bookstore(clerk)
    query = _with_parcel(PurchaseRequest.filter(bookstore_id=bookstore.id, state=RequestState.APPROVED))
    found, total = await paging.page(query.order_by("decided_at", "id"), limit, offset)
    return bookstore, found, total
