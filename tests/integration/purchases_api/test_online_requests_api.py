from datetime import timedelta
from typing import Any

import httpx
import pytest

from backend.accounts.models import StaffRole
from backend.counter.models import LookupAction, ReaderLookup
from backend.shipping.couriers import create_courier
from standins.courier import CourierClient
from tests.integration.factories import login_reader, make_staff, staff_headers
from tests.integration.purchases.conftest import NOW, Shops, staff
from tests.integration.purchases_api.test_purchases_api import PROBLEM, clerk_headers
from tests.integration.service import Service

SECRET = "shared-secret-of-the-courier-0123456789"
DOOR = {"recipient": "张三", "phone": "13800138000", "address": "安徽省铜陵市铜官区长江路 1 号"}


@pytest.fixture
async def courier(service: Service, partners: Shops) -> CourierClient:
    await make_staff("network", StaffRole.NETWORK_ADMIN, "TL")
    await create_courier(
        service.app.state.deps.keys, await staff("network"), code="sf", name="顺丰速运", secret=SECRET, now=NOW
    )
    return CourierClient(service.client, "sf", SECRET, clock=service.clock.now)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_a_book_asked_for_online_is_approved_sent_and_delivered_to_the_door_and_on_loan_for_thirty_days(
    service: Service, partners: Shops, courier: CourierClient
) -> None:
    number = await partners.stock(1, title="三体")
    reader = await login_reader(service, "online")
    admin = await staff_headers(service.client, "a-admin")
    clerk = await clerk_headers(service.client, "xinhua-1")
    client = service.client

    asked = _ok(
        await client.post(
            "/readers/me/purchase-requests",
            json={"bookstore_id": partners.shop.id, "isbn": number, "destination": "home", "address": DOOR},
            headers=reader.headers,
        ),
        201,
    )
    waiting = _ok(await client.get("/staff/purchase-requests", params={"library": "TL-A"}, headers=admin))
    approved = _ok(await client.post(f"/staff/purchase-requests/{asked['id']}/approve", headers=admin))
    to_send = _ok(await client.get("/bookstore/purchase-requests", headers=clerk))
    label = _ok(await client.get(f"/bookstore/purchase-requests/{asked['id']}/label", headers=clerk))
    sent = _ok(
        await client.post(
            f"/bookstore/purchase-requests/{asked['id']}/ship",
            json={"courier_code": "sf", "tracking_no": "SF1001"},
            headers=clerk,
        )
    )
    delivered_at = NOW + timedelta(minutes=10)  # within the reader's and staff's access tokens' lifetime
    service.clock.freeze_at(delivered_at + timedelta(minutes=1))
    report = _ok(await courier.report("SF1001", "delivered", delivered_at))
    again = _ok(await courier.report("SF1001", "delivered", delivered_at))  # the courier's push retried
    mine = _ok(await client.get("/readers/me/purchase-requests", headers=reader.headers))
    bought = _ok(await client.get("/readers/me/purchases", headers=reader.headers))

    assert (asked["state"], asked["price_fen"], asked["parcel"]["state"]) == ("pending", 3400, "preparing")
    assert asked["parcel"]["address"] == {
        "recipient": "张*",
        "phone": "138****8000",
        "address": asked["parcel"]["address"]["address"],
    }
    assert "长江路 1 号" not in asked["parcel"]["address"]["address"]
    assert [r["id"] for r in waiting["items"]] == [asked["id"]]
    assert approved["state"] == "approved"
    assert [r["parcel"]["address"] for r in to_send["items"]] == [asked["parcel"]["address"]]  # masked in the list
    assert label["parcel"]["address"] == DOOR  # whole on the label, and the showing logged
    assert await ReaderLookup.filter(action=LookupAction.LABEL, staff__username="xinhua-1").count() == 1
    assert (sent["state"], sent["parcel"]["courier"], sent["parcel"]["tracking_no"]) == (
        "shipped",
        "顺丰速运",
        "SF1001",
    )
    assert report["result"] == "applied" and again["result"] != "applied"
    request = mine["items"][0]
    assert (request["state"], request["parcel"]["state"]) == ("received", "delivered")
    assert bought["total"] == 1
    loan = bought["items"][0]
    assert (loan["id"], loan["title"], loan["returned_at"]) == (request["purchase_id"], "三体", None)
    assert loan["due_at"][:10] == (delivered_at + timedelta(days=30)).date().isoformat()
    assert _ok(await client.get("/bookstore/purchase-requests", headers=clerk))["total"] == 0


async def test_a_book_under_the_auto_approval_price_goes_to_a_service_point_and_waits_on_its_hold_shelf(
    service: Service, partners: Shops, courier: CourierClient
) -> None:
    number = await partners.stock(1, title="活着", list_price_fen=2500)
    reader = await login_reader(service, "collector")
    admin = await staff_headers(service.client, "a-admin")
    clerk = await clerk_headers(service.client, "xinhua-1")
    await make_staff("a1-desk", StaffRole.LIBRARIAN, "TL-A-1")
    desk = await staff_headers(service.client, "a1-desk")
    client = service.client

    rules = await client.put(
        "/staff/purchases/libraries/TL-A/rules", json={"auto_approve_under_fen": 3000}, headers=admin
    )
    asked = _ok(
        await client.post(
            "/readers/me/purchase-requests",
            json={
                "bookstore_id": partners.shop.id,
                "isbn": number,
                "destination": "service_point",
                "library_code": "TL-A-1",
            },
            headers=reader.headers,
        ),
        201,
    )
    van = _ok(await client.post(f"/bookstore/purchase-requests/{asked['id']}/ship", json={}, headers=clerk))
    arrived = _ok(
        await client.post(
            f"/staff/purchase-requests/{asked['id']}/parcel-steps", json={"state": "delivered"}, headers=desk
        )
    )
    holds = _ok(await client.get("/readers/me/holds", headers=reader.headers))

    assert _ok(rules)["auto_approve_under_fen"] == 3000
    assert (asked["state"], asked["auto_approved"], asked["parcel"]["pickup_library_code"]) == (
        "approved",
        True,
        "TL-A-1",
    )
    assert (van["state"], van["parcel"]["courier"]) == ("shipped", None)
    assert (arrived["state"], arrived["parcel"]["state"]) == ("arrived", "delivered")
    assert [(h["status"], h["pickup_library_code"]) for h in holds["items"]] == [("ready", "TL-A-1")], holds


async def test_refusals_cancellations_and_wrong_hands_answer_with_their_codes(
    service: Service, partners: Shops, courier: CourierClient
) -> None:
    first, second = await partners.stock(1), await partners.stock(2)
    reader = await login_reader(service, "fickle")
    admin = await staff_headers(service.client, "a-admin")
    b_admin = await staff_headers(service.client, "b-admin")
    other_clerk = await clerk_headers(service.client, "zongyang-1")
    client = service.client

    async def ask(number: str) -> Any:
        body = {"bookstore_id": partners.shop.id, "isbn": number, "destination": "home", "address": DOOR}
        return _ok(await client.post("/readers/me/purchase-requests", json=body, headers=reader.headers), 201)

    one, two = await ask(first), await ask(second)
    no_address = await client.post(
        "/readers/me/purchase-requests",
        json={"bookstore_id": partners.shop.id, "isbn": first, "destination": "home"},
        headers=reader.headers,
    )
    third = await client.post(
        "/readers/me/purchase-requests",
        json={"bookstore_id": partners.shop.id, "isbn": first, "destination": "home", "address": DOOR},
        headers=reader.headers,
    )
    refused = _ok(
        await client.post(
            f"/staff/purchase-requests/{one['id']}/refuse", json={"reason": "已有采购计划"}, headers=admin
        )
    )
    cancelled = _ok(await client.post(f"/readers/me/purchase-requests/{two['id']}/cancel", headers=reader.headers))
    again = await client.post(f"/readers/me/purchase-requests/{two['id']}/cancel", headers=reader.headers)
    foreign = await client.post(f"/staff/purchase-requests/{one['id']}/approve", headers=b_admin)
    not_theirs = await client.post(f"/bookstore/purchase-requests/{one['id']}/ship", json={}, headers=other_clerk)
    not_approved = await client.post(
        f"/bookstore/purchase-requests/{one['id']}/ship",
        json={},
        headers=await clerk_headers(service.client, "xinhua-1"),
    )
    refused_list = _ok(
        await client.get("/staff/purchase-requests", params={"library": "TL-A", "state": "refused"}, headers=admin)
    )

    assert (no_address.status_code, no_address.json()["code"]) == (422, "address_required")
    assert third.status_code == 409 and third.headers["content-type"].startswith(PROBLEM)
    assert [r["code"] for r in third.json()["reasons"]] == ["too_many_unreturned"]
    assert (refused["state"], refused["reason"]) == ("refused", "已有采购计划")
    assert (cancelled["state"], cancelled["parcel"]["state"]) == ("cancelled", "cancelled")
    assert (again.status_code, again.json()["code"]) == (409, "purchase_request_not_cancellable")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "purchase_request_not_found")
    assert (not_theirs.status_code, not_theirs.json()["code"]) == (404, "purchase_request_not_found")
    assert (not_approved.status_code, not_approved.json()["code"]) == (409, "purchase_request_not_approved")
    assert [r["id"] for r in refused_list["items"]] == [one["id"]]
