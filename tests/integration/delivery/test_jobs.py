"""What happens to orders beside the reader's own steps: the worker's jobs, run as the worker runs them (an unpaid
home delivery lapses, a parcel's address is erased once its retention has passed), and a card removed."""

from __future__ import annotations

from datetime import timedelta

from backend.accounts.models import Reader
from backend.catalog.models import CopyStatus
from backend.delivery import pickups
from backend.delivery.models import DeliveryLine, DeliveryOrder, OrderState, PickupState, ReturnPickup
from backend.money import ledger
from backend.shipping.models import Shipment
from entrypoints import worker
from tests.integration.delivery.conftest import HOME, Delivery


async def run(delivery: Delivery, job: str) -> int:
    result: int = await getattr(worker, job)({"deps": delivery.deps, "job_try": 1})
    return result


async def test_a_home_delivery_left_unpaid_past_its_window_is_cancelled_and_its_books_freed(delivery: Delivery) -> None:
    reader = await delivery.reader("unpaid")
    order = await delivery.order(reader, ["三体", "活着"], home=True)
    window = delivery.deps.delivery_policy.payment_window

    delivery.later((window - timedelta(minutes=1)).total_seconds())
    too_soon = await run(delivery, "expire_unpaid_deliveries")
    delivery.later(timedelta(minutes=2).total_seconds())
    expired = await run(delivery, "expire_unpaid_deliveries")
    again = await run(delivery, "expire_unpaid_deliveries")

    closed = await DeliveryOrder.get(id=order.id)
    copies = await DeliveryLine.filter(order_id=order.id).values_list("copy__status", flat=True)
    assert (too_soon, expired, again) == (0, 1, 0)
    assert closed.state is OrderState.CANCELLED
    assert set(copies) == {CopyStatus.AVAILABLE}


async def test_a_parcels_address_is_erased_once_its_retention_has_passed(delivery: Delivery) -> None:
    reader = await delivery.reader("erased")
    order = await delivery.order(reader, ["三体"], home=True)
    delivery.later(delivery.deps.delivery_policy.payment_window.total_seconds() + 60)
    await run(delivery, "expire_unpaid_deliveries")  # its journey ends here, never begun
    retention = delivery.deps.delivery_policy.address_retention

    kept = await run(delivery, "erase_shipment_addresses")
    delivery.later((retention + timedelta(days=1)).total_seconds())
    erased = await run(delivery, "erase_shipment_addresses")

    shipment = await Shipment.get(id=order.shipment_id)
    assert (kept, erased) == (0, 1)
    assert (shipment.address_encrypted, shipment.recipient_encrypted, shipment.phone_encrypted) == (None, None, None)


async def test_a_childs_card_with_an_order_under_way_is_not_removed(delivery: Delivery) -> None:
    parent, guardian = await delivery.logged_in("parent-of-orderer")
    client = delivery.service.client
    made = await client.post(
        "/readers/me/children",
        json={"name": "小明", "birth_month": "2019-05", "guardian_consent": True},
        headers=parent.headers,
    )
    child = await Reader.get(id=made.json()["id"])
    await delivery.order(child, ["三体"])

    removed = await client.delete(f"/readers/me/children/{child.id}", headers=parent.headers)

    assert (removed.status_code, removed.json()["code"]) == (409, "card_has_deliveries")
    assert await Reader.exists(id=child.id, guardian_id=guardian.id)


async def test_a_courier_pickup_left_unpaid_is_called_off_and_its_fee_waived(delivery: Delivery) -> None:
    reader = await delivery.reader("pickup-unpaid")
    pickup = await pickups.book_pickup(
        reader,
        books=2,
        library_code="TL-A",
        address=HOME,
        now=delivery.now,
        policy=delivery.deps.delivery_policy,
        keys=delivery.deps.keys,
    )
    delivery.later(delivery.deps.delivery_policy.payment_window.total_seconds() + 60)

    expired = await run(delivery, "expire_unpaid_deliveries")
    again = await run(delivery, "expire_unpaid_deliveries")

    called_off = await ReturnPickup.get(id=pickup.id)
    shipment = await Shipment.get(id=pickup.shipment_id)
    assert (expired, again) == (1, 0)
    assert called_off.state is PickupState.CANCELLED and shipment.closed_at is not None
    assert await ledger.owed_fen(reader.id) == 0
