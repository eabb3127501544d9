"""What delivery does when its parcels move and its fees are paid: a parcel at the door lends its books from the
moment it arrived, one at a service point puts them on its hold shelf for the reader, one come back frees them.

Each handler finds its order by the shipment and takes the order's lock (after the fee's charge, and inside the
shipment's lock the report holds): a report applied twice at once is applied one after the other, and the second
finds the order moved on. A shipment that is not a delivery order's (a shop's parcel, a courier pickup) is another
area's business.
"""

from __future__ import annotations

from functools import partial

from backend.accounts.domain_events import CardClosing
from backend.catalog.models import Copy
from backend.circulation import holds
from backend.circulation.domain_events import CopyMoved
from backend.circulation.holds import HoldPolicy
from backend.circulation.services import lend_delivered
from backend.delivery import orders, pickups
from backend.delivery.errors import CardHasDeliveries
from backend.delivery.models import (
    ACTIVE_LINE,
    OPEN_ORDER,
    DeliveryLine,
    DeliveryOrder,
    LineState,
    OrderState,
    ReturnPickup,
)
from backend.delivery.policy import DeliveryPolicy
from backend.eventbus import EventBus, record
from backend.money.domain_events import ChargePaid
from backend.network.models import Library
from backend.shipping.domain_events import ShipmentDelivered, ShipmentFailed, ShipmentReturned, ShipmentShipped
from backend.shipping.models import Destination, Shipment

RETURNED_REASON = "包裹未能送达，已退回"


def subscribe(bus: EventBus, policy: DeliveryPolicy, hold_policy: HoldPolicy) -> None:
    del policy  # the fee and the limits are settled when the order is placed
    bus.subscribe(CardClosing, card_closing)
    bus.subscribe(ChargePaid, orders.order_paid)  # a home order paid: its books are picked
    bus.subscribe(ChargePaid, pickups.pickup_paid)
    bus.subscribe(ShipmentShipped, shipped)
    bus.subscribe(ShipmentShipped, pickups.pickup_collected)
    bus.subscribe(ShipmentDelivered, partial(delivered, hold_policy))
    bus.subscribe(ShipmentDelivered, pickups.pickup_delivered)
    bus.subscribe(ShipmentFailed, failed)
    bus.subscribe(ShipmentFailed, pickups.pickup_failed)
    bus.subscribe(ShipmentReturned, partial(returned, hold_policy))


async def shipped(event: ShipmentShipped) -> None:
    await DeliveryOrder.filter(shipment_id=event.shipment_id, state=OrderState.PACKED).update(state=OrderState.SHIPPED)


async def failed(event: ShipmentFailed) -> None:
    await DeliveryOrder.filter(shipment_id=event.shipment_id, state=OrderState.SHIPPED).update(state=OrderState.FAILED)


async def delivered(hold_policy: HoldPolicy, event: ShipmentDelivered) -> None:
    """At the door, each book is lent to the reader by the packing library, for the order's days from the moment the
    parcel arrived; at a service point, each waits on its hold shelf for them like a hold, and its loan runs those
    days from when they collect it."""
    order_id = await _order_of(event.shipment_id)
    if order_id is None:
        return
    async with orders.locked_order(order_id) as order:
        # A parcel failed once may still reach the reader at a later attempt.
        if order.state not in (OrderState.SHIPPED, OrderState.FAILED) or order.reader_id is None:
            return
        shipment = await Shipment.get(id=event.shipment_id).select_related("pickup_library")
        packing = await Library.get(id=order.packing_library_id)
        lines = await DeliveryLine.filter(order_id=order.id, state__in=ACTIVE_LINE).order_by("id")
        for line in lines:
            copy = await Copy.select_for_update(of=("copy",)).get(id=line.copy_id)
            if shipment.destination is Destination.HOME:
                loan = await lend_delivered(
                    order.reader_id, copy, library=packing, period_days=order.loan_days, now=event.at
                )
                await DeliveryLine.filter(id=line.id).update(state=LineState.DELIVERED, loan_id=loan.id)
            else:
                pickup = shipment.pickup_library
                assert pickup is not None, "a parcel to a service point names it"
                hold = await holds.shelve_for(
                    order.reader_id, copy, pickup, period_days=order.loan_days, now=event.at, policy=hold_policy
                )
                await DeliveryLine.filter(id=line.id).update(state=LineState.DELIVERED, hold_id=hold.id)
                record(CopyMoved(copy.id, copy.record_id, pickup.id))
        await DeliveryOrder.filter(id=order.id).update(
            state=OrderState.DELIVERED, delivered_at=event.at, closed_at=event.at
        )


async def returned(hold_policy: HoldPolicy, event: ShipmentReturned) -> None:
    """The parcel is back at the packing library: its books go back into circulation there (the next hold, the
    shelf, or home), and a paid fee is refunded."""
    order_id = await _order_of(event.shipment_id)
    if order_id is None:
        return
    async with orders.locked_order(order_id) as order:
        if order.state in (OrderState.SHIPPED, OrderState.FAILED):
            await orders.close_order(
                order, state=OrderState.RETURNED, reason=RETURNED_REASON, now=event.at, hold_policy=hold_policy
            )


async def card_closing(event: CardClosing) -> None:
    """A card is removed only with no order or pickup of its own still under way: it would be left with books and
    money that no card answers for."""
    if await DeliveryOrder.exists(reader_id=event.reader_id, state__in=OPEN_ORDER) or await ReturnPickup.exists(
        reader_id=event.reader_id, state__in=pickups.OPEN_PICKUP
    ):
        raise CardHasDeliveries()


async def _order_of(shipment_id: int) -> int | None:
    order = await DeliveryOrder.get_or_none(shipment_id=shipment_id).only("id")
    return None if order is None else order.id
