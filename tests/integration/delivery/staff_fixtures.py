"""Staff's side of delivery in tests: desks at the branches and the service point, a courier posting signed reports
to the webhook, and the scans that take an order to its parcel."""

from __future__ import annotations

from typing import Any

from backend.accounts.models import StaffRole, StaffUser
from backend.delivery.models import DeliveryLine, DeliveryOrder
from backend.money import desk
from backend.money.models import Channel
from backend.shipping import couriers
from standins.courier import CourierClient
from tests.integration.delivery.conftest import Delivery
from tests.integration.factories import make_staff, staff_headers

COURIER = "sf"
COURIER_SECRET = "a-secret-the-courier-and-the-network-share-0123"


async def desk_at(delivery: Delivery, username: str, library_code: str) -> dict[str, str]:
    """A librarian at the library, logged in."""
    await make_staff(username, StaffRole.LIBRARIAN, library_code)
    return await staff_headers(delivery.service.client, username)


async def courier(delivery: Delivery) -> CourierClient:
    """A courier the network hands parcels to, posting its reports signed at the service's time."""
    admin = await make_staff("network-admin", StaffRole.NETWORK_ADMIN, "TL")
    await admin.fetch_related("library")
    await couriers.create_courier(
        delivery.deps.keys, admin, code=COURIER, name="顺丰速运", secret=COURIER_SECRET, now=delivery.now
    )
    return CourierClient(delivery.service.client, COURIER, COURIER_SECRET, clock=delivery.service.clock.now)


async def pay_at_desk(delivery: Delivery, order: DeliveryOrder) -> None:
    """The reader pays a home order's fee at the packing library's desk."""
    assert order.charge_id is not None
    await desk.pay_at_desk(delivery.desk, order.charge_id, Channel.DESK_CASH, delivery.now, delivery.deps.bus)


async def scan(delivery: Delivery, path: str, barcode: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await delivery.service.client.post(f"/staff/delivery/{path}", json={"barcode": barcode}, headers=headers)
    return {"http": response.status_code, **response.json()}


async def packed(delivery: Delivery, order: DeliveryOrder) -> None:
    """Every book of the order pulled and gathered at the packing library by its desk (in scope everywhere)."""
    barcodes = await DeliveryLine.filter(order_id=order.id).values_list("copy__barcode", flat=True)
    for barcode in barcodes:
        picked = await scan(delivery, "picks", str(barcode), delivery.desk_headers)
        assert picked["http"] == 200, picked
        if picked["line_state"] == "picked":
            gathered = await scan(delivery, "gathered", str(barcode), delivery.desk_headers)
            assert gathered["http"] == 200, gathered
    assert (await DeliveryOrder.get(id=order.id)).state == "packed"


async def ship(delivery: Delivery, order_id: int, tracking_no: str | None = None) -> dict[str, Any]:
    body = {"courier_code": COURIER, "tracking_no": tracking_no} if tracking_no else {}
    response = await delivery.service.client.post(
        f"/staff/delivery/orders/{order_id}/ship", json=body, headers=delivery.desk_headers
    )
    return {"http": response.status_code, **response.json()}


async def staff(username: str) -> StaffUser:
    return await StaffUser.get(username=username).select_related("library")
