"""Reader-chosen purchases online: readers ask for a book of a partner's stock, sent to a service point or their
door; administrators of the main library approve or refuse; the shop's clerks send what is approved."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import Parameter, QueryParameter

from backend.accounts.errors import ChildNotFound, RoleTooLow
from backend.accounts.models import Reader, StaffUser
from backend.catalog.errors import InvalidIsbn
from backend.circulation.errors import PickupNotOffered
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.purchases import requests
from backend.purchases.errors import (
    BookstoreNotFound,
    NotInStock,
    NotMainLibrary,
    NotThisBookstore,
    PurchaseRefused,
    PurchaseRequestNotFound,
    RequestNotApproved,
    RequestNotCancellable,
    RequestNotPending,
)
from backend.purchases.models import PurchaseRequest, RequestState
from backend.shipping.addresses import masked
from backend.shipping.errors import (
    AddressInvalid,
    AddressRequired,
    CourierNotFound,
    CourierRequired,
    ShipmentNotPreparing,
    StateNotForward,
    StateNotSettable,
    TrackingNumberInvalid,
    TrackingNumberTaken,
)
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, CLERK_PROBLEMS, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.network.schemas import LibraryCodeParam
from miniprogram_api.purchases.schemas import (
    ParcelStepIn,
    PurchaseRequestIn,
    PurchaseRequestOut,
    PurchaseRequestPage,
    RefusalIn,
)
from miniprogram_api.schemas import Offset, Page, ReaderLimit, RowId, StaffLimit
from miniprogram_api.shipping.schemas import ShipIn

_ADMIN = (*STAFF_PROBLEMS, RoleTooLow, PurchaseRequestNotFound)
_CLERK = (*CLERK_PROBLEMS, NotThisBookstore, BookstoreNotFound)


def _shown(deps: Dependencies, request: PurchaseRequest) -> PurchaseRequestOut:
    return PurchaseRequestOut.of(request, masked(deps.keys, request.shipment))


class ReaderRequestController(Controller):
    path = "/readers/me/purchase-requests"
    tags = ["Reader-chosen purchases"]
    security = BEARER

    @post(
        "/",
        status_code=201,
        responses=problems(
            *READER_PROBLEMS,
            *(InvalidIsbn, NotInStock, PurchaseRefused, LibraryNotFound, PickupNotOffered),
            *(AddressRequired, AddressInvalid, ChildNotFound),
        ),
    )
    async def create(self, deps: Dependencies, reader: Reader, data: PurchaseRequestIn) -> PurchaseRequestOut:
        """Ask the library to buy a book of a partner's stock for me and send it to a service point (its hold shelf)
        or to my door. Refused with every reason the shop's check gives (`purchase_refused`, its `reasons` listed;
        `sold_out` among them when the shop has none left). Waits for the library's staff, or is approved at once
        when the book is listed below the library's auto-approval price; the loan starts when I have the book."""
        made = await requests.request_purchase(
            reader,
            data.bookstore_id,
            data.isbn,
            data.delivery(),
            keys=deps.keys,
            now=deps.clock.now(),
            bus=deps.bus,
            policy=deps.purchase_policy,
            credit_check=deps.credit_check,
        )
        return _shown(deps, made)

    @get("/", responses=problems(*READER_PROBLEMS))
    async def mine(
        self, deps: Dependencies, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0
    ) -> PurchaseRequestPage:
        """My requests, newest first, with their parcels."""
        found, total = await requests.my_requests(reader, limit=limit, offset=offset)
        return Page.of([_shown(deps, r) for r in found], total, limit, offset)

    @post(
        "/{request_id:int}/cancel",
        status_code=200,
        responses=problems(*READER_PROBLEMS, PurchaseRequestNotFound, RequestNotCancellable),
    )
    async def cancel(self, deps: Dependencies, reader: Reader, request_id: RowId) -> PurchaseRequestOut:
        """Cancel my request while the shop has not sent the book (`purchase_request_not_cancellable` once it has)."""
        return _shown(deps, await requests.cancel_request(reader, request_id, deps.clock.now()))


class StaffRequestController(Controller):
    path = "/staff/purchase-requests"
    tags = ["Staff: reader-chosen purchases"]
    security = BEARER

    @get("/", responses=problems(*_ADMIN, LibraryNotFound, OutsideScope, NotMainLibrary))
    async def listed(
        self,
        deps: Dependencies,
        staff: StaffUser,
        library: Annotated[LibraryCodeParam, Parameter(description="The main library the requests are to")],
        in_state: Annotated[
            RequestState | None, QueryParameter(name="state", description="Only these; left out: all, waiting first")
        ] = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> PurchaseRequestPage:
        """A main library's requests (administrators over it), of one state or all: those waiting for a decision
        first, then the oldest first."""
        found, total = await requests.library_requests(staff, library, in_state, limit=limit, offset=offset)
        return Page.of([_shown(deps, r) for r in found], total, limit, offset)

    @post(
        "/{request_id:int}/approve",
        status_code=200,
        responses=problems(*_ADMIN, RequestNotPending, PurchaseRefused, NotInStock, ChildNotFound),
    )
    async def approve(self, deps: Dependencies, staff: StaffUser, request_id: RowId) -> PurchaseRequestOut:
        """Approve a waiting request: the check runs again as the reader and the budget are now (`purchase_refused`,
        `budget_short` among its reasons when the budget cannot cover it), then the price is reserved in this
        month's budget and the shop is to send the book."""
        approved = await requests.approve_request(
            staff, request_id, now=deps.clock.now(), policy=deps.purchase_policy, credit_check=deps.credit_check
        )
        return _shown(deps, approved)

    @post("/{request_id:int}/refuse", status_code=200, responses=problems(*_ADMIN, RequestNotCancellable))
    async def refuse(
        self, deps: Dependencies, staff: StaffUser, request_id: RowId, data: RefusalIn
    ) -> PurchaseRequestOut:
        """Refuse a request the shop has not sent, saying why (the reader sees it): an approved one's reservation
        goes back to the budget."""
        return _shown(deps, await requests.refuse_request(staff, request_id, data.reason, deps.clock.now()))

    @post(
        "/{request_id:int}/parcel-steps",
        status_code=200,
        responses=problems(*_ADMIN, StateNotSettable, StateNotForward),
    )
    async def parcel_step(
        self, deps: Dependencies, staff: StaffUser, request_id: RowId, data: ParcelStepIn
    ) -> PurchaseRequestOut:
        """Set a step of a request's parcel by hand, as its courier would report it (librarians of the service point
        it goes to, or of its main library): `delivered` when the library's van brought it to the service point, which
        puts the book on the hold shelf for the reader."""
        moved = await requests.set_parcel_state(
            staff, request_id, data.state, note=data.note, now=deps.clock.now(), bus=deps.bus
        )
        return _shown(deps, moved)


class ClerkRequestController(Controller):
    path = "/bookstore/purchase-requests"
    tags = ["Partner bookstore clerks"]
    security = BEARER

    @get("/", responses=problems(*_CLERK))
    async def to_send(
        self, deps: Dependencies, clerk: StaffUser, limit: StaffLimit = 50, offset: Offset = 0
    ) -> PurchaseRequestPage:
        """The approved requests my shop is to send: approved longest ago first, each with where it goes (a door's
        address masked here; in full on the request's label)."""
        _, found, total = await requests.to_send(clerk, limit=limit, offset=offset)
        return Page.of([_shown(deps, r) for r in found], total, limit, offset)

    @get("/{request_id:int}/label", responses=problems(*_CLERK, PurchaseRequestNotFound, RequestNotApproved))
    async def label(self, deps: Dependencies, clerk: StaffUser, request_id: RowId) -> PurchaseRequestOut:
        """The parcel's label: the reader's full address, to send an approved request to the door (personal data,
        each showing logged)."""
        request, address = await requests.label(clerk, request_id, deps.keys, deps.clock.now())
        return PurchaseRequestOut.of(request, address)

    @post(
        "/{request_id:int}/ship",
        status_code=200,
        responses=problems(
            *_CLERK,
            *(PurchaseRequestNotFound, RequestNotApproved, CourierRequired, CourierNotFound),
            *(TrackingNumberInvalid, TrackingNumberTaken, ShipmentNotPreparing),
        ),
    )
    async def ship(self, deps: Dependencies, clerk: StaffUser, request_id: RowId, data: ShipIn) -> PurchaseRequestOut:
        """Hand an approved request's parcel over: to a courier with its tracking number (required to a reader's
        door), or, to a service point, to nobody when the library's own van collects it."""
        sent = await requests.ship_request(
            clerk,
            request_id,
            courier_code=data.courier_code,
            tracking_no=data.tracking_no,
            now=deps.clock.now(),
            bus=deps.bus,
        )
        return _shown(deps, sent)


CONTROLLERS: list[type[Controller]] = [ReaderRequestController, StaffRequestController, ClerkRequestController]
