"""Getting an order's books to its reader: each library's pick list, the pick scan, a copy not found, the gathering
at the packing library, the label, the hand-over to the courier, and the steps staff set by hand after it.

Every step takes the order's row lock (`orders.locked_order`, the fee's charge first) and moves a line by a
conditional UPDATE from the state it must be in: two scans of one copy at once move it once, and a scan racing the
reader's cancellation finds the line released. A scan finds its line by the copy's barcode, and a copy is in one
active line at most (a partial unique index), so a scan can only ever move the line of the copy's own order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend import paging
from backend.accounts.models import StaffUser
from backend.catalog.barcodes import normalise_barcode
from backend.catalog.errors import CopyNotFound
from backend.catalog.models import Copy, CopyStatus
from backend.circulation.domain_events import CopyMoved
from backend.circulation.holds import HoldPolicy
from backend.crypto import Keys
from backend.delivery import orders
from backend.delivery.errors import (
    DeliveryLineNotFound,
    DeliveryOrderNotFound,
    LabelNotNeeded,
    NotToGather,
    NotToPick,
    OrderNotPacked,
    OrderNotShipped,
)
from backend.delivery.models import ACTIVE_LINE, DeliveryLine, DeliveryOrder, LineState, OrderState
from backend.delivery.policy import DeliveryPolicy
from backend.eventbus import EventBus, record
from backend.network.errors import OutsideScope
from backend.network.services import in_scope, library_in_scope
from backend.shipping import services as shipping
from backend.shipping.addresses import Address, label_address
from backend.shipping.models import Destination, Shipment, ShipmentState


async def pick_list(staff: StaffUser, code: str, *, limit: int, offset: int) -> tuple[list[DeliveryLine], int]:
    """The books this library's shelves hold for orders being picked (paid, or free), in shelf order to walk the
    shelves once: pull them and scan them."""
    library = await library_in_scope(code, staff.library.path)
    lines = DeliveryLine.filter(
        library_id=library.id,
        state=LineState.RESERVED,
        order__state=OrderState.PICKING,
        copy__current_library_id=library.id,
    )
    # A copy is in one active line at most and barcodes are unique: pages cut the same way every time.
    ordered = lines.select_related("copy", "record", "order").order_by("copy__shelf_location", "copy__barcode")
    return await paging.page(ordered, limit, offset)


@dataclass(frozen=True, slots=True)
class Scanned:
    """A line moved by a scan, and what it did to its order."""

    line: DeliveryLine  # with its copy and record
    order: DeliveryOrder  # with its packing library
    packed: bool  # this scan gathered the order's last book


async def pick(staff: StaffUser, barcode: str, *, now: datetime, bus: EventBus) -> Scanned:
    """A book pulled off the shelf of one of my libraries for its order: on its way to the packing library, or, at the
    packing library itself, gathered there at once (no second scan for a book that does not travel)."""
    async with bus.transaction():
        line = await _line_of(barcode)
        async with orders.locked_order(line.order_id) as order:
            await line.fetch_related("library")
            if not in_scope(line.library, staff.library.path):
                raise OutsideScope()
            if order.state is not OrderState.PICKING:
                raise NotToPick(barcode=line.copy.barcode)
            if line.copy.current_library_id == order.packing_library_id:
                await _gather(line, order, from_state=LineState.RESERVED, now=now, picked=True)
            else:
                moved = await DeliveryLine.filter(id=line.id, state=LineState.RESERVED).update(
                    state=LineState.PICKED, picked_at=now
                )
                if not moved:
                    raise NotToPick(barcode=line.copy.barcode)
                await Copy.filter(id=line.copy_id, status=CopyStatus.IN_DELIVERY).update(
                    in_transit_to_id=order.packing_library_id
                )
            return await _scanned(line, order)


async def gather(staff: StaffUser, barcode: str, *, now: datetime, bus: EventBus) -> Scanned:
    """A picked book has reached the packing library, and its staff scan it: when it is the order's last book, the
    order is packed, ready for the courier."""
    async with bus.transaction():
        line = await _line_of(barcode)
        async with orders.locked_order(line.order_id) as order:
            await order.fetch_related("packing_library")
            if not in_scope(order.packing_library, staff.library.path):
                raise OutsideScope()
            await _gather(line, order, from_state=LineState.PICKED, now=now, picked=False)
            return await _scanned(line, order)


async def _gather(
    line: DeliveryLine, order: DeliveryOrder, *, from_state: LineState, now: datetime, picked: bool
) -> None:
    changes = {"state": LineState.GATHERED, "gathered_at": now, **({"picked_at": now} if picked else {})}
    if not await DeliveryLine.filter(id=line.id, state=from_state).update(**changes):
        raise NotToGather(barcode=line.copy.barcode)
    copy = line.copy
    if copy.current_library_id != order.packing_library_id:
        record(CopyMoved(copy.id, copy.record_id, order.packing_library_id))
    await Copy.filter(id=copy.id, status=CopyStatus.IN_DELIVERY).update(
        current_library_id=order.packing_library_id, in_transit_to_id=None
    )
    await orders.pack_if_gathered(order)


async def _scanned(line: DeliveryLine, order: DeliveryOrder) -> Scanned:
    before = order.state
    await line.refresh_from_db()
    await order.refresh_from_db()
    await line.fetch_related("copy", "record")
    await order.fetch_related("packing_library")
    return Scanned(line, order, packed=before is not OrderState.PACKED and order.state is OrderState.PACKED)


async def _line_of(barcode: str) -> DeliveryLine:
    """The active line of the copy with this barcode: its order's, whoever scans it."""
    barcode = normalise_barcode(barcode)
    line = await DeliveryLine.filter(copy__barcode=barcode, state__in=ACTIVE_LINE).select_related("copy").first()
    if line is not None:
        return line
    if not await Copy.exists(barcode=barcode):
        raise CopyNotFound(barcode=barcode)
    raise NotToPick(barcode=barcode)


async def missing(
    staff: StaffUser,
    line_id: int,
    *,
    now: datetime,
    policy: DeliveryPolicy,
    hold_policy: HoldPolicy,
    bus: EventBus,
) -> DeliveryOrder:
    """A book on my library's pick list that is not on the shelf (or a picked one lost on its way): the copy is
    marked lost and dropped from its order, whose fee is refitted to the books left (the difference refunded), or
    which is cancelled and refunded when none is left."""
    async with bus.transaction():
        found = await DeliveryLine.get_or_none(id=line_id, state__in=[LineState.RESERVED, LineState.PICKED])
        if found is None:
            raise DeliveryLineNotFound()
        async with orders.locked_order(found.order_id) as order:
            line = await DeliveryLine.get_or_none(id=line_id, state__in=[LineState.RESERVED, LineState.PICKED])
            if line is None:
                raise DeliveryLineNotFound()
            await line.fetch_related("library")
            await order.fetch_related("packing_library")
            if not (in_scope(line.library, staff.library.path) or in_scope(order.packing_library, staff.library.path)):
                raise OutsideScope()
            await orders.drop_line(order, line, now=now, policy=policy, hold_policy=hold_policy)
    return await _shown(order.id)


async def ship(
    staff: StaffUser,
    order_id: int,
    *,
    courier_code: str | None,
    tracking_no: str | None,
    now: datetime,
    bus: EventBus,
) -> DeliveryOrder:
    """Hand a packed order to its courier with the courier's tracking number, or (to a service point) to the
    library's van without one: the reader is told it is on its way. Staff of the packing library only. A home order
    is packed only once paid (it is picked only then), so a packed order is paid."""
    async with bus.transaction():
        order = await _order_at_packing(staff, order_id)
        async with orders.locked_order(order.id) as order:
            if order.state is not OrderState.PACKED:
                raise OrderNotPacked(state=order.state.value)
            await shipping.hand_over(
                order.shipment_id, courier_code=courier_code, tracking_no=tracking_no, now=now, staff=staff
            )
    return await _shown(order.id)


@dataclass(frozen=True, slots=True)
class Label:
    order: DeliveryOrder
    address: Address
    lines: list[DeliveryLine]  # the books in the parcel, with their copies and records


async def label(staff: StaffUser, order_id: int, keys: Keys, now: datetime) -> Label:
    """The parcel's label with the reader's full address, for the packing library's staff only, while the order is
    being picked or packed: personal data, shown in full where the parcel is made up and nowhere else, and each
    showing logged with the staff look-ups of readers (PIPL: who saw whose personal data, and when)."""
    order = await _order_at_packing(staff, order_id)
    if order.state not in (OrderState.PICKING, OrderState.PACKED):
        raise LabelNotNeeded()
    shipment = await Shipment.get(id=order.shipment_id)
    address = await label_address(keys, shipment, staff=staff, subject=f"delivery-label:{order.id}", now=now)
    if address is None:  # to a service point: no address to show
        raise LabelNotNeeded()
    lines = DeliveryLine.filter(order_id=order.id, state__in=ACTIVE_LINE).select_related("copy", "record")
    return Label(order, address, await lines.order_by("id"))


async def _order_at_packing(staff: StaffUser, order_id: int) -> DeliveryOrder:
    """The order, when it is packed at one of my libraries."""
    order = await DeliveryOrder.get_or_none(id=order_id).select_related("packing_library")
    if order is None:
        raise DeliveryOrderNotFound()
    if not in_scope(order.packing_library, staff.library.path):
        raise OutsideScope()
    return order


ARRIVAL_NOTE = "服务点已收到"


async def set_status(
    staff: StaffUser, order_id: int, state: ShipmentState, *, note: str, now: datetime, bus: EventBus
) -> DeliveryOrder:
    """Staff of the packing library set a step of a parcel that has left, by hand (in transit, out for delivery,
    delivered, failed, returned): for a courier that does not report, or the library's van. What follows from it
    (the books lent or shelved, or back in circulation) is what follows from a courier's report."""
    order = await _order_at_packing(staff, order_id)
    return await _set_step(order, state, staff=staff, note=note, now=now, bus=bus)


async def arrived(staff: StaffUser, order_id: int, *, now: datetime, bus: EventBus) -> DeliveryOrder:
    """The parcel has reached my service point (the library's van, or a courier that does not report): its books go
    on the hold shelf here for the reader."""
    order = await DeliveryOrder.get_or_none(id=order_id).select_related("shipment__pickup_library")
    if order is None:
        raise DeliveryOrderNotFound()
    point = order.shipment.pickup_library
    if order.shipment.destination is not Destination.SERVICE_POINT or point is None:
        raise DeliveryOrderNotFound()
    if not in_scope(point, staff.library.path):
        raise OutsideScope()
    return await _set_step(order, ShipmentState.DELIVERED, staff=staff, note=ARRIVAL_NOTE, now=now, bus=bus)


async def _set_step(
    order: DeliveryOrder, state: ShipmentState, *, staff: StaffUser, note: str, now: datetime, bus: EventBus
) -> DeliveryOrder:
    # Before the hand-over the parcel has no journey to set; the order is not locked here but by the handlers of the
    # step's event, after the shipment, in the order a courier's report takes them.
    if order.state not in (OrderState.SHIPPED, OrderState.FAILED):
        raise OrderNotShipped(state=order.state.value)
    async with bus.transaction():
        await shipping.set_state(order.shipment_id, state, now=now, staff=staff, note=note)
    return await _shown(order.id)


async def _shown(order_id: int) -> DeliveryOrder:
    """The order as staff are shown it: with its parcel, service point and packing library."""
    return await DeliveryOrder.get(id=order_id).select_related("shipment__pickup_library", "packing_library")
