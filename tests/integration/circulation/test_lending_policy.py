"""Staff set the lending policy: the network's credit tiers and the loan rule table, each within their authority."""

import asyncio
import contextlib
from datetime import datetime

from tortoise.transactions import in_transaction

from backend.accounts.models import StaffRole
from backend.circulation import terms
from backend.circulation.models import CreditTier, LoanRule
from backend.circulation.rules import rule_table
from tests.integration.circulation.lending import lend, my_loans
from tests.integration.factories import login_reader, make_staff, staff_headers
from tests.integration.service import Service

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
    "delivery_allowed": True,
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


async def test_a_library_states_one_term_and_takes_the_others_from_the_rules_above(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    reader = await login_reader(service, "openid-reader")

    created = await service.client.post(
        "/staff/loan-rules", json={"library_code": "TL-A", "loan_days": 21}, headers=admins["a-admin"]
    )
    effective = {
        item_type: await service.client.get(
            "/staff/loan-rules/effective",
            params={"reader_category": "adult", "item_type": item_type, "library_code": "TL-A-1"},
            headers=desks["a-desk"],
        )
        for item_type in ("book", "periodical")
    }
    lent = await lend(service, desks["a-desk"], reader, "A1001")
    (loan,) = await my_loans(service, reader)

    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["loan_days"], rule["renewals"], rule["renew_from"]) == (21, None, None)
    rules = (await service.client.get("/staff/loan-rules", headers=desks["a-desk"])).json()["items"]
    fallback, periodicals = (
        next(r for r in rules if r["item_type"] == t and not r["library_code"]) for t in (None, "periodical")
    )
    sources = {
        item_type: {t["term"]: (t["value"], t["rule_id"], t["library_code"]) for t in answer.json()["terms"]}
        for item_type, answer in effective.items()
    }
    assert effective["book"].status_code == 200, effective["book"].text
    assert sources["book"]["loan_days"] == (21, rule["id"], "TL-A")  # TL-A's rule covers its branch TL-A-1
    assert sources["book"]["renewals"] == (1, fallback["id"], None)
    assert sources["periodical"]["loan_days"] == (21, rule["id"], "TL-A")  # the library weighs most
    assert sources["periodical"]["renewals"] == (0, periodicals["id"], None)
    assert list(sources["book"]) == list(terms.TERMS)
    assert _days(lent, service.clock.now()) == 21 and loan["renewable"] is True  # the fallback's one renewal


async def test_a_patch_changes_the_terms_given_and_a_put_states_exactly_those(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    created = await service.client.post(
        "/staff/loan-rules", json={"library_code": "TL-A", "loan_days": 21, "renewals": 0}, headers=admins["a-admin"]
    )
    url = f"/staff/loan-rules/{created.json()['id']}"
    fallback = next(
        r
        for r in (await service.client.get("/staff/loan-rules", headers=admins["network"])).json()["items"]
        if r["fallback"]
    )

    patched = await service.client.patch(url, json={"renewals": None, "renewal_days": 7}, headers=admins["a-admin"])
    put = await service.client.put(url, json={"loan_days": 10}, headers=admins["a-admin"])
    by_another_library = await service.client.patch(url, json={"loan_days": 5}, headers=admins["b-admin"])
    fallback_url = f"/staff/loan-rules/{fallback['id']}"
    fallback_put = await service.client.put(fallback_url, json={"loan_days": 10}, headers=admins["network"])
    fallback_unset = await service.client.patch(fallback_url, json={"renewals": None}, headers=admins["network"])
    fallback_patched = await service.client.patch(fallback_url, json={"renewals": 2}, headers=admins["network"])
    empty = await service.client.post("/staff/loan-rules", json={"library_code": "TL-B"}, headers=admins["b-admin"])
    emptied = await service.client.patch(url, json={"loan_days": None}, headers=admins["a-admin"])

    assert patched.status_code == 200, patched.text
    assert [patched.json()[t] for t in ("loan_days", "renewals", "renewal_days")] == [21, None, 7]
    assert put.json()["id"] == created.json()["id"]
    assert [put.json()[t] for t in terms.TERMS] == [10] + [None] * (len(terms.TERMS) - 1)
    assert (by_another_library.status_code, by_another_library.json()["code"]) == (403, "outside_staff_scope")
    assert (fallback_put.status_code, fallback_put.json()["code"]) == (409, "fallback_terms_required")
    assert (fallback_unset.status_code, fallback_unset.json()["code"]) == (409, "fallback_terms_required")
    assert fallback_patched.json() == {**fallback, "renewals": 2}
    assert (empty.status_code, empty.json()["code"]) == (422, "loan_rule_empty")
    assert (emptied.status_code, emptied.json()["code"]) == (422, "loan_rule_empty")  # a rule is deleted, not emptied


async def test_a_change_to_the_rules_reaches_the_next_checkout_however_it_is_made(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    reader = await login_reader(service, "openid-reader")
    now = service.clock.now()
    fallback_loan_days = LoanRule.filter(reader_category=None, item_type=None, library_id=None, term="loan_days")

    before = await lend(service, desks["a-desk"], reader, "A0001")  # the rules are read, and kept
    await fallback_loan_days.update(value="9")  # as psql or another process would: not through the policy code
    changed = await lend(service, desks["a-desk"], reader, "A0002")
    with contextlib.suppress(RuntimeError):
        async with in_transaction():
            await fallback_loan_days.update(value="3")
            assert (await rule_table()).network_terms().loan_days == 3  # seen, uncommitted, in its transaction
            raise RuntimeError("rolled back")
    after_rollback = await lend(service, desks["a-desk"], reader, "F0001")

    assert [_days(loan, now) for loan in (before, changed, after_rollback)] == [30, 9, 9]


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
        r
        for r in (await service.client.get("/staff/loan-rules", headers=desks["a-desk"])).json()["items"]
        if r["fallback"]
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
    assert await LoanRule.filter(reader_category="child", item_type=None, library_id=None).count() == len(terms.TERMS)


async def test_a_network_admin_tightens_a_tier_and_readers_feel_it_at_once(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    admins = await _admins(service)
    reader = await login_reader(service, "openid-reader")
    tiers = (await service.client.get("/staff/credit-tiers", headers=desks["a-desk"])).json()["items"]
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
    tiers = (await service.client.get("/staff/credit-tiers", headers=admins["network"])).json()["items"]
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
    tiers = (await service.client.get("/staff/credit-tiers", headers=admins["network"])).json()["items"]

    deletions = await asyncio.gather(
        *(service.client.delete(f"/staff/credit-tiers/{t['id']}", headers=admins["network"]) for t in tiers)
    )

    assert sorted(d.status_code for d in deletions) == [204] * (len(tiers) - 1) + [409]
    assert await CreditTier.all().count() == 1
