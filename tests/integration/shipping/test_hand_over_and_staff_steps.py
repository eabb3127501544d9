import pytest

from backend.accounts.models import StaffRole
from backend.shipping.errors import (
    CourierNotFound,
    CourierRequired,
    ShipmentNotPreparing,
    StateNotForward,
    StateNotSettable,
    TrackingNumberInvalid,
    TrackingNumberTaken,
)
from backend.shipping.models import Destination, ShipmentState, Step
from backend.shipping.services import cancel_shipment, hand_over, set_state, steps
from tests.integration.factories import make_staff
from tests.integration.service import BUS
from tests.integration.shipping.conftest import Parcels


async def test_a_parcel_to_the_door_is_handed_only_to_an_active_courier_with_a_new_tracking_number(
    parcels: Parcels,
) -> None:
    await parcels.shipped("SF7001")
    parcel = await parcels.preparing()
    retired = await parcels.preparing()

    refusals = []
    for courier_code, tracking_no in [(None, None), ("sf", None), ("ems", "E1"), ("sf", "SF 7002"), ("sf", "SF7001")]:
        with pytest.raises(Exception) as refused:
            async with BUS.transaction():
                await hand_over(parcel.id, courier_code=courier_code, tracking_no=tracking_no, now=parcels.now)
        refusals.append(type(refused.value))
    parcels.courier.active = False
    await parcels.courier.save(update_fields=["active"])
    with pytest.raises(CourierNotFound):
        async with BUS.transaction():
            await hand_over(retired.id, courier_code="sf", tracking_no="SF7003", now=parcels.now)

    assert refusals == [CourierRequired, CourierRequired, CourierNotFound, TrackingNumberInvalid, TrackingNumberTaken]
    await parcel.refresh_from_db()
    assert parcel.state is ShipmentState.PREPARING and parcel.tracking_no is None
    assert await Step.filter(shipment_id=parcel.id).count() == 0


async def test_the_library_van_takes_a_parcel_to_a_service_point_without_a_courier(parcels: Parcels) -> None:
    parcel = await parcels.preparing(Destination.SERVICE_POINT)
    now = parcels.now

    async with BUS.transaction():
        shipped = await hand_over(parcel.id, courier_code=None, tracking_no=None, now=now)

    assert shipped.state is ShipmentState.SHIPPED and shipped.courier_id is None and shipped.shipped_at == now
    [notice] = await parcels.notices()
    assert "图书馆专车" in notice["body"] and "新华书店阅读点" in notice["body"]
    with pytest.raises(ShipmentNotPreparing):
        async with BUS.transaction():
            await hand_over(parcel.id, courier_code=None, tracking_no=None, now=parcels.now)


async def test_staff_set_a_step_by_hand_only_forward(parcels: Parcels) -> None:
    parcel = await parcels.shipped("SF7101", Destination.SERVICE_POINT)
    unsent = await parcels.preparing(Destination.SERVICE_POINT)
    desk = await make_staff("desk-a1", StaffRole.LIBRARIAN, "TL-A-1")
    with pytest.raises(StateNotForward):  # never handed over: no step can be set for it
        async with BUS.transaction():
            await set_state(unsent.id, ShipmentState.DELIVERED, now=parcels.now, staff=desk)

    async with BUS.transaction():
        arrived = await set_state(parcel.id, ShipmentState.DELIVERED, now=parcels.now, staff=desk, note="到馆上架")
    with pytest.raises(StateNotForward):
        async with BUS.transaction():
            await set_state(parcel.id, ShipmentState.FAILED, now=parcels.now, staff=desk)
    with pytest.raises(StateNotSettable):
        async with BUS.transaction():
            await set_state(parcel.id, ShipmentState.CANCELLED, now=parcels.now, staff=desk)

    assert arrived.applied and await Step.exists(id=arrived.id, staff_id=desk.id)
    assert [(s.state, s.note) for s in await steps(parcel.id)] == [
        (ShipmentState.SHIPPED, ""),
        (ShipmentState.DELIVERED, "到馆上架"),
    ]
    assert {n["title"] for n in await parcels.notices()} == {"包裹已发出", "包裹已到服务点"}


async def test_only_a_parcel_not_yet_sent_can_be_cancelled(parcels: Parcels) -> None:
    waiting = await parcels.preparing()
    sent = await parcels.shipped("SF7201")
    now = parcels.now

    await cancel_shipment(waiting.id, now)
    await cancel_shipment(waiting.id, now)  # the owner's retry
    with pytest.raises(ShipmentNotPreparing):
        await cancel_shipment(sent.id, now)

    await waiting.refresh_from_db()
    assert waiting.state is ShipmentState.CANCELLED and waiting.closed_at == now
    await sent.refresh_from_db()
    assert sent.state is ShipmentState.SHIPPED
