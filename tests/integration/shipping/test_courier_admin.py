from datetime import timedelta

from tortoise import connections

from backend.accounts.models import StaffRole
from backend.shipping.services import hand_over
from standins.courier import CourierClient
from tests.integration.factories import make_staff, staff_headers
from tests.integration.service import BUS
from tests.integration.shipping.conftest import Parcels

NEW_SECRET = "ems-secret-abcdefghijklmnopqrstuvwxyz-0123"
ROTATED = "ems-rotated-secret-abcdefghijklmnopqrstuvwxyz"


async def test_a_network_administrator_adds_a_courier_whose_secret_is_never_shown_or_stored_plain(
    parcels: Parcels,
) -> None:
    headers = await staff_headers(parcels.service.client, "network-admin")

    made = await parcels.service.client.post(
        "/staff/couriers", json={"code": "ems", "name": "中国邮政EMS", "secret": NEW_SECRET}, headers=headers
    )
    listed = await parcels.service.client.get("/staff/couriers", params={"limit": 1, "offset": 1}, headers=headers)

    assert made.status_code == 201, made.text
    assert made.json() == {
        "code": "ems",
        "name": "中国邮政EMS",
        "active": True,
        "created_at": made.json()["created_at"],
    }
    assert listed.status_code == 200
    assert [c["code"] for c in listed.json()["items"]] == ["sf"]
    assert (listed.json()["total"], listed.json()["next_offset"]) == (2, None)
    assert NEW_SECRET not in made.text + listed.text
    rows = await connections.get("default").execute_query_dict(
        "SELECT secret_encrypted FROM shipping_courier WHERE code = 'ems'"
    )
    assert NEW_SECRET.encode() not in bytes(rows[0]["secret_encrypted"])


async def test_a_rotated_secret_takes_over_at_once_and_a_retired_courier_is_refused(parcels: Parcels) -> None:
    headers = await staff_headers(parcels.service.client, "network-admin")
    client = parcels.service.client
    await client.post("/staff/couriers", json={"code": "ems", "name": "EMS", "secret": NEW_SECRET}, headers=headers)
    shipment = await parcels.preparing()
    async with BUS.transaction():
        await hand_over(shipment.id, courier_code="ems", tracking_no="E8001", now=parcels.now - timedelta(hours=1))
    old = CourierClient(client, "ems", NEW_SECRET, clock=parcels.service.clock.now)
    new = CourierClient(client, "ems", ROTATED, clock=parcels.service.clock.now)
    at = parcels.now - timedelta(minutes=5)

    rotated = await client.patch("/staff/couriers/ems", json={"secret": ROTATED, "name": "邮政"}, headers=headers)
    with_old = await old.report("E8001", "in_transit", at)
    with_new = await new.report("E8001", "in_transit", at)
    retired = await client.patch("/staff/couriers/ems", json={"active": False}, headers=headers)
    after_retiring = await new.report("E8001", "delivered", parcels.now)

    assert rotated.status_code == 200 and rotated.json()["name"] == "邮政"
    assert with_old.status_code == 401
    assert with_new.json() == {"result": "applied"}
    assert retired.json()["active"] is False
    assert after_retiring.status_code == 401


async def test_only_a_network_administrator_manages_couriers(parcels: Parcels) -> None:
    await make_staff("library-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("librarian", StaffRole.LIBRARIAN, "TL")
    client = parcels.service.client
    body = {"code": "yto", "name": "圆通", "secret": NEW_SECRET}

    for username in ("library-admin", "librarian"):
        headers = await staff_headers(client, username)
        answers = [
            await client.post("/staff/couriers", json=body, headers=headers),
            await client.get("/staff/couriers", headers=headers),
            await client.patch("/staff/couriers/sf", json={"active": False}, headers=headers),
        ]
        assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, "staff_role_insufficient")] * 3
    anonymous = await client.get("/staff/couriers")
    assert anonymous.status_code == 401
    await parcels.courier.refresh_from_db()
    assert parcels.courier.active


async def test_a_courier_needs_a_free_code_a_name_and_a_long_secret(parcels: Parcels) -> None:
    headers = await staff_headers(parcels.service.client, "network-admin")
    client = parcels.service.client

    taken = await client.post(
        "/staff/couriers", json={"code": "sf", "name": "顺丰", "secret": NEW_SECRET}, headers=headers
    )
    short = await client.post(
        "/staff/couriers", json={"code": "yto", "name": "圆通", "secret": "x" * 31}, headers=headers
    )
    bad_code = await client.post(
        "/staff/couriers", json={"code": "YTO Express", "name": "圆通", "secret": NEW_SECRET}, headers=headers
    )
    blank = await client.post(
        "/staff/couriers", json={"code": "yto", "name": "  ", "secret": NEW_SECRET}, headers=headers
    )
    unknown = await client.patch("/staff/couriers/yto", json={"name": "圆通"}, headers=headers)

    assert (taken.status_code, taken.json()["code"]) == (409, "courier_code_taken")
    assert short.status_code == 400 and bad_code.status_code == 400
    assert (blank.status_code, blank.json()["code"]) == (422, "courier_invalid")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "courier_not_found")
