from datetime import timedelta

import pytest
from tortoise import connections

from backend.circulation.errors import PickupNotOffered
from backend.shipping.addresses import Address, address_of, erase_addresses, masked
from backend.shipping.errors import AddressInvalid, AddressRequired
from backend.shipping.models import Destination, Shipment
from backend.shipping.services import cancel_shipment, open_shipment
from tests.integration.service import BUS
from tests.integration.shipping.conftest import HOME, Parcels

RETENTION = timedelta(days=90)


async def test_an_address_is_stored_encrypted_and_shown_masked(parcels: Parcels) -> None:
    shipment = await parcels.preparing()

    rows = await connections.get("default").execute_query_dict(
        "SELECT recipient_encrypted, phone_encrypted, address_encrypted FROM shipping_shipment WHERE id = $1",
        [shipment.id],
    )
    at_rest = b"".join(bytes(value) for value in rows[0].values())
    stored = await Shipment.get(id=shipment.id)

    for plain in (HOME.recipient, HOME.phone, HOME.address, "长江西路", "12345678"):
        assert plain.encode() not in at_rest
    shown = masked(parcels.keys, stored)
    assert shown is not None
    assert (shown.recipient, shown.phone, shown.address) == ("张**", "138****5678", "安徽省铜陵市****")
    assert address_of(parcels.keys, stored) == HOME


async def test_a_parcel_to_a_service_point_keeps_no_address(parcels: Parcels) -> None:
    async with BUS.transaction():
        shipment = await open_shipment(
            parcels.keys,
            reader_id=parcels.reader.id,
            destination=Destination.SERVICE_POINT,
            pickup_library_id=(await parcels.library("TL-A-1")).id,
            address=HOME,
            now=parcels.now,
        )

    assert shipment.address_encrypted is None and masked(parcels.keys, shipment) is None


async def test_a_parcel_goes_only_to_a_service_point_with_a_hold_shelf_or_to_an_address(parcels: Parcels) -> None:
    no_hold_shelf = await parcels.library("TL-B-1")

    with pytest.raises(PickupNotOffered):
        await open_shipment(
            parcels.keys,
            reader_id=parcels.reader.id,
            destination=Destination.SERVICE_POINT,
            pickup_library_id=no_hold_shelf.id,
            address=None,
            now=parcels.now,
        )
    with pytest.raises(AddressRequired):
        await open_shipment(
            parcels.keys,
            reader_id=parcels.reader.id,
            destination=Destination.HOME,
            pickup_library_id=None,
            address=None,
            now=parcels.now,
        )
    assert await Shipment.all().count() == 0


@pytest.mark.parametrize(
    ("recipient", "phone", "address"),
    [
        ("  ", "13812345678", "安徽省铜陵市铜官区"),
        ("张" * 41, "13812345678", "安徽省铜陵市铜官区"),
        ("张三", "12812345678", "安徽省铜陵市铜官区"),
        ("张三", "1381234567", "安徽省铜陵市铜官区"),
        ("张三", "+8613812345678", "安徽省铜陵市铜官区"),
        ("张三", "13812345678", "铜陵"),
        ("张三", "13812345678", "路" * 201),
    ],
)
def test_an_address_needs_a_recipient_a_mainland_mobile_and_a_real_address(
    recipient: str, phone: str, address: str
) -> None:
    with pytest.raises(AddressInvalid):
        Address.of(recipient, phone, address)


async def test_addresses_are_erased_once_the_retention_after_the_journey_has_passed(parcels: Parcels) -> None:
    delivered = await parcels.shipped("SF5001")
    await parcels.sf.report("SF5001", "delivered", parcels.now)
    cancelled = await parcels.preparing()
    await cancel_shipment(cancelled.id, parcels.now)
    still_travelling = await parcels.shipped("SF5002")
    await delivered.refresh_from_db()
    closed = delivered.closed_at
    assert closed is not None

    too_soon = await erase_addresses(closed + RETENTION - timedelta(minutes=1), RETENTION)
    erased = await erase_addresses(closed + RETENTION + timedelta(minutes=1), RETENTION)
    again = await erase_addresses(closed + RETENTION + timedelta(days=1), RETENTION)

    assert (too_soon, erased, again) == (0, 2, 0)
    for shipment in (delivered, cancelled):
        await shipment.refresh_from_db()
        assert shipment.address_erased_at is not None
        assert (shipment.recipient_encrypted, shipment.phone_encrypted, shipment.address_encrypted) == (None,) * 3
        assert masked(parcels.keys, shipment) is None
    await still_travelling.refresh_from_db()
    assert address_of(parcels.keys, still_travelling) == HOME
