"""Couriers and the parcels they carry to readers: a delivery order's books, a partner bookstore's purchase for a
reader, and each step the courier reported or staff set."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from backend.accounts.models import Reader, StaffUser
from backend.network.models import Library


class Courier(Model):
    """A courier company the network hands parcels to. It reports each parcel's steps to our webhook, signed with
    HMAC-SHA256 under the secret shared with it (stored encrypted: a database leak does not let anyone forge them)."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=20, unique=True)  # in the webhook's path: /couriers/{code}/reports
    name = fields.CharField(max_length=100)
    secret_encrypted = fields.BinaryField()
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "shipping_courier"


class Destination(StrEnum):
    SERVICE_POINT = "service_point"  # a library's hold shelf: the books wait there like holds
    HOME = "home"  # the reader's door


class ShipmentState(StrEnum):
    PREPARING = "preparing"  # being picked and packed (or, from a shop, waiting for the shop to send it)
    SHIPPED = "shipped"  # handed to the courier (or the library's own van)
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    FAILED = "failed"  # the courier could not deliver it: it is on its way back
    RETURNED = "returned"  # back where it left from
    CANCELLED = "cancelled"  # never sent


class Shipment(Model):
    """One parcel to one reader. Its state moves forward only (`shipping.states`): a courier report that is late,
    repeated or out of order is kept as a step but changes nothing it should not. The address, recipient and phone
    of a home delivery are personal data: encrypted, shown masked, emptied at the end of the retention period."""

    id = fields.BigIntField(primary_key=True)
    reader: fields.ForeignKeyNullableRelation[Reader] = fields.ForeignKeyField(
        "models.Reader", related_name="shipments", null=True, on_delete=fields.SET_NULL
    )
    reader_id: int | None
    destination = fields.CharEnumField(Destination, max_length=20)
    pickup_library: fields.ForeignKeyNullableRelation[Library] = fields.ForeignKeyField(
        "models.Library", related_name="shipments_to_pick_up", null=True, on_delete=fields.RESTRICT
    )  # the service point, for `service_point`
    pickup_library_id: int | None
    recipient_encrypted = fields.BinaryField(null=True)
    phone_encrypted = fields.BinaryField(null=True)
    address_encrypted = fields.BinaryField(null=True)
    courier: fields.ForeignKeyNullableRelation[Courier] = fields.ForeignKeyField(
        "models.Courier", related_name="shipments", null=True, on_delete=fields.RESTRICT
    )  # none: the library's own van (to a service point), or not yet handed over
    courier_id: int | None
    tracking_no = fields.CharField(max_length=40, null=True)
    state = fields.CharEnumField(ShipmentState, max_length=20, default=ShipmentState.PREPARING)
    state_at = fields.DatetimeField()  # when the current state happened, as reported: an older report is late
    created_at = fields.DatetimeField()
    shipped_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)  # delivered, returned or cancelled: the retention counts from here
    address_erased_at = fields.DatetimeField(null=True)

    class Meta:
        table = "shipping_shipment"
        unique_together = (("courier_id", "tracking_no"),)
        indexes = (("state", "created_at"), ("closed_at",))


class Step(Model):
    """A step of a parcel as it was reported (by its courier, once per report id) or set by staff: the reader's
    tracking page, and the record of what each report did."""

    id = fields.BigIntField(primary_key=True)
    shipment: fields.ForeignKeyRelation[Shipment] = fields.ForeignKeyField(
        "models.Shipment", related_name="steps", on_delete=fields.CASCADE
    )
    shipment_id: int
    state = fields.CharEnumField(ShipmentState, max_length=20)
    occurred_at = fields.DatetimeField()
    received_at = fields.DatetimeField()
    applied = fields.BooleanField()  # moved the parcel's state; false: late, repeated or not a move forward
    courier: fields.ForeignKeyNullableRelation[Courier] = fields.ForeignKeyField(
        "models.Courier", related_name="steps", null=True, on_delete=fields.RESTRICT
    )
    courier_id: int | None
    report_id = fields.CharField(max_length=64, null=True)  # the courier's id of its report: a repeat is known
    staff: fields.ForeignKeyNullableRelation[StaffUser] = fields.ForeignKeyField(
        "models.StaffUser", related_name="shipment_steps", null=True, on_delete=fields.SET_NULL
    )
    note = fields.CharField(max_length=200, default="")

    class Meta:
        table = "shipping_step"
        unique_together = (("courier_id", "report_id"),)
        indexes = (("shipment_id", "occurred_at"),)
