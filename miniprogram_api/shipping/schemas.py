"""Couriers' reports of their parcels, and the couriers as network administrators manage them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from backend.shipping.couriers import CODE, NAME_LENGTH, SECRET_LENGTH
from backend.shipping.models import Courier, ShipmentState
from backend.shipping.services import TRACKING_NO, Report
from backend.shipping.states import Outcome
from miniprogram_api.schemas import Moment, Page, matching, matching_param, named, text, whole

CourierCode = Annotated[str, matching(CODE, "The courier's code: lowercase letters, digits and hyphens")]
CourierCodeParam = Annotated[str, matching_param(CODE, "The courier's code")]
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
    tracking_no: Annotated[str, matching(TRACKING_NO)]
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
