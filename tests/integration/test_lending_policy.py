"""Staff set the lending policy: the network's credit tiers and the loan rule table, each within their authority."""

import asyncio
from datetime import datetime

from backend.accounts.models import StaffRole
from backend.circulation.models import CreditTier, LoanRule
from tests.integration.conftest import Service
from tests.integration.factories import login_reader, make_staff, staff_headers
from tests.integration.lending import desks, lend, my_loans

__all__ = ["desks"]  # the fixture, used by name

TERMS = {
    "loan_days": 14,
    "renewals": 0,
    "renewal_days": 14,
    "renew_from": "today",
    "holds_allowed": True,
    "credit_per_overdue_day": 2,
    "fee_cents_per_day": 0,
    "fee_cap_cents": 0,
    "block_after_overdue_items": 1,
}


async def _admins(service: Service) -> dict[str, dict[str, str]]:
    await make_staff("network", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("b-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    return {name: await staff_headers(service.client, name) for name in ("network", "a-admin", "b-admin")}


def _days(loan: dict[str, object], now: datetime) -> int:
    return (datetime.fromisoformat(str(loan["due_at"])).date() - now.date()).days


async def test_a_librarys_rule_applies_there_and_below_and_deleting_it_restores_the_fallback(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    reader = await login_reader(service, "openid-reader")
    now = service.clock.now()

    created = await service.client.post(
        "/staff/loan-rules", json={**TERMS, "library_code": "TL-A", "item_type": "book"}, headers=admins["a-admin"]
    )
    at_a = await lend(service, desks["a-desk"], reader, "A0001")
    at_b = await lend(service, desks["b-desk"], reader, "B0001")
    under_the_rule = {loan["barcode"]: loan["renewable"] for loan in await my_loans(service, reader)}
    deleted = await service.client.delete(f"/staff/loan-rules/{created.json()['id']}", headers=admins["a-admin"])
    after = await lend(service, desks["a-desk"], reader, "A0002")
    under_the_fallback = {loan["barcode"]: loan["renewable"] for loan in await my_loans(service, reader)}

    assert created.status_code == 201, created.text
    assert created.json()["library_code"] == "TL-A" and not created.json()["fallback"]
    assert deleted.status_code == 204, deleted.text
    assert (_days(at_a, now), _days(at_b, now), _days(after, now)) == (14, 30, 30)
    assert deleted.status_code == 204
    # The rule allowed no renewal; its loan now follows the fallback, which allows one.
    assert (under_the_rule["A0001"], under_the_fallback["A0001"]) == (False, True)


async def test_each_administrator_sets_rules_only_within_their_authority(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    before = await LoanRule.all().count()

    for headers, body, status, code in [
        (admins["b-admin"], {**TERMS, "library_code": "TL-A"}, 403, "outside_staff_scope"),
        (admins["a-admin"], TERMS, 403, "staff_role_insufficient"),  # network-wide
        (desks["a-desk"], {**TERMS, "library_code": "TL-A"}, 403, "staff_role_insufficient"),
        (admins["network"], {**TERMS, "loan_days": 0}, 400, "invalid_request"),
        (admins["network"], {**TERMS, "reader_category": "pensioner"}, 400, "invalid_request"),
    ]:
        response = await service.client.post("/staff/loan-rules", json=body, headers=headers)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert await LoanRule.all().count() == before

    fallback = next(
        r for r in (await service.client.get("/staff/loan-rules", headers=desks["a-desk"])).json() if r["fallback"]
    )
    refused = await service.client.delete(f"/staff/loan-rules/{fallback['id']}", headers=admins["network"])
    changed = await service.client.put(f"/staff/loan-rules/{fallback['id']}", json=TERMS, headers=admins["network"])
    assert (refused.status_code, refused.json()["code"]) == (409, "fallback_rule_required")
    assert changed.status_code == 200 and changed.json()["loan_days"] == 14 and changed.json()["fallback"]


async def test_one_rule_per_category_item_type_and_library_even_when_asked_at_once(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    body = {**TERMS, "reader_category": "child"}  # item type and library empty: NULLs, which plain UNIQUE allows twice

    responses = await asyncio.gather(
        *(service.client.post("/staff/loan-rules", json=body, headers=admins["network"]) for _ in range(8))
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"loan_rule_exists"}
    assert await LoanRule.filter(reader_category="child", item_type=None, library_id=None).count() == 1


async def test_a_network_admin_tightens_a_tier_and_readers_feel_it_at_once(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    reader = await login_reader(service, "openid-reader")
    tiers = (await service.client.get("/staff/credit-tiers", headers=desks["a-desk"])).json()
    top = tiers[0]
    tier = {key: value for key, value in top.items() if key != "id"}

    by_librarian = await service.client.put(
        f"/staff/credit-tiers/{top['id']}", json={**tier, "max_loans": 1}, headers=desks["a-desk"]
    )
    tightened = await service.client.put(
        f"/staff/credit-tiers/{top['id']}", json={**tier, "max_loans": 1}, headers=admins["network"]
    )
    first = await lend(service, desks["a-desk"], reader, "A0001")
    second = await lend(service, desks["a-desk"], reader, "A0002")

    assert (by_librarian.status_code, by_librarian.json()["code"]) == (403, "staff_role_insufficient")
    assert tightened.status_code == 200 and tightened.json()["max_loans"] == 1
    assert first["status"] == 201
    assert (second["status"], second["code"]) == (409, "loan_limit_reached")
    assert "1" in str(second["title"])


async def test_tiers_keep_distinct_floors_and_the_last_one_stays(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    tiers = (await service.client.get("/staff/credit-tiers", headers=admins["network"])).json()
    second = {key: value for key, value in tiers[1].items() if key != "id"}

    clash = await service.client.post(
        "/staff/credit-tiers", json={**second, "name": "新等级"}, headers=admins["network"]
    )
    by_library_admin = await service.client.post(
        "/staff/credit-tiers", json={**second, "name": "新等级", "min_score": 90}, headers=admins["a-admin"]
    )
    deletions = [
        await service.client.delete(f"/staff/credit-tiers/{tier['id']}", headers=admins["network"]) for tier in tiers
    ]

    assert (clash.status_code, clash.json()["code"]) == (409, "tier_conflict")
    assert (by_library_admin.status_code, by_library_admin.json()["code"]) == (403, "staff_role_insufficient")
    assert [d.status_code for d in deletions] == [204] * (len(tiers) - 1) + [409]
    assert deletions[-1].json()["code"] == "last_tier_required"
    assert await CreditTier.all().count() == 1


async def test_admins_deleting_every_tier_at_once_leave_one(service: Service, desks: dict[str, dict[str, str]]) -> None:
    admins = await _admins(service)
    tiers = (await service.client.get("/staff/credit-tiers", headers=admins["network"])).json()

    deletions = await asyncio.gather(
        *(service.client.delete(f"/staff/credit-tiers/{t['id']}", headers=admins["network"]) for t in tiers)
    )

    assert sorted(d.status_code for d in deletions) == [204] * (len(tiers) - 1) + [409]
    assert await CreditTier.all().count() == 1
