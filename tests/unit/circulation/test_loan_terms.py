"""Each term of a loan from the most specific rule that states it (Koha's circulation rules)."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from backend.catalog.models import ItemType
from backend.circulation.errors import InvalidTerm
from backend.circulation.models import ReaderCategory, RenewFrom
from backend.circulation.terms import TERMS, LoanTerms, RuleRow, RuleTable
from miniprogram_api.circulation.schemas import LoanRuleOut, RuleTermsIn

ADULT, CHILD = ReaderCategory.ADULT, ReaderCategory.CHILD
BOOK, PERIODICAL = ItemType.BOOK, ItemType.PERIODICAL
CITY, DISTRICT, BRANCH, OTHER_DISTRICT = 1, 4, 17, 5
AT_BRANCH = [CITY, DISTRICT, BRANCH]  # the branch's path in the network, the root first

NETWORK = {
    "loan_days": "30",
    "renewals": "1",
    "renewal_days": "30",
    "renew_from": "due_date",
    "holds_allowed": "true",
    "credit_per_overdue_day": "1",
    "fee_cents_per_day": "10",
    "fee_cap_cents": "500",
    "block_after_overdue_items": "1",
    "delivery_allowed": "true",
}


def table(*rules: tuple[ReaderCategory | None, ItemType | None, int | None, dict[str, str | None]]) -> RuleTable:
    """The fallback (rule 1) and the given rules, numbered from 100 by tens."""
    rows: list[RuleRow] = []
    for number, (category, item_type, library, stated) in enumerate([(None, None, None, NETWORK), *rules]):
        first = 1 if number == 0 else 100 + 10 * number
        rows += [(first + i, category, item_type, library, t, v) for i, (t, v) in enumerate(stated.items())]
    return RuleTable.of_rows(rows)


def test_a_library_that_states_one_term_takes_every_other_from_the_fallback() -> None:
    rules = table((None, None, DISTRICT, {"loan_days": "21"}))

    resolved = rules.resolve(ADULT, BOOK, AT_BRANCH)

    assert resolved.terms == dataclasses.replace(rules.network_terms(), loan_days=21)
    assert resolved.sources["loan_days"].id == 110
    assert {rule.id for term, rule in resolved.sources.items() if term != "loan_days"} == {1}


def test_the_nearer_library_weighs_more_than_the_one_above_it() -> None:
    rules = table(
        (None, None, CITY, {"loan_days": "40", "renewals": "3"}),
        (None, None, DISTRICT, {"loan_days": "21"}),
    )

    terms = rules.terms(ADULT, BOOK, AT_BRANCH)

    assert (terms.loan_days, terms.renewals) == (21, 3)


def test_the_library_weighs_most_then_the_category_then_the_item_type() -> None:
    rules = table(
        (None, PERIODICAL, None, {"loan_days": "14", "renewals": "0", "fee_cap_cents": "300"}),
        (CHILD, None, None, {"loan_days": "20", "renewals": "2"}),
        (CHILD, PERIODICAL, None, {"renewals": "4"}),
        (None, None, DISTRICT, {"loan_days": "21"}),
    )

    terms = rules.terms(CHILD, PERIODICAL, AT_BRANCH)

    assert (terms.loan_days, terms.renewals, terms.fee_cap_cents) == (21, 4, 300)
    assert rules.terms(CHILD, PERIODICAL, [CITY, OTHER_DISTRICT]).loan_days == 20
    assert rules.terms(ADULT, PERIODICAL, [CITY, OTHER_DISTRICT]).loan_days == 14


def test_rules_of_other_libraries_categories_and_item_types_do_not_apply() -> None:
    rules = table(
        (None, None, OTHER_DISTRICT, {"loan_days": "7"}),
        (CHILD, None, None, {"loan_days": "8"}),
        (None, PERIODICAL, None, {"loan_days": "9"}),
    )

    assert rules.terms(ADULT, BOOK, AT_BRANCH) == rules.network_terms()


def test_a_term_no_longer_stated_comes_from_the_rules_above() -> None:
    rules = table((None, None, DISTRICT, {"loan_days": None, "renewals": "0"}))

    resolved = rules.resolve(ADULT, BOOK, AT_BRANCH)

    assert (resolved.terms.loan_days, resolved.terms.renewals) == (30, 0)
    assert resolved.sources["loan_days"].id == 1
    assert rules.rule_sets[1].id == 110 and dict(rules.rule_sets[1].stated) == {"renewals": 0}


def test_values_are_read_as_their_terms_types() -> None:
    terms = table().network_terms()

    assert terms.renew_from is RenewFrom.DUE_DATE
    assert terms.holds_allowed is True and terms.fee_cap_cents == 500


def test_a_term_a_newer_release_added_is_left_out() -> None:
    rules = table((None, None, DISTRICT, {"home_delivery_zone": "3", "loan_days": "21"}))

    assert dict(rules.rule_sets[1].stated) == {"loan_days": 21}


def test_without_a_complete_fallback_nothing_resolves() -> None:
    rules = RuleTable.of_rows([(1, None, None, None, "loan_days", "30")])

    with pytest.raises(AssertionError):
        rules.resolve(ADULT, BOOK, AT_BRANCH)


@pytest.mark.parametrize(
    ("term", "value"),
    [
        ("loan_days", 0),
        ("loan_days", 366),
        ("loan_days", "30"),
        ("loan_days", True),
        ("holds_allowed", 1),
        ("renew_from", "tomorrow"),
        ("block_after_overdue_items", 0),
    ],
)
def test_a_value_of_the_wrong_type_or_out_of_bounds_is_refused(term: str, value: object) -> None:
    with pytest.raises(InvalidTerm):
        TERMS[term].check(value)


def test_values_within_bounds_are_taken_as_their_type() -> None:
    assert TERMS["loan_days"].check(365) == 365
    assert TERMS["renew_from"].check("today") is RenewFrom.TODAY
    assert TERMS["holds_allowed"].check(False) is False
    assert TERMS["holds_allowed"].text(False) == "false" and TERMS["renew_from"].text(RenewFrom.TODAY) == "today"


@pytest.mark.parametrize(("days", "fee"), [(0, 0), (3, 30), (50, 500), (51, 500), (-2, 0)])
def test_the_overdue_fee_runs_per_day_up_to_its_cap(days: int, fee: int) -> None:
    terms = table().network_terms()  # 10 fen a day, capped at 5 yuan

    assert terms.overdue_fee_cents(days) == fee


def test_a_library_that_charges_no_fee_charges_none() -> None:
    terms = dataclasses.replace(table().network_terms(), fee_cents_per_day=0, fee_cap_cents=0)

    assert terms.overdue_fee_cents(40) == 0


def test_the_staff_api_states_every_term_with_the_domains_bounds() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"loan_days": 366}', type=RuleTermsIn)
    assert msgspec.json.decode(b'{"loan_days": 365, "renewals": null}', type=RuleTermsIn).changes() == {
        "loan_days": 365,
        "renewals": None,
    }
    assert RuleTermsIn.__struct_fields__ == tuple(TERMS)
    assert set(TERMS) <= set(LoanRuleOut.__struct_fields__)
    assert [f.name for f in dataclasses.fields(LoanTerms)] == list(TERMS)
