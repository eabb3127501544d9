"""Couriers report their parcels' steps to a signed webhook; network administrators add couriers and their secrets."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, patch, post
from litestar.params import HeaderParameter
from tortoise.exceptions import IntegrityError

from backend.accounts.errors import RoleTooLow
from backend.accounts.models import StaffUser
from backend.shipping import couriers
from backend.shipping.errors import (
    CourierCodeTaken,
    CourierInvalid,
    CourierNotFound,
    CourierSignatureInvalid,
    ReportConflict,
    ReportTimeInvalid,
    ShipmentNotFound,
)
from backend.shipping.services import apply_report
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.schemas import Offset, Page, StaffLimit, whole
from miniprogram_api.shipping.schemas import (
    CourierCodeParam,
    CourierIn,
    CourierOut,
    CourierPage,
    CourierPatch,
    ReportIn,
    ReportOut,
)

MAX_REPORT_BYTES = 4096
_ADMIN = (*STAFF_PROBLEMS, RoleTooLow)
_TIMESTAMP = "Unix seconds when the report was signed: more than 300 s from our clock is refused"
_SIGNATURE = 'Lowercase hex HMAC-SHA256 under the courier\'s secret of `f"{timestamp}.".encode() + body`'


class CourierReportController(Controller):
    path = "/couriers"
    tags = ["Couriers"]

    @post(
        "/{code:str}/reports",
        status_code=200,
        request_max_body_size=MAX_REPORT_BYTES,
        responses=problems(CourierSignatureInvalid, ShipmentNotFound, ReportTimeInvalid, ReportConflict),
    )
    async def report(
        self,
        deps: Dependencies,
        request: Request[Any, Any, Any],
        code: CourierCodeParam,
        data: ReportIn,
        timestamp: Annotated[
            str | None,
            HeaderParameter(name="X-Courier-Timestamp", pattern=whole("[0-9]{1,12}"), description=_TIMESTAMP),
        ] = None,
        signature: Annotated[
            str | None,
            HeaderParameter(name="X-Courier-Signature", pattern=whole("[0-9A-Fa-f]{1,64}"), description=_SIGNATURE),
        ] = None,
    ) -> ReportOut:
        """A courier's report of one step of a parcel it carries, signed with its secret. Applied when it moves the
        parcel forward and is not older than its current step; kept as a step either way, so a retry or a report out
        of order is safe. The parcel's owner (a delivery order, a purchase) and the reader's notice follow in the same
        transaction."""
        now = deps.clock.now()
        try:
            async with deps.bus.transaction():
                courier = await couriers.verify_report(
                    deps.keys, code, timestamp=timestamp, signature_hex=signature, body=await request.body(), now=now
                )
                return ReportOut(await apply_report(courier, data.report(), now))
        except IntegrityError:
            # Only one parcel is locked: the same report id arriving for two at once meets the unique index. Nothing
            # was stored; the courier sends it again, and a retry of a stored one is answered `repeated`.
            raise ReportConflict() from None


class StaffCourierController(Controller):
    path = "/staff/couriers"
    tags = ["Staff: couriers"]
    security = BEARER

    @post(responses=problems(*_ADMIN, CourierInvalid, CourierCodeTaken))
    async def create(self, deps: Dependencies, staff: StaffUser, data: CourierIn) -> CourierOut:
        """Add a courier the network hands parcels to, and the secret it signs its reports with (network
        administrators). The secret is stored encrypted and never shown again."""
        courier = await couriers.create_courier(
            deps.keys, staff, code=data.code, name=data.name, secret=data.secret, now=deps.clock.now()
        )
        return CourierOut.of(courier)

    @get(responses=problems(*_ADMIN))
    async def list(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> CourierPage:
        """The couriers, by code (network administrators)."""
        found, total = await couriers.list_couriers(staff, limit=limit, offset=offset)
        return Page.of([CourierOut.of(courier) for courier in found], total, limit, offset)

    @patch("/{code:str}", responses=problems(*_ADMIN, CourierNotFound, CourierInvalid))
    async def update(
        self, deps: Dependencies, staff: StaffUser, code: CourierCodeParam, data: CourierPatch
    ) -> CourierOut:
        """Rename a courier, rotate its secret, or stop (or resume) taking its reports (network administrators)."""
        courier = await couriers.update_courier(
            deps.keys, staff, code, name=data.name, secret=data.secret, active=data.active
        )
        return CourierOut.of(courier)


CONTROLLERS: list[type[Controller]] = [CourierReportController, StaffCourierController]
