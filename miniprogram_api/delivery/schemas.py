"""What readers send and are answered about borrowing for delivery: the basket, orders and courier pickups."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.delivery.basket import BasketLine
from backend.delivery.models import DeliveryLine, DeliveryOrder, LineState, OrderState, PickupState, ReturnPickup
from backend.delivery.orders import OrderView
from backend.network.models import Library
from backend.shipping.models import Destination, ShipmentState, Step
from miniprogram_api.network.schemas import Code
from miniprogram_api.schemas import Page, RowId, named
from miniprogram_api.shipping.schemas import AddressIn, AddressOut


class BasketIn(msgspec.Struct, forbid_unknown_fields=True):
    record_id: RowId


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    """An order of chosen titles, or (no `record_ids`) of every title in the basket, to a service point
    (`pickup_library_code`) or the door (`address`)."""

    destination: Destination
    record_ids: Annotated[list[RowId], msgspec.Meta(max_length=50)] | None = None
    pickup_library_code: Code | None = None
    address: AddressIn | None = None


class PickupIn(msgspec.Struct, forbid_unknown_fields=True):
    """A courier to collect `books` books at `address` for the library `library_code`."""

    books: Annotated[int, msgspec.Meta(ge=1, le=20)]
    library_code: Code
    address: AddressIn


class LibraryOut(msgspec.Struct):
    code: str
    name: str

    @classmethod
    def of(cls, library: Library | None) -> LibraryOut | None:
        return None if library is None else cls(library.code, library.name)


class BasketItemOut(msgspec.Struct):
    record_id: int
    title: str
    orderable: int
    """Copies an order could take now: 0, none for now."""
    added_at: datetime

    @classmethod
    def of(cls, line: BasketLine) -> BasketItemOut:
        return cls(line.item.record_id, line.item.record.title, line.orderable, line.item.added_at)


BasketPage = Annotated[Page[BasketItemOut], named("DeliveryBasketPage")]


class OrderLineOut(msgspec.Struct):
    record_id: int
    title: str
    barcode: str
    library: LibraryOut | None
    """Where the copy was when the order took it."""
    state: LineState
    due_at: datetime | None
    """Once lent: when it is due back."""

    @classmethod
    def of(cls, line: DeliveryLine) -> OrderLineOut:
        loan = line.loan
        return cls(
            line.record_id,
            line.record.title,
            line.copy.barcode,
            LibraryOut.of(line.library),
            line.state,
            None if loan is None else loan.due_at,
        )


class StepOut(msgspec.Struct):
    state: ShipmentState
    occurred_at: datetime

    @classmethod
    def of(cls, step: Step) -> StepOut:
        return cls(step.state, step.occurred_at)


class OrderOut(msgspec.Struct):
    """An order: `fee_fen` is paid (`paid`) through the payments endpoint with `charge_id` before its books are
    picked; `lines` and `steps` (the parcel's, oldest first) only on one order."""

    id: int
    state: OrderState
    destination: Destination
    pickup_library: LibraryOut | None
    fee_fen: int
    charge_id: int | None
    paid: bool
    placed_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None
    closed_at: datetime | None
    cancel_reason: str
    tracking_no: str | None
    address: AddressOut | None = None
    lines: list[OrderLineOut] | None = None
    steps: list[StepOut] | None = None

    @classmethod
    def of(cls, order: DeliveryOrder) -> OrderOut:
        """An order with its shipment and service point loaded."""
        shipment = order.shipment
        return cls(
            id=order.id,
            state=order.state,
            destination=shipment.destination,
            pickup_library=LibraryOut.of(shipment.pickup_library),
            fee_fen=order.fee_fen,
            charge_id=order.charge_id,
            paid=order.paid_at is not None,
            placed_at=order.placed_at,
            paid_at=order.paid_at,
            delivered_at=order.delivered_at,
            closed_at=order.closed_at,
            cancel_reason=order.cancel_reason,
            tracking_no=shipment.tracking_no,
        )

    @classmethod
    def seen(cls, view: OrderView) -> OrderOut:
        out = cls.of(view.order)
        out.address = AddressOut.of(view.address)
        out.lines = [OrderLineOut.of(line) for line in view.lines]
        out.steps = [StepOut.of(step) for step in view.steps]
        return out


OrderPage = Annotated[Page[OrderOut], named("DeliveryOrderPage")]


class PickupOut(msgspec.Struct):
    """A courier pickup: `fee_fen` is paid through the payments endpoint with `charge_id` before the courier comes.
    The books are checked in at the library as any return."""

    id: int
    state: PickupState
    books: int
    library: LibraryOut | None
    fee_fen: int
    charge_id: int | None
    booked_at: datetime
    closed_at: datetime | None
    tracking_no: str | None

    @classmethod
    def of(cls, pickup: ReturnPickup) -> PickupOut:
        """A pickup with its shipment and library loaded."""
        shipment = pickup.shipment
        return cls(
            pickup.id,
            pickup.state,
            pickup.books,
            LibraryOut.of(shipment.pickup_library),
            pickup.fee_fen,
            pickup.charge_id,
            pickup.booked_at,
            pickup.closed_at,
            shipment.tracking_no,
        )


PickupPage = Annotated[Page[PickupOut], named("DeliveryPickupPage")]
