"""A parcel's life: opened by the area whose parcel it is, handed over, moved by its courier's reports or by staff,
each step kept. Every change takes the shipment's row lock, so two reports at once are applied one after the other.

The owner (a delivery order, a purchase request, a courier pickup) opens its shipment in its own transaction and
learns of its steps from the domain events recorded here: `ShipmentShipped`, `ShipmentDelivered`, `ShipmentFailed`,
`ShipmentReturned`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from backend.accounts.models import StaffUser
from backend.circulation.errors import PickupNotOffered
from backend.crypto import Keys
from backend.eventbus import DomainEvent, record
from backend.network.errors import LibraryNotFound
from backend.network.models import Library
from backend.shipping.addresses import Address, seal
from backend.shipping.domain_events import ShipmentDelivered, ShipmentFailed, ShipmentReturned, ShipmentShipped
from backend.shipping.errors import (
    AddressRequired,
    CourierNotFound,
    CourierRequired,
    ReportTimeInvalid,
    ShipmentNotFound,
    ShipmentNotPreparing,
    StateNotForward,
    StateNotSettable,
    TrackingNumberInvalid,
    TrackingNumberTaken,
)
from backend.shipping.models import Courier, Destination, Shipment, ShipmentState, Step
from backend.shipping.states import FINAL, Outcome, outcome

CLOCK_SKEW = timedelta(seconds=300)  # how far ahead of our clock a courier's may run
TRACKING_NO = "[A-Za-z0-9-]{1,40}"  # what couriers print on their labels
_TRACKING_NO = re.compile(TRACKING_NO)
_EVENTS: dict[ShipmentState, type[ShipmentShipped | ShipmentDelivered | ShipmentFailed | ShipmentReturned]] = {
    ShipmentState.SHIPPED: ShipmentShipped,
    ShipmentState.DELIVERED: ShipmentDelivered,
    ShipmentState.FAILED: ShipmentFailed,
    ShipmentState.RETURNED: ShipmentReturned,
}
# Staff move a parcel by hand along the courier's path; handing over and cancelling have their own services.
_SETTABLE = frozenset(
    {
        ShipmentState.IN_TRANSIT,
        ShipmentState.OUT_FOR_DELIVERY,
        ShipmentState.DELIVERED,
        ShipmentState.FAILED,
        ShipmentState.RETURNED,
    }
)


async def open_shipment(
    keys: Keys,
    *,
    reader_id: int | None,
    destination: Destination,
    pickup_library_id: int | None,
    address: Address | None,
    now: datetime,
) -> Shipment:
    """A new parcel, being prepared, in the caller's transaction.

    To a service point: `pickup_library_id` is an active library with a hold shelf (else `PickupNotOffered`), and no
    address is kept. To the door: `address` is required (`AddressRequired`) and stored encrypted; a courier pickup
    (from the reader's door to a library) is a door parcel too, `address` where it is collected and
    `pickup_library_id` the active library it goes to."""
    library = None
    if pickup_library_id is not None:
        library = await Library.get_or_none(id=pickup_library_id)
        if library is None:
            raise LibraryNotFound()
    shipment = Shipment(
        reader_id=reader_id,
        destination=destination,
        pickup_library=library,
        state=ShipmentState.PREPARING,
        state_at=now,
        created_at=now,
    )
    if destination is Destination.SERVICE_POINT:
        if library is None:
            raise LibraryNotFound()
        if not (library.holds_pickup and library.active):
            raise PickupNotOffered(library=library.name)
    else:
        if address is None:
            raise AddressRequired()
        if library is not None and not library.active:
            raise LibraryNotFound()
        seal(keys, shipment, address)
    await shipment.save()
    return shipment


async def hand_over(
    shipment_id: int,
    *,
    courier_code: str | None,
    tracking_no: str | None,
    now: datetime,
    staff: StaffUser | None = None,
) -> Shipment:
    """Hand a parcel being prepared to its courier (with the courier's tracking number, the key of its reports) or,
    to a service point, to the library's own van (no courier). Records `ShipmentShipped`; call it inside
    `bus.transaction()`. Refused with `CourierRequired` (a door parcel without a courier and tracking number),
    `CourierNotFound`, `TrackingNumberInvalid`, `TrackingNumberTaken`, `ShipmentNotPreparing`."""
    courier = None
    if (courier_code is None) != (tracking_no is None):
        raise CourierRequired()
    if courier_code is not None and tracking_no is not None:
        if not _TRACKING_NO.fullmatch(tracking_no):
            raise TrackingNumberInvalid()
        courier = await Courier.get_or_none(code=courier_code, active=True)
        if courier is None:
            raise CourierNotFound()
    shipment = await _locked(shipment_id)
    if shipment.state is not ShipmentState.PREPARING:
        raise ShipmentNotPreparing(state=shipment.state.value)
    if courier is None and shipment.destination is Destination.HOME:
        raise CourierRequired()
    if courier is not None and await Shipment.exists(courier_id=courier.id, tracking_no=tracking_no):
        raise TrackingNumberTaken(tracking_no=tracking_no)
    shipment.courier = courier
    shipment.tracking_no = tracking_no
    try:
        await _move(shipment, ShipmentState.SHIPPED, occurred_at=now, received_at=now, staff=staff, note="")
    except IntegrityError as exc:  # the same number handed over at the same moment with another parcel
        raise TrackingNumberTaken(tracking_no=tracking_no) from exc
    return shipment


async def cancel_shipment(shipment_id: int, now: datetime) -> None:
    """A parcel never sent: its owner cancelled its order (no event: the owner knows). Refused with
    `ShipmentNotPreparing` once it has left."""
    shipment = await _locked(shipment_id)
    if shipment.state is ShipmentState.CANCELLED:
        return
    if shipment.state is not ShipmentState.PREPARING:
        raise ShipmentNotPreparing(state=shipment.state.value)
    shipment.state = ShipmentState.CANCELLED
    shipment.state_at = now
    shipment.closed_at = now
    await shipment.save(update_fields=["state", "state_at", "closed_at"])


async def set_state(
    shipment_id: int, state: ShipmentState, *, now: datetime, staff: StaffUser | None, note: str = ""
) -> Step:
    """Staff set a step by hand (in transit, out for delivery, delivered, failed, returned), as a courier would
    report it now; the owning area checks the staff member's scope first. Records the matching event; call it inside
    `bus.transaction()`. Refused with `StateNotSettable` or `StateNotForward` (the parcel is past it, or was never
    handed over: only `hand_over` sends a parcel, after its owner's checks)."""
    if state not in _SETTABLE:
        raise StateNotSettable(state=state.value)
    shipment = await _locked(shipment_id)
    unsent = shipment.state is ShipmentState.PREPARING
    if unsent or outcome(shipment.state, shipment.state_at, state, now) is not Outcome.APPLIED:
        raise StateNotForward(state=shipment.state.value, to=state.value)
    return await _move(shipment, state, occurred_at=now, received_at=now, staff=staff, note=note[:200])


@dataclass(frozen=True, slots=True)
class Report:
    """A courier's report of one step of a parcel, as its webhook body carries it."""

    report_id: str
    tracking_no: str
    status: ShipmentState
    occurred_at: datetime
    note: str = ""


async def apply_report(courier: Courier, report: Report, received_at: datetime) -> Outcome:
    """A courier's report, applied when it moves the parcel forward and is not older than its current state, kept as
    a step either way; the same report again (its id) changes nothing. Records the matching event; inside
    `bus.transaction()`. `ShipmentNotFound` for a tracking number the courier has no parcel under."""
    shipment = await Shipment.select_for_update().filter(courier_id=courier.id, tracking_no=report.tracking_no).first()
    if shipment is None:
        raise ShipmentNotFound()
    # A step dated ahead of our clock would make every true report after it look late.
    if report.occurred_at > received_at + CLOCK_SKEW:
        raise ReportTimeInvalid()
    # Under the parcel's lock: the same report sent twice at once is stored once.
    if await Step.exists(courier_id=courier.id, report_id=report.report_id):
        return Outcome.REPEATED
    result = outcome(shipment.state, shipment.state_at, report.status, report.occurred_at)
    if result is Outcome.APPLIED:
        await _move(
            shipment,
            report.status,
            occurred_at=report.occurred_at,
            received_at=received_at,
            courier=courier,
            report_id=report.report_id,
            note=report.note,
        )
    else:
        await _step(
            shipment,
            report.status,
            occurred_at=report.occurred_at,
            received_at=received_at,
            applied=False,
            courier=courier,
            report_id=report.report_id,
            note=report.note,
        )
    return result


async def steps(shipment_id: int) -> list[Step]:
    """The parcel's steps as reported or set, oldest first (applied or not): its tracking page."""
    return await Step.filter(shipment_id=shipment_id).order_by("occurred_at", "id")


@dataclass(frozen=True, slots=True)
class Parcel:
    """What a reader is told of their parcel: who carries it and where to, never what is inside."""

    shipment_id: int
    reader_id: int | None
    destination: Destination
    courier: str | None  # the courier's name; None: the library's own van
    tracking_no: str | None
    library: str | None  # the service point, or where a courier pickup takes the books
    collection: bool  # a courier pickup: from the reader's door to the library

    @property
    def to_door(self) -> bool:
        return self.destination is Destination.HOME and not self.collection


async def describe(shipment_id: int) -> Parcel:
    shipment = await Shipment.get_or_none(id=shipment_id).select_related("courier", "pickup_library")
    if shipment is None:
        raise ShipmentNotFound()
    library = shipment.pickup_library
    return Parcel(
        shipment_id=shipment.id,
        reader_id=shipment.reader_id,
        destination=shipment.destination,
        courier=shipment.courier.name if shipment.courier else None,
        tracking_no=shipment.tracking_no,
        library=library.name if library else None,
        collection=shipment.destination is Destination.HOME and library is not None,
    )


async def _locked(shipment_id: int) -> Shipment:
    shipment = await Shipment.select_for_update().get_or_none(id=shipment_id)
    if shipment is None:
        raise ShipmentNotFound()
    return shipment


async def _move(
    shipment: Shipment,
    state: ShipmentState,
    *,
    occurred_at: datetime,
    received_at: datetime,
    courier: Courier | None = None,
    report_id: str | None = None,
    staff: StaffUser | None = None,
    note: str,
) -> Step:
    """Move the locked parcel to `state`, keep the step and record its event."""
    shipment.state = state
    shipment.state_at = occurred_at
    if state is ShipmentState.SHIPPED:
        shipment.shipped_at = occurred_at
    if state is ShipmentState.DELIVERED:
        shipment.delivered_at = occurred_at
    if state in FINAL:
        shipment.closed_at = occurred_at
    await shipment.save(
        update_fields=["state", "state_at", "shipped_at", "delivered_at", "closed_at", "courier_id", "tracking_no"]
    )
    step = await _step(
        shipment,
        state,
        occurred_at=occurred_at,
        received_at=received_at,
        applied=True,
        courier=courier,
        report_id=report_id,
        staff=staff,
        note=note,
    )
    if (kind := _EVENTS.get(state)) is not None:
        event: DomainEvent = kind(
            shipment_id=shipment.id, reader_id=shipment.reader_id, destination=shipment.destination, at=occurred_at
        )
        record(event)
    return step


async def _step(
    shipment: Shipment,
    state: ShipmentState,
    *,
    occurred_at: datetime,
    received_at: datetime,
    applied: bool,
    courier: Courier | None,
    report_id: str | None,
    staff: StaffUser | None = None,
    note: str,
) -> Step:
    return await Step.create(
        shipment_id=shipment.id,
        state=state,
        occurred_at=occurred_at,
        received_at=received_at,
        applied=applied,
        courier=courier,
        report_id=report_id,
        staff=staff,
        note=note,
    )
