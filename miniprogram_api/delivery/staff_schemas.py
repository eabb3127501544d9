"""What staff send and are answered about delivery orders: pick lists, scans, the parcel's label, its steps, the open
orders and the figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.delivery.models import DeliveryLine, DeliveryOrder, LineState, OrderState
from backend.delivery.picking import Label, Scanned
from backend.delivery.reports import Figures, OpenOrder
from backend.shipping.models import Destination, ShipmentState
from miniprogram_api.catalog.schemas import Barcode
from miniprogram_api.delivery.schemas import PickupOut
from miniprogram_api.schemas import Page, named, text
from miniprogram_api.shipping.schemas import CourierCode, TrackingNo

# As backend.shipping's courier codes and tracking numbers are written.


class ScanIn(msgspec.Struct, forbid_unknown_fields=True):
    barcode: Barcode


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    state: ShipmentState
    """in_transit, out_for_delivery, delivered, failed or returned: a step along the parcel's way, never back."""
    note: Annotated[str, text(200)] = ""


class PickLineOut(msgspec.Struct):
    """A book to pull off this library's shelves for an order."""

    line_id: int
    order_id: int
    barcode: str
    record_id: int
    title: str
    shelf_location: str
    placed_at: datetime

    @classmethod
    def of(cls, line: DeliveryLine) -> PickLineOut:
        copy = line.copy
        return cls(
            line.id,
            line.order_id,
            copy.barcode,
            line.record_id,
            line.record.title,
            copy.shelf_location,
            line.order.placed_at,
        )


PickLinePage = Annotated[Page[PickLineOut], named("DeliveryPickLinePage")]


class ScanOut(msgspec.Struct):
    """What the desk does with a book it scanned for an order."""

    line_id: int
    order_id: int
    barcode: str
    title: str
    line_state: LineState
    """picked: send it to `send_to_library_code`; gathered: put it with its order's books here."""
    send_to_library_code: str | None
    order_state: OrderState
    packed: bool
    """This was the order's last book: the parcel can be made up and shipped."""

    @classmethod
    def of(cls, scanned: Scanned) -> ScanOut:
        line, order = scanned.line, scanned.order
        send_to = order.packing_library.code if line.state is LineState.PICKED else None
        return cls(
            line.id, order.id, line.copy.barcode, line.record.title, line.state, send_to, order.state, scanned.packed
        )


class StaffOrderOut(msgspec.Struct):
    id: int
    state: OrderState
    destination: Destination
    packing_library_code: str
    pickup_library_code: str | None
    """The service point, for delivery to one."""
    fee_fen: int
    placed_at: datetime
    paid_at: datetime | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    closed_at: datetime | None
    cancel_reason: str

    @classmethod
    def of(cls, order: DeliveryOrder) -> StaffOrderOut:
        shipment = order.shipment
        point = shipment.pickup_library
        return cls(
            id=order.id,
            state=order.state,
            destination=shipment.destination,
            packing_library_code=order.packing_library.code,
            pickup_library_code=point.code if point is not None else None,
            fee_fen=order.fee_fen,
            placed_at=order.placed_at,
            paid_at=order.paid_at,
            shipped_at=shipment.shipped_at,
            delivered_at=order.delivered_at,
            closed_at=order.closed_at,
            cancel_reason=order.cancel_reason,
        )


class OpenOrderOut(msgspec.Struct):
    order: StaffOrderOut
    books: int
    late: bool
    """Not shipped within the days the network promises, or that long on its way and not delivered."""

    @classmethod
    def of(cls, found: OpenOrder) -> OpenOrderOut:
        return cls(StaffOrderOut.of(found.order), found.books, found.late)


OpenOrderPage = Annotated[Page[OpenOrderOut], named("DeliveryOpenOrderPage")]


class LabelBookOut(msgspec.Struct):
    barcode: str
    title: str


class LabelOut(msgspec.Struct):
    """The parcel's label: the reader's full address, for the packing desk only."""

    order_id: int
    recipient: str
    phone: str
    address: str
    sender: str
    """The packing library, as the courier returns an undelivered parcel to it."""
    sender_address: str
    books: list[LabelBookOut]

    @classmethod
    def of(cls, label: Label) -> LabelOut:
        packing = label.order.packing_library
        books = [LabelBookOut(line.copy.barcode, line.record.title) for line in label.lines]
        return cls(
            label.order.id,
            label.address.recipient,
            label.address.phone,
            label.address.address,
            packing.name,
            packing.address,
            books,
        )


class FiguresOut(msgspec.Struct):
    library_code: str
    library: str
    placed: int
    shipped: int
    delivered: int
    cancelled: int
    returned: int
    books_delivered: int
    average_days_to_delivery: float | None
    """From the order to the parcel's arrival, over the orders delivered in the period."""
    fees_fen: int
    """Delivery fees paid in the period, of orders not cancelled or returned since."""

    @classmethod
    def of(cls, f: Figures) -> FiguresOut:
        return cls(
            f.library_code,
            f.library,
            f.placed,
            f.shipped,
            f.delivered,
            f.cancelled,
            f.returned,
            f.books_delivered,
            f.average_days_to_delivery,
            f.fees_fen,
        )


FiguresPage = Annotated[Page[FiguresOut], named("DeliveryFiguresPage")]


class SendCourierIn(msgspec.Struct, forbid_unknown_fields=True):
    courier_code: CourierCode
    tracking_no: TrackingNo
    """The courier's number for the collection it booked."""


class PickupLabelOut(msgspec.Struct):
    """Where the courier collects a pickup's books, in full, for the library booking the courier."""

    pickup: PickupOut
    recipient: str
    phone: str
    address: str


PickupPage = Annotated[Page[PickupOut], named("StaffPickupPage")]
