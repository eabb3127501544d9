"""Borrowing online for delivery (网上借阅，送书上门, Hangzhou's 悦借): the reader's basket, the orders with the copies
reserved for them, and the courier pickups of books going back."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader
from backend.catalog.models import Copy, Record
from backend.circulation.models import Hold, Loan
from backend.money.models import Charge
from backend.network.models import Library
from backend.shipping.models import Shipment


class BasketItem(Model):
    """A title the reader means to order; a copy is chosen only when the order is placed."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="basket", on_delete=fields.CASCADE
    )
    reader_id: int
    record: fields.ForeignKeyRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="in_baskets", on_delete=fields.CASCADE
    )
    record_id: int
    added_at = fields.DatetimeField()

    class Meta:
        table = "delivery_basket"
        unique_together = (("reader_id", "record_id"),)


class OrderState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"  # home delivery: its fee is paid before the copies are picked
    PICKING = "picking"  # copies pulled at their libraries and gathered where the order is packed
    PACKED = "packed"  # every copy gathered: ready for the courier
    SHIPPED = "shipped"
    DELIVERED = "delivered"  # lent at the door, or waiting on the service point's hold shelf
    FAILED = "failed"  # the courier could not deliver: the parcel is coming back
    RETURNED = "returned"  # back at the packing library, its copies back in circulation
    CANCELLED = "cancelled"


OPEN_ORDER = (
    OrderState.AWAITING_PAYMENT,
    OrderState.PICKING,
    OrderState.PACKED,
    OrderState.SHIPPED,
    OrderState.FAILED,
)


class DeliveryOrder(Model):
    """A reader's order of books the network holds, delivered to a service point or their door. Its parcel (the
    destination, the address, the courier's steps) is a shipment; its fee a charge on the reader's card."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="delivery_orders", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    packing_library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="delivery_orders_packed", on_delete=fields.RESTRICT
    )
    packing_library_id: int
    shipment: fields.OneToOneRelation[Shipment] = fields.OneToOneField(
        "models.Shipment", related_name="delivery_order", on_delete=fields.RESTRICT
    )
    shipment_id: int
    state = fields.CharEnumField(OrderState, max_length=20)
    fee_fen = fields.IntField(default=0)  # what the reader pays for delivery now (less when a book drops out)
    charge: fields.ForeignKeyNullableRelation[Charge] = fields.ForeignKeyField(
        "models.Charge", related_name="delivery_orders", null=True, on_delete=fields.RESTRICT
    )  # the fee's charge; none for a free delivery
    charge_id: int | None
    loan_days = fields.SmallIntField()  # the loans it ends in run this long from receipt
    placed_at = fields.DatetimeField()
    paid_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    cancel_reason = fields.CharField(max_length=200, default="")

    class Meta:
        table = "delivery_order"
        indexes = (("state", "placed_at"), ("reader_id", "placed_at"), ("packing_library_id", "state"))


class LineState(StrEnum):
    RESERVED = "reserved"  # held for the order at its library: on that library's pick list
    PICKED = "picked"  # pulled from the shelf, on its way to the packing library
    GATHERED = "gathered"  # at the packing library
    DELIVERED = "delivered"  # lent to the reader, or on the service point's hold shelf for them
    MISSING = "missing"  # not found when picked: dropped from the order
    RELEASED = "released"  # the order was cancelled or came back: the copy is back in circulation


ACTIVE_LINE = (LineState.RESERVED, LineState.PICKED, LineState.GATHERED)
"""A copy is in one active line at most: a partial unique index (migration)."""


class DeliveryLine(Model):
    """A copy of an order. While the line is active the copy's status is `in_delivery`: no one else can borrow it
    and no hold can trap it."""

    id = fields.BigIntField(primary_key=True)
    order: fields.ForeignKeyRelation[DeliveryOrder] = fields.ForeignKeyField(
        "models.DeliveryOrder", related_name="lines", on_delete=fields.CASCADE
    )
    order_id: int
    copy: fields.ForeignKeyRelation[Copy] = fields.ForeignKeyField(
        "models.Copy", related_name="delivery_lines", on_delete=fields.RESTRICT
    )
    copy_id: int
    record: fields.ForeignKeyRelation[Record] = fields.ForeignKeyField(
        "models.Record", related_name="delivery_lines", on_delete=fields.RESTRICT
    )
    record_id: int
    library: fields.ForeignKeyRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="delivery_picks", on_delete=fields.RESTRICT
    )  # where the copy was when reserved: the pick list it is on
    library_id: int
    state = fields.CharEnumField(LineState, max_length=20, default=LineState.RESERVED)
    picked_at = fields.DatetimeField(null=True)
    gathered_at = fields.DatetimeField(null=True)
    loan: fields.ForeignKeyNullableRelation[Loan] = fields.ForeignKeyField(
        "models.Loan", related_name="delivery_lines", null=True, on_delete=fields.SET_NULL
    )
    hold: fields.ForeignKeyNullableRelation[Hold] = fields.ForeignKeyField(
        "models.Hold", related_name="delivery_lines", null=True, on_delete=fields.SET_NULL
    )  # the hold it waits on at the service point

    class Meta:
        table = "delivery_line"
        indexes = (("library_id", "state"), ("order_id",))


class PickupState(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"  # booked; the courier is sent once its fee is paid
    BOOKED = "booked"  # paid: handed to the courier to collect
    COLLECTED = "collected"  # handed to the courier, who collects the books and carries them
    RECEIVED = "received"  # at the library, where the loans are checked in as any return
    CANCELLED = "cancelled"


class ReturnPickup(Model):
    """A courier booked in the app to collect books from the reader's door and take them to a library: its parcel
    is a shipment whose address is where it is collected and whose library is where it goes."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="return_pickups", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    shipment: fields.OneToOneRelation[Shipment] = fields.OneToOneField(
        "models.Shipment", related_name="return_pickup", on_delete=fields.RESTRICT
    )
    shipment_id: int
    books = fields.SmallIntField()
    fee_fen = fields.IntField()
    charge: fields.ForeignKeyNullableRelation[Charge] = fields.ForeignKeyField(
        "models.Charge", related_name="return_pickups", null=True, on_delete=fields.RESTRICT
    )
    charge_id: int | None
    state = fields.CharEnumField(PickupState, max_length=20)
    booked_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "delivery_return_pickup"
        indexes = (("state", "booked_at"), ("reader_id", "booked_at"))
