import asyncio

import pytest

from backend.accounts.models import StaffRole, StaffUser
from backend.network.models import Library
from tests.integration.factories import STAFF_PASSWORD, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service


@pytest.fixture
async def network(service: Service) -> None:
    await build_network()
    await make_staff("admin", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("b-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A-1")


async def test_staff_log_in_with_a_password_and_see_their_role_and_library(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-admin")

    me = await service.client.get("/staff/me", headers=headers)

    assert me.json() == {
        "id": me.json()["id"],
        "username": "a-admin",
        "display_name": "a-admin",
        "role": "library_admin",
        "library_code": "TL-A",
        "active": True,
    }


async def test_wrong_passwords_lock_the_username_even_when_guessed_in_parallel(service: Service, network: None) -> None:
    guesses = await asyncio.gather(
        *(
            service.client.post("/staff/auth/login", json={"username": "a-desk", "password": f"guess-{i}"})
            for i in range(12)
        )
    )
    assert sorted(r.json()["code"] for r in guesses) == ["staff_login_failed"] * 5 + ["staff_login_locked"] * 7

    right = await service.client.post("/staff/auth/login", json={"username": "a-desk", "password": STAFF_PASSWORD})
    assert right.status_code == 429 and right.json()["code"] == "staff_login_locked"
    assert 0 < int(right.headers["retry-after"]) <= service.settings.security.staff_login_lockout_seconds
    unknown = await service.client.post("/staff/auth/login", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "staff_login_failed"


async def test_staff_of_one_main_library_cannot_change_another(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-admin")

    own = await service.client.patch("/staff/libraries/TL-A-1", json={"phone": "0562-1234567"}, headers=headers)
    other = await service.client.patch("/staff/libraries/TL-B-1", json={"phone": "0562-7654321"}, headers=headers)
    above = await service.client.patch("/staff/libraries/TL", json={"name": "改名"}, headers=headers)

    assert own.status_code == 200 and own.json()["phone"] == "0562-1234567"
    assert other.status_code == 403 and other.json()["code"] == "outside_staff_scope"
    assert above.status_code == 403
    assert (await Library.get(code="TL-B-1")).phone == ""
    assert (await Library.get(code="TL")).name == "铜陵市图书馆"


async def test_librarians_cannot_change_libraries_or_staff(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-desk")

    patch = await service.client.patch("/staff/libraries/TL-A-1", json={"phone": "1"}, headers=headers)
    create = await service.client.post(
        "/staff/staff-users",
        headers=headers,
        json={
            "username": "new-desk",
            "password": "long-enough-password",
            "role": "librarian",
            "library_code": "TL-A-1",
        },
    )

    assert patch.status_code == create.status_code == 403
    assert patch.json()["code"] == create.json()["code"] == "staff_role_insufficient"
    assert not await StaffUser.exists(username="new-desk")


async def test_admins_add_staff_in_their_scope_with_no_higher_role(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-admin")
    new = {"username": "a-desk-2", "password": "long-enough-password", "library_code": "TL-A-1"}

    ok = await service.client.post("/staff/staff-users", json={**new, "role": "librarian"}, headers=headers)
    higher = await service.client.post(
        "/staff/staff-users", headers=headers, json={**new, "username": "boss", "role": "network_admin"}
    )
    elsewhere = await service.client.post(
        "/staff/staff-users",
        headers=headers,
        json={**new, "username": "spy", "role": "librarian", "library_code": "TL-B"},
    )
    weak = await service.client.post(
        "/staff/staff-users",
        headers=headers,
        json={**new, "username": "weak", "role": "librarian", "password": "short"},
    )
    taken = await service.client.post("/staff/staff-users", json={**new, "role": "librarian"}, headers=headers)

    assert ok.status_code == 201 and ok.json()["library_code"] == "TL-A-1"
    assert (higher.status_code, higher.json()["code"]) == (403, "staff_role_insufficient")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "outside_staff_scope")
    assert (weak.status_code, weak.json()["code"]) == (422, "staff_password_weak")
    assert (taken.status_code, taken.json()["code"]) == (409, "staff_username_taken")
    assert await StaffUser.filter(username__in=["boss", "spy", "weak"]).count() == 0
    listed = await service.client.get("/staff/staff-users", headers=headers)
    assert sorted(s["username"] for s in listed.json()["items"]) == ["a-admin", "a-desk", "a-desk-2"]


async def test_a_deactivated_staff_member_is_locked_out_at_once(service: Service, network: None) -> None:
    admin = await staff_headers(service.client, "a-admin")
    login = await service.client.post("/staff/auth/login", json={"username": "a-desk", "password": STAFF_PASSWORD})
    desk = await StaffUser.get(username="a-desk")
    foreign = await staff_headers(service.client, "b-admin")

    refused = await service.client.post(f"/staff/staff-users/{desk.id}/deactivate", headers=foreign)
    done = await service.client.post(f"/staff/staff-users/{desk.id}/deactivate", headers=admin)

    assert refused.status_code == 404
    assert done.status_code == 200 and done.json()["active"] is False
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await service.client.get("/staff/me", headers=bearer)).status_code == 401
    refresh = await service.client.post("/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refresh.status_code == 401


async def test_reader_and_staff_tokens_only_open_their_own_doors(service: Service, network: None) -> None:
    reader = await login_reader(service, "openid-reader")
    staff = await staff_headers(service.client, "admin")

    as_staff = await service.client.get("/staff/me", headers=reader.headers)
    as_reader = await service.client.get("/readers/me", headers=staff)

    assert (as_staff.status_code, as_staff.json()["code"]) == (403, "staff_only")
    assert (as_reader.status_code, as_reader.json()["code"]) == (403, "readers_only")


async def test_admins_add_libraries_only_where_the_network_levels_allow(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-admin")
    point = {
        "code": "TL-A-1-V1",
        "name": "天井湖社区服务点",
        "level": "service_point",
        "parent_code": "TL-A-1",
        "latitude": 30.94,
        "longitude": 117.82,
        "services": ["lending", "returns"],
        "opening_hours": {"sat": [["14:00", "17:00"]]},
    }

    created = await service.client.post("/staff/libraries", json=point, headers=headers)
    duplicate = await service.client.post("/staff/libraries", json=point, headers=headers)
    under_point = await service.client.post(
        "/staff/libraries", headers=headers, json={**point, "code": "X1", "parent_code": "TL-A-1-V1"}
    )
    bad_hours = await service.client.post(
        "/staff/libraries",
        headers=headers,
        json={**point, "code": "X2", "opening_hours": {"sat": [["17:00", "14:00"]]}},
    )
    second_central = await service.client.post(
        "/staff/libraries",
        headers=await staff_headers(service.client, "admin"),
        json={**point, "code": "X3", "level": "central", "parent_code": "TL"},
    )

    assert created.status_code == 201 and created.json()["parent_code"] == "TL-A-1"
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "library_code_taken")
    assert (under_point.status_code, under_point.json()["code"]) == (422, "invalid_parent_library")
    assert (bad_hours.status_code, bad_hours.json()["code"]) == (422, "invalid_opening_hours")
    assert second_central.status_code == 422
    assert await Library.filter(code__in=["X1", "X2", "X3"]).count() == 0
    child = await Library.get(code="TL-A-1-V1").select_related("parent")
    assert child.path.startswith(child.parent.path)


async def test_network_administrators_sit_only_at_the_central_library(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "admin")
    new = {"username": "branch-boss", "password": "long-enough-password", "role": "network_admin"}

    at_branch = await service.client.post("/staff/staff-users", json={**new, "library_code": "TL-A-1"}, headers=headers)
    at_central = await service.client.post("/staff/staff-users", json={**new, "library_code": "TL"}, headers=headers)

    assert (at_branch.status_code, at_branch.json()["code"]) == (422, "network_admin_outside_central")
    assert at_central.status_code == 201


async def test_admins_cannot_disable_themselves_or_their_peers(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-admin")
    await make_staff("a-admin-2", StaffRole.LIBRARY_ADMIN, "TL-A-1")
    me, peer = await StaffUser.get(username="a-admin"), await StaffUser.get(username="a-admin-2")

    self_off = await service.client.post(f"/staff/staff-users/{me.id}/deactivate", headers=headers)
    peer_off = await service.client.post(f"/staff/staff-users/{peer.id}/deactivate", headers=headers)

    assert (self_off.status_code, self_off.json()["code"]) == (409, "cannot_deactivate_self")
    assert (peer_off.status_code, peer_off.json()["code"]) == (403, "staff_role_insufficient")
    assert await StaffUser.filter(active=True, username__in=["a-admin", "a-admin-2"]).count() == 2


async def test_admins_neither_list_staff_nor_add_libraries_outside_their_scope(service: Service, network: None) -> None:
    headers = await staff_headers(service.client, "a-admin")
    point = {
        "code": "TL-B-1-V9",
        "name": "外区服务点",
        "level": "service_point",
        "parent_code": "TL-B-1",
        "latitude": 30.70,
        "longitude": 117.23,
    }

    listed = await service.client.get("/staff/staff-users", params={"library": "TL-B"}, headers=headers)
    created = await service.client.post("/staff/libraries", json=point, headers=headers)

    assert (listed.status_code, listed.json()["code"]) == (403, "outside_staff_scope")
    assert (created.status_code, created.json()["code"]) == (403, "outside_staff_scope")
    assert not await Library.exists(code="TL-B-1-V9")
