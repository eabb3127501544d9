"""Couriers' reports of their parcels, and the couriers as network administrators manage them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from backend.shipping.addresses import Address, MaskedAddress
from backend.shipping.couriers import CODE, NAME_LENGTH, SECRET_LENGTH
from backend.shipping.models import Courier, ShipmentState
from backend.shipping.services import TRACKING_NO, Report
from backend.shipping.states import Outcome
from miniprogram_api.schemas import Moment, Page, matching, matching_param, named, text, whole

CourierCode = Annotated[str, matching(CODE, "The courier's code: lowercase letters, digits and hyphens")]
CourierCodeParam = Annotated[str, matching_param(CODE, "The courier's code")]
TrackingNo = Annotated[str, matching(TRACKING_NO, "The courier's tracking number of the parcel")]
CourierName = Annotated[str, text(NAME_LENGTH[1], min_length=NAME_LENGTH[0])]
Secret = Annotated[
    str,
    msgspec.Meta(
        min_length=SECRET_LENGTH[0],
        max_length=SECRET_LENGTH[1],
        pattern=whole("[!-~]*"),
        description="The secret the courier signs its reports with: 32 to 128 printable ASCII characters",
    ),
]


class ReportStatus(StrEnum):
    """The steps a courier reports: it is handed the parcel by the library, so never `shipped` or `cancelled`."""

    IN_TRANSIT = ShipmentState.IN_TRANSIT.value
    OUT_FOR_DELIVERY = ShipmentState.OUT_FOR_DELIVERY.value
    DELIVERED = ShipmentState.DELIVERED.value
    FAILED = ShipmentState.FAILED.value
    RETURNED = ShipmentState.RETURNED.value


class ReportIn(msgspec.Struct):
    """One step of one parcel, as the courier saw it. Fields other couriers add are ignored."""

    report_id: Annotated[str, text(64, min_length=1)]
    """The courier's id of this report: sent again (a retry), it is answered `repeated` and changes nothing."""
    tracking_no: TrackingNo
    status: ReportStatus
    occurred_at: Moment
    note: Annotated[str, text(200)] = ""

    def report(self) -> Report:
        return Report(
            self.report_id, self.tracking_no, ShipmentState(self.status.value), self.occurred_at, self.note.strip()
        )


class ReportOut(msgspec.Struct):
    result: Outcome
    """`applied`: the parcel moved; `repeated`: this report id was received before; `late`: older than the parcel's
    current step; `ignored`: not a step forward from it. Kept as a step in all but `repeated`: do not resend."""


class CourierIn(msgspec.Struct, forbid_unknown_fields=True):
    code: CourierCode
    name: CourierName
    secret: Secret


class CourierPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: CourierName | None = None
    secret: Secret | None = None
    """A new secret: reports signed with the old one are refused from now on."""
    active: bool | None = None


class CourierOut(msgspec.Struct):
    """A courier, never its secret."""

    code: str
    name: str
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, courier: Courier) -> CourierOut:
        return cls(courier.code, courier.name, courier.active, courier.created_at)


CourierPage = Annotated[Page[CourierOut], named("CourierPage")]


class AddressIn(msgspec.Struct, forbid_unknown_fields=True):
    """Where a parcel goes (or a courier collects): checked again by the server (`address_invalid`)."""

    recipient: Annotated[str, text(40, 1)]
    phone: Annotated[str, text(11, 11)]
    """A mainland mobile number, 11 digits."""
    address: Annotated[str, text(200, 5)]

    def parsed(self) -> Address:
        return Address.of(self.recipient, self.phone, self.address)


class AddressOut(msgspec.Struct):
    """A parcel's address: masked (张*, 138****5678) wherever it is listed, in full only on its label."""

    recipient: str
    phone: str
    address: str

    @classmethod
    def of(cls, address: Address | MaskedAddress | None) -> AddressOut | None:
        return None if address is None else cls(address.recipient, address.phone, address.address)


class ShipIn(msgspec.Struct, forbid_unknown_fields=True):
    courier_code: CourierCode | None = None
    """With `tracking_no`: the courier the parcel is handed to. Both left out: the library's own van (to a service
    point only)."""
    tracking_no: TrackingNo | None = None
