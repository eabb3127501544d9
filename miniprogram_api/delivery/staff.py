"""Staff's side of borrowing for delivery (悦借): the pick lists and scans, the packing desk's label and hand-over,
the parcel's steps set by hand, the open orders and the figures."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import QueryParameter

from backend.accounts.models import StaffUser
from backend.catalog.errors import CopyNotFound
from backend.delivery import picking, pickups, reports
from backend.delivery.errors import (
    DeliveryFiguresPeriodInvalid,
    DeliveryLineNotFound,
    DeliveryOrderNotFound,
    LabelNotNeeded,
    NotToGather,
    NotToPick,
    OrderNotPacked,
    OrderNotShipped,
    PickupNotBooked,
    PickupNotFound,
)
from backend.delivery.models import OrderState
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.shipping.errors import (
    CourierNotFound,
    CourierRequired,
    ShipmentNotPreparing,
    StateNotForward,
    StateNotSettable,
    TrackingNumberInvalid,
    TrackingNumberTaken,
)
from entrypoints.bootstrap import Dependencies
from miniprogram_api.delivery.schemas import PickupOut
from miniprogram_api.delivery.staff_schemas import (
    FiguresOut,
    FiguresPage,
    LabelOut,
    OpenOrderOut,
    OpenOrderPage,
    PickLineOut,
    PickLinePage,
    PickupLabelOut,
    PickupPage,
    ScanIn,
    ScanOut,
    SendCourierIn,
    StaffOrderOut,
    StatusIn,
)
from miniprogram_api.deps import BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.network.schemas import CODE_PATTERN, LibraryCodeParam
from miniprogram_api.schemas import BigRowId, Day, Offset, Page, StaffLimit, matching_param
from miniprogram_api.shipping.schemas import ShipIn

_LIBRARY = Annotated[
    str | None,
    matching_param(CODE_PATTERN, "A library in my scope, with those below it; left out: my own library"),
]
_ORDER = (*STAFF_PROBLEMS, DeliveryOrderNotFound, OutsideScope)
_PICKUP = (*STAFF_PROBLEMS, PickupNotFound, PickupNotBooked, OutsideScope)


class StaffDeliveryController(Controller):
    path = "/staff/delivery"
    tags = ["Staff: delivery"]
    security = BEARER

    @get("/libraries/{code:str}/pick-list", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def pick_list(
        self, staff: StaffUser, code: LibraryCodeParam, limit: StaffLimit = 100, offset: Offset = 0
    ) -> PickLinePage:
        """Books on this library's shelves that readers ordered for delivery (paid, or free), in shelf order: pull
        them and scan them."""
        found, total = await picking.pick_list(staff, code, limit=limit, offset=offset)
        return Page.of([PickLineOut.of(line) for line in found], total, limit, offset)

    @post(
        "/picks",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, CopyNotFound, NotToPick, NotToGather, OutsideScope),
    )
    async def pick(self, deps: Dependencies, staff: StaffUser, data: ScanIn) -> ScanOut:
        """A book pulled for its order at one of my libraries: send it to the packing library (or, picked there,
        it is gathered at once)."""
        return ScanOut.of(await picking.pick(staff, data.barcode, now=deps.clock.now(), bus=deps.bus))

    @post(
        "/gathered",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, CopyNotFound, NotToPick, NotToGather, OutsideScope),
    )
    async def gathered(self, deps: Dependencies, staff: StaffUser, data: ScanIn) -> ScanOut:
        """A picked book arrived at my packing library: with its order's last book, the order is packed."""
        return ScanOut.of(await picking.gather(staff, data.barcode, now=deps.clock.now(), bus=deps.bus))

    @post(
        "/lines/{line_id:int}/missing",
        status_code=200,
        responses=problems(*STAFF_PROBLEMS, DeliveryLineNotFound, OutsideScope),
    )
    async def missing(self, deps: Dependencies, staff: StaffUser, line_id: BigRowId) -> StaffOrderOut:
        """A book of my pick list not on the shelf (or lost on its way to packing): marked lost and dropped from its
        order, whose fee is refitted and the difference refunded, or which is cancelled when no book is left."""
        order = await picking.missing(
            staff,
            line_id,
            now=deps.clock.now(),
            policy=deps.delivery_policy,
            hold_policy=deps.hold_policy,
            bus=deps.bus,
        )
        return StaffOrderOut.of(order)

    @post(
        "/orders/{order_id:int}/ship",
        status_code=200,
        responses=problems(
            *_ORDER,
            OrderNotPacked,
            CourierRequired,
            CourierNotFound,
            TrackingNumberInvalid,
            TrackingNumberTaken,
            ShipmentNotPreparing,
        ),
    )
    async def ship(self, deps: Dependencies, staff: StaffUser, order_id: BigRowId, data: ShipIn) -> StaffOrderOut:
        """Hand a packed order of my packing library to the courier with its tracking number, or (to a service
        point) to the library's van with neither: the reader is told it is on its way."""
        order = await picking.ship(
            staff,
            order_id,
            courier_code=data.courier_code,
            tracking_no=data.tracking_no,
            now=deps.clock.now(),
            bus=deps.bus,
        )
        return StaffOrderOut.of(order)

    @get("/orders/{order_id:int}/label", responses=problems(*_ORDER, LabelNotNeeded))
    async def label(self, deps: Dependencies, staff: StaffUser, order_id: BigRowId) -> LabelOut:
        """The courier label of a door delivery packed at my library: the reader's full name, phone and address
        (personal data, shown here only, while the order is picked or packed, and each showing logged)."""
        return LabelOut.of(await picking.label(staff, order_id, deps.keys, deps.clock.now()))

    @post(
        "/orders/{order_id:int}/status",
        status_code=200,
        responses=problems(*_ORDER, OrderNotShipped, StateNotSettable, StateNotForward),
    )
    async def status(self, deps: Dependencies, staff: StaffUser, order_id: BigRowId, data: StatusIn) -> StaffOrderOut:
        """Set a step of a parcel my packing library sent, by hand (a courier that does not report, the library's
        van): delivered lends the books or shelves them at the service point, returned puts them back in
        circulation, as a courier's report would."""
        order = await picking.set_status(
            staff, order_id, data.state, note=data.note, now=deps.clock.now(), bus=deps.bus
        )
        return StaffOrderOut.of(order)

    @post(
        "/orders/{order_id:int}/arrived",
        status_code=200,
        responses=problems(*_ORDER, OrderNotShipped, StateNotForward),
    )
    async def arrived(self, deps: Dependencies, staff: StaffUser, order_id: BigRowId) -> StaffOrderOut:
        """The parcel reached my service point: its books go on the hold shelf here for the reader."""
        return StaffOrderOut.of(await picking.arrived(staff, order_id, now=deps.clock.now(), bus=deps.bus))

    @get("/orders", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope))
    async def orders(
        self,
        deps: Dependencies,
        staff: StaffUser,
        library: _LIBRARY = None,
        # Not `state`: Litestar gives a handler's argument of that name the application's state.
        in_state: Annotated[
            OrderState | None, QueryParameter(name="state", description="Only the orders in this state")
        ] = None,
        limit: StaffLimit = 100,
        offset: Offset = 0,
    ) -> OpenOrderPage:
        """Open orders my libraries pack, supply or receive, late ones first, then the oldest."""
        found, total = await reports.open_orders(
            staff, library, in_state, now=deps.clock.now(), policy=deps.delivery_policy, limit=limit, offset=offset
        )
        return Page.of([OpenOrderOut.of(o) for o in found], total, limit, offset)

    @get("/figures", responses=problems(*STAFF_PROBLEMS, LibraryNotFound, OutsideScope, DeliveryFiguresPeriodInvalid))
    async def figures(
        self,
        deps: Dependencies,
        staff: StaffUser,
        library: _LIBRARY = None,
        from_day: Annotated[
            Day | None, QueryParameter(name="from", description="First day; left out: this month's first")
        ] = None,
        to_day: Annotated[
            Day | None, QueryParameter(name="to", description="Last day, counted; left out: today")
        ] = None,
        limit: StaffLimit = 100,
        offset: Offset = 0,
    ) -> FiguresPage:
        """Delivery at my library and each below it, day `from` to day `to` of the network's calendar (a year at
        most): orders placed, shipped, delivered, cancelled and returned, books delivered, the average days from
        order to delivery, and the fees paid. An order counts where it goes: its service point, or, to the door, its
        packing library."""
        days = reports.period(from_day, to_day, deps.network_time.day(deps.clock.now()))
        found, total = await reports.figures(staff, library, days, deps.network_time, limit=limit, offset=offset)
        return Page.of([FiguresOut.of(f) for f in found], total, limit, offset)


class StaffPickupController(Controller):
    path = "/staff/delivery/pickups"
    tags = ["Staff: delivery"]
    security = BEARER

    @get(responses=problems(*STAFF_PROBLEMS))
    async def to_send(self, staff: StaffUser, limit: StaffLimit = 100, offset: Offset = 0) -> PickupPage:
        """Paid courier pickups waiting for a courier: books coming back to my libraries, the first booked first."""
        found, total = await pickups.pickups_to_send(staff, limit=limit, offset=offset)
        return Page.of([PickupOut.of(pickup) for pickup in found], total, limit, offset)

    @get("/{pickup_id:int}/label", responses=problems(*_PICKUP))
    async def label(self, deps: Dependencies, staff: StaffUser, pickup_id: BigRowId) -> PickupLabelOut:
        """Where the courier is to collect the books, in full, to book it (personal data: each showing logged)."""
        pickup, address = await pickups.pickup_label(staff, pickup_id, deps.keys, deps.clock.now())
        return PickupLabelOut(PickupOut.of(pickup), address.recipient, address.phone, address.address)

    @post(
        "/{pickup_id:int}/courier",
        status_code=200,
        responses=problems(*_PICKUP, CourierNotFound, TrackingNumberInvalid, TrackingNumberTaken),
    )
    async def send_courier(
        self, deps: Dependencies, staff: StaffUser, pickup_id: BigRowId, data: SendCourierIn
    ) -> PickupOut:
        """The courier booked to collect the books, with its tracking number: its reports follow the books to my
        library, where the desk checks them in as any return, and the reader is told."""
        pickup = await pickups.send_courier(
            staff,
            pickup_id,
            courier_code=data.courier_code,
            tracking_no=data.tracking_no,
            now=deps.clock.now(),
            bus=deps.bus,
        )
        return PickupOut.of(pickup)


STAFF_CONTROLLERS: list[type[Controller]] = [StaffDeliveryController, StaffPickupController]
