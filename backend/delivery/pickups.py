"""Courier pickups of books going back (上门取书): the reader books a courier in the app to collect books at their door
and take them to a library, for a fee paid before the courier is sent. At the library the books are checked in at
the desk as any return (the loans end there, overdue days counted to that moment): the pickup only carries them.

Its fee's charge is locked before the pickup, as a payment settling the fee takes them, so the two never deadlock.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffUser
from backend.crypto import Keys
from backend.delivery import fees
from backend.delivery.errors import (
    PickupBooksOutOfRange,
    PickupNotBooked,
    PickupNotCancellable,
    PickupNotFound,
    ReturnsNotAccepted,
)
from backend.delivery.models import PickupState, ReturnPickup
from backend.delivery.policy import DeliveryPolicy
from backend.eventbus import EventBus
from backend.money.domain_events import ChargePaid
from backend.money.models import Charge, ChargeKind
from backend.network.errors import OutsideScope
from backend.network.services import get_library, in_scope
from backend.shipping.addresses import Address, label_address
from backend.shipping.domain_events import ShipmentDelivered, ShipmentFailed, ShipmentShipped
from backend.shipping.models import Destination, Shipment, ShipmentState
from backend.shipping.services import cancel_shipment, hand_over, open_shipment

MAX_BOOKS = 20
CANCELLABLE = (PickupState.AWAITING_PAYMENT, PickupState.BOOKED)
OPEN_PICKUP = (*CANCELLABLE, PickupState.COLLECTED)
CANCELLED_REASON = "读者取消上门取书 / pickup cancelled by the reader"
EXPIRED_REASON = "上门取书费用未按时支付 / pickup fee not paid in time"
FAILED_REASON = "快递未能上门取书 / the courier could not collect the books"
_BATCH = 200


async def book_pickup(
    reader: Reader,
    *,
    books: int,
    library_code: str,
    address: Address,
    now: datetime,
    policy: DeliveryPolicy,
    keys: Keys,
) -> ReturnPickup:
    """A courier to collect `books` books at `address` for the library `library_code` (one that takes returns):
    waiting for its fee (a charge on the reader's card, paid as any other), or booked at once when it is free."""
    if not 1 <= books <= MAX_BOOKS:
        raise PickupBooksOutOfRange(limit=MAX_BOOKS)
    library = await get_library(library_code)
    if not library.returns:
        raise ReturnsNotAccepted(library=library.name)
    fee = policy.pickup_fee_fen
    async with in_transaction():
        shipment = await open_shipment(
            keys,
            reader_id=reader.id,
            destination=Destination.HOME,
            pickup_library_id=library.id,
            address=address,
            now=now,
        )
        pickup = await ReturnPickup.create(
            reader_id=reader.id,
            shipment=shipment,
            books=books,
            fee_fen=fee,
            state=PickupState.AWAITING_PAYMENT if fee else PickupState.BOOKED,
            booked_at=now,
        )
        if fee:
            pickup.charge = await fees.charge_fee(f"delivery-pickup:{pickup.id}", reader.id, library.id, fee, now)
            await pickup.save(update_fields=["charge_id"])
    await pickup.fetch_related("shipment__pickup_library")
    return pickup


async def my_pickups(reader_id: int, *, limit: int, offset: int) -> tuple[list[ReturnPickup], int]:
    """The reader's pickups, the newest first, with their parcels and libraries."""
    query = ReturnPickup.filter(reader_id=reader_id).order_by("-booked_at", "-id")
    return await paging.page(query.select_related("shipment__pickup_library"), limit, offset)


async def cancel_pickup(reader: Reader, pickup_id: int, now: datetime) -> ReturnPickup:
    """Call a pickup off before the courier has the books: its fee is waived, or refunded if paid, once."""
    async with in_transaction():
        pickup = await _locked(ReturnPickup.filter(id=pickup_id, reader_id=reader.id))
        if pickup is None:
            raise PickupNotFound()
        shipment = await Shipment.get(id=pickup.shipment_id)
        if pickup.state not in CANCELLABLE or shipment.state is not ShipmentState.PREPARING:
            raise PickupNotCancellable(state=pickup.state.value)
        await _call_off(pickup, CANCELLED_REASON, now)
    await pickup.fetch_related("shipment__pickup_library")
    return pickup


async def _locked(query: QuerySet[ReturnPickup]) -> ReturnPickup | None:
    """The pickup under its row lock, its fee's charge locked first (as a payment settling the fee takes them)."""
    charge_id = await query.first().values_list("charge_id", flat=True)
    if charge_id is not None:
        await Charge.select_for_update().get(id=charge_id)
    return await query.select_for_update().first()


async def _call_off(pickup: ReturnPickup, reason: str, now: datetime) -> None:
    """End a pickup whose books never reached the library: its parcel called off if not sent, its fee withdrawn once
    (waived if unpaid, refunded if paid)."""
    await _cancel_if_unsent(pickup.shipment_id, now)
    await fees.withdraw_fee(pickup.charge_id, reason, now)
    pickup.state, pickup.closed_at = PickupState.CANCELLED, now
    await pickup.save(update_fields=["state", "closed_at"])


async def _cancel_if_unsent(shipment_id: int, now: datetime) -> None:
    if await Shipment.exists(id=shipment_id, state=ShipmentState.PREPARING):
        await cancel_shipment(shipment_id, now)


async def expire_unpaid(now: datetime, policy: DeliveryPolicy) -> int:
    """The job beside the orders' (every few minutes): pickups whose fee is still unpaid after the payment window are
    called off and their fee waived, so their address does not wait for ever. Returns how many; safe to run again."""
    unpaid = ReturnPickup.filter(state=PickupState.AWAITING_PAYMENT, booked_at__lt=now - policy.payment_window)
    due: list[int] = await unpaid.order_by("booked_at", "id").limit(_BATCH).values_list("id", flat=True)  # type: ignore[assignment]
    expired = 0
    for pickup_id in due:
        async with in_transaction():
            pickup = await _locked(ReturnPickup.filter(id=pickup_id))
            if pickup is not None and pickup.state is PickupState.AWAITING_PAYMENT:
                await _call_off(pickup, EXPIRED_REASON, now)
                expired += 1
    return expired


async def pickup_failed(event: ShipmentFailed) -> None:
    """The courier could not collect the books: the pickup is called off and its fee refunded, once."""
    async with in_transaction():
        pickup = await _locked(ReturnPickup.filter(shipment_id=event.shipment_id))
        if pickup is not None and pickup.state is PickupState.COLLECTED:
            await _call_off(pickup, FAILED_REASON, event.at)


# --- the library's side: sending the courier ---------------------------------------------------------------------


async def pickups_to_send(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[ReturnPickup], int]:
    """Paid pickups to my libraries waiting for a courier, the first booked first."""
    query = ReturnPickup.filter(state=PickupState.BOOKED, shipment__pickup_library__path__startswith=staff.library.path)
    return await paging.page(
        query.select_related("shipment__pickup_library").order_by("booked_at", "id"), limit, offset
    )


async def _to_send(staff: StaffUser, pickup_id: int) -> ReturnPickup:
    pickup = await ReturnPickup.get_or_none(id=pickup_id).select_related("shipment__pickup_library", "shipment__reader")
    if pickup is None:
        raise PickupNotFound()
    library = pickup.shipment.pickup_library
    assert library is not None, "a pickup names the library it goes to"
    if not in_scope(library, staff.library.path):
        raise OutsideScope()
    if pickup.state is not PickupState.BOOKED:
        raise PickupNotBooked(state=pickup.state.value)
    return pickup


async def pickup_label(staff: StaffUser, pickup_id: int, keys: Keys, now: datetime) -> tuple[ReturnPickup, Address]:
    """Where the courier is to collect the books, in full, for my library's staff booking it: shown only while the
    pickup waits for its courier, and each showing logged."""
    pickup = await _to_send(staff, pickup_id)
    address = await label_address(keys, pickup.shipment, staff=staff, subject=f"delivery-pickup:{pickup.id}", now=now)
    assert address is not None, "a booked pickup keeps its address until it is closed"
    return pickup, address


async def send_courier(
    staff: StaffUser, pickup_id: int, *, courier_code: str, tracking_no: str, now: datetime, bus: EventBus
) -> ReturnPickup:
    """The courier booked for a paid pickup, with its tracking number: the courier's reports follow it to my library
    (`pickup_collected`, `pickup_delivered`) and the reader is told."""
    async with bus.transaction():
        found = await _to_send(staff, pickup_id)
        pickup = await ReturnPickup.select_for_update().get(id=found.id)
        if pickup.state is not PickupState.BOOKED:  # cancelled meanwhile
            raise PickupNotBooked(state=pickup.state.value)
        await hand_over(pickup.shipment_id, courier_code=courier_code, tracking_no=tracking_no, now=now, staff=staff)
    await pickup.refresh_from_db()
    await pickup.fetch_related("shipment__pickup_library")
    return pickup


async def pickup_paid(event: ChargePaid) -> None:
    """The fee is paid: the courier may be sent. Once: a repeated event, or one for a pickup cancelled meanwhile
    (its payment refunded by the ledger), changes nothing."""
    if event.kind is ChargeKind.DELIVERY:
        await ReturnPickup.filter(charge_id=event.charge_id, state=PickupState.AWAITING_PAYMENT).update(
            state=PickupState.BOOKED
        )


async def pickup_collected(event: ShipmentShipped) -> None:
    """Handed to the courier, who collects the books and carries them."""
    await ReturnPickup.filter(shipment_id=event.shipment_id, state=PickupState.BOOKED).update(
        state=PickupState.COLLECTED
    )


async def pickup_delivered(event: ShipmentDelivered) -> None:
    """The courier brought the books to the library: received there, where the desk checks them in."""
    await ReturnPickup.filter(
        shipment_id=event.shipment_id, state__in=(PickupState.BOOKED, PickupState.COLLECTED)
    ).update(state=PickupState.RECEIVED, closed_at=event.at)
