"""A suspension is lifted only at the level that set it or above: a county library cannot undo the network."""

from datetime import UTC, datetime

from backend.accounts.models import Reader, StaffRole
from backend.circulation.models import Suspension, SuspensionKind
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

STAFF = [
    ("network", StaffRole.NETWORK_ADMIN, "TL"),
    ("city", StaffRole.LIBRARY_ADMIN, "TL"),  # the central library's own administrator
    ("county-a", StaffRole.LIBRARY_ADMIN, "TL-A"),
    ("county-b", StaffRole.LIBRARY_ADMIN, "TL-B"),
    ("branch-a", StaffRole.LIBRARY_ADMIN, "TL-A-1"),
]


async def _suspend(service: Service, staff: dict[str, str], card: str) -> int:
    response = await service.client.post(
        f"/staff/readers/{card}/suspensions", json={"kind": "blacklisted", "reason": "恶意损毁图书"}, headers=staff
    )
    assert response.status_code == 201, response.text
    suspension_id: int = response.json()["id"]
    return suspension_id


async def _lift(service: Service, staff: dict[str, str], suspension_id: int) -> tuple[int, str]:
    response = await service.client.delete(f"/staff/suspensions/{suspension_id}", headers=staff)
    return response.status_code, "" if response.status_code == 204 else response.json()["code"]


async def test_a_suspension_is_lifted_only_by_its_setters_level_or_above(service: Service) -> None:
    await build_network()
    for username, role, library in STAFF:
        await make_staff(username, role, library)
    staff = {username: await staff_headers(service.client, username) for username, _, _ in STAFF}
    await login_reader(service, "openid-suspended")
    card = (await Reader.get(openid="openid-suspended")).card_number

    by_network = await _suspend(service, staff["network"], card)
    network_refusals = [await _lift(service, staff[who], by_network) for who in ("county-a", "branch-a", "city")]
    network_lifted = await _lift(service, staff["network"], by_network)
    by_county = await _suspend(service, staff["county-a"], card)
    county_refusals = [await _lift(service, staff[who], by_county) for who in ("branch-a", "county-b")]
    county_lifted = await _lift(service, staff["city"], by_county)
    by_branch = await _suspend(service, staff["branch-a"], card)
    branch_lifted = await _lift(service, staff["county-a"], by_branch)
    by_branch_again = await _suspend(service, staff["branch-a"], card)
    lifted_by_itself = await _lift(service, staff["branch-a"], by_branch_again)

    assert network_refusals == [(403, "suspension_set_above")] * 3
    assert network_lifted == (204, "")
    assert county_refusals == [(403, "suspension_set_above")] * 2
    assert county_lifted == (204, "")
    assert branch_lifted == (204, "") and lifted_by_itself == (204, "")
    assert await Suspension.filter(lifted_at__isnull=True).count() == 0


async def test_a_refused_lift_leaves_the_reader_suspended(service: Service) -> None:
    await build_network()
    await make_staff("network", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("county-a", StaffRole.LIBRARY_ADMIN, "TL-A")
    network, county = [await staff_headers(service.client, who) for who in ("network", "county-a")]
    await login_reader(service, "openid-blacklisted")
    card = (await Reader.get(openid="openid-blacklisted")).card_number
    suspension_id = await _suspend(service, network, card)

    refused = await _lift(service, county, suspension_id)
    seen = (await service.client.get(f"/staff/readers/{card}/credit", headers=county)).json()

    assert refused == (403, "suspension_set_above")
    assert seen["suspension"]["id"] == suspension_id


async def test_suspensions_from_before_levels_were_recorded_are_lifted_by_network_admins_only(
    service: Service,
) -> None:
    await build_network()
    await make_staff("network", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("city", StaffRole.LIBRARY_ADMIN, "TL")
    network, city = [await staff_headers(service.client, who) for who in ("network", "city")]
    await login_reader(service, "openid-old")
    reader = await Reader.get(openid="openid-old")
    # What the migration makes of a suspension recorded before: set at the network's level.
    old = await Suspension.create(
        reader=reader, kind=SuspensionKind.SUSPENDED, reason="长期逾期未还", starts_at=datetime(2026, 1, 1, tzinfo=UTC)
    )

    assert await _lift(service, city, old.id) == (403, "suspension_set_above")
    assert await _lift(service, network, old.id) == (204, "")
