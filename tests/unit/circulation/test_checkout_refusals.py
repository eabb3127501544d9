"""A checkout refused for several reasons at once is told all of them, the most important first."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from backend.catalog.models import CopyStatus
from backend.circulation.models import CreditTier, RenewFrom, Suspension, SuspensionKind
from backend.circulation.standing import Standing
from backend.circulation.terms import LoanTerms
from backend.circulation.validators import CheckoutAttempt, checkout_refusals

READER, OTHER = 1, 2
TIER = CreditTier(
    name="良好",
    min_score=80,
    deposit_free=True,
    self_service=False,
    max_loans=3,
    max_loan_days=30,
    max_renewals=1,
    max_holds=5,
    delivery=False,
)
TERMS = LoanTerms(
    loan_days=30,
    renewals=1,
    renewal_days=30,
    renew_from=RenewFrom.DUE_DATE,
    holds_allowed=True,
    credit_per_overdue_day=1,
    fee_cents_per_day=10,
    fee_cap_cents=500,
    block_after_overdue_items=1,
    delivery_allowed=True,
)
IN_GOOD_STANDING = CheckoutAttempt(
    reader_id=READER,
    copy_status=CopyStatus.AVAILABLE,
    held_for=None,
    standing=Standing(score=90, tier=TIER, on_loan=0, overdue=0, suspension=None),
    terms=TERMS,
    deposit_free=True,
    self_service=False,
)


def attempt(*, on_loan: int = 0, overdue: int = 0, suspended: bool = False, **changes: object) -> CheckoutAttempt:
    suspension = (
        Suspension(kind=SuspensionKind.BLACKLISTED, reason="恶意损毁图书", starts_at=datetime(2026, 1, 1, tzinfo=UTC))
        if suspended
        else None
    )
    standing = Standing(score=90, tier=TIER, on_loan=on_loan, overdue=overdue, suspension=suspension)
    return dataclasses.replace(IN_GOOD_STANDING, standing=standing, **changes)


def codes(attempt: CheckoutAttempt) -> list[str]:
    return [refusal.code for refusal in checkout_refusals(attempt)]


def test_a_reader_in_good_standing_borrows_an_available_copy() -> None:
    assert codes(IN_GOOD_STANDING) == []


def test_a_reader_over_the_limit_with_overdue_items_asking_for_a_copy_held_for_another_hears_all_three() -> None:
    refused = attempt(on_loan=3, overdue=1, copy_status=CopyStatus.ON_HOLD_SHELF, held_for=OTHER)

    assert codes(refused) == ["copy_held_for_another", "overdue_items_block", "loan_limit_reached"]
    assert checkout_refusals(refused)[2].params == {"on_loan": 3, "limit": 3}


def test_every_independent_reason_is_given() -> None:
    refused = attempt(
        on_loan=3, overdue=2, suspended=True, copy_status=CopyStatus.IN_TRANSIT, held_for=OTHER, self_service=True
    )

    assert codes(refused) == [
        "copy_held_for_another",
        "copy_not_available",
        "reader_suspended",
        "counter_only",
        "overdue_items_block",
        "loan_limit_reached",
    ]


def test_a_reader_without_deposit_free_borrowing_is_not_also_told_their_tiers_limits() -> None:
    refused = attempt(on_loan=3, deposit_free=False, self_service=True)

    assert codes(refused) == ["credit_too_low"]


def test_the_copy_on_the_hold_shelf_goes_to_the_reader_it_waits_for_only() -> None:
    assert codes(attempt(copy_status=CopyStatus.ON_HOLD_SHELF, held_for=READER)) == []
    assert codes(attempt(copy_status=CopyStatus.ON_HOLD_SHELF, held_for=None)) == ["copy_not_available"]  # expired


def test_overdue_items_block_from_the_number_the_terms_set() -> None:
    lenient = dataclasses.replace(TERMS, block_after_overdue_items=3)

    assert codes(attempt(overdue=2, terms=lenient)) == []
    assert codes(attempt(overdue=3, terms=lenient)) == ["overdue_items_block"]
