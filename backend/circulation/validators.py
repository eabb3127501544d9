"""Why a checkout is refused: small checks that each return a refusal or None, all run, so the reader and the desk
hear every reason at once (FOLIO's CheckOutValidators), not one per attempt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.catalog.models import CopyStatus
from backend.circulation.errors import (
    CopyHeldForAnother,
    CopyNotAvailable,
    CounterOnly,
    CreditTooLow,
    LoanLimitReached,
    OverdueItemsBlock,
)
from backend.circulation.standing import Standing, suspension_refusal
from backend.circulation.terms import LoanTerms
from backend.errors import DomainError


@dataclass(frozen=True, slots=True)
class CheckoutAttempt:
    """What a checkout is judged on, read under the reader's and the copy's row locks."""

    reader_id: int
    copy_status: CopyStatus
    held_for: int | None
    """The reader an active hold keeps the copy for (on its way to them or on their hold shelf), if any."""
    standing: Standing
    terms: LoanTerms
    deposit_free: bool
    self_service: bool
    barred: DomainError | None = None
    """A refusal the credit check gives from outside circulation (fees owed)."""


Check = Callable[[CheckoutAttempt], DomainError | None]


def held_for_another(attempt: CheckoutAttempt) -> DomainError | None:
    if attempt.held_for is not None and attempt.held_for != attempt.reader_id:
        return CopyHeldForAnother()
    return None


def not_available(attempt: CheckoutAttempt) -> DomainError | None:
    status = attempt.copy_status
    if status is CopyStatus.AVAILABLE or (status is CopyStatus.ON_HOLD_SHELF and attempt.held_for is not None):
        return None
    # Another status, or a copy left on the hold shelf by an expired hold: staff check it in first.
    return CopyNotAvailable(status=status.value)


def suspended(attempt: CheckoutAttempt) -> DomainError | None:
    return suspension_refusal(attempt.standing)


def barred(attempt: CheckoutAttempt) -> DomainError | None:
    return attempt.barred


def credit_too_low(attempt: CheckoutAttempt) -> DomainError | None:
    return None if attempt.deposit_free else CreditTooLow(score=attempt.standing.score)


def counter_only(attempt: CheckoutAttempt) -> DomainError | None:
    # Only for a reader who may borrow deposit-free at all: to one who may not, the tier's limits say nothing more.
    if attempt.deposit_free and attempt.self_service and not attempt.standing.tier.self_service:
        return CounterOnly()
    return None


def overdue_items(attempt: CheckoutAttempt) -> DomainError | None:
    overdue = attempt.standing.overdue
    return OverdueItemsBlock(count=overdue) if overdue >= attempt.terms.block_after_overdue_items else None


def loan_limit(attempt: CheckoutAttempt) -> DomainError | None:
    on_loan, limit = attempt.standing.on_loan, attempt.standing.tier.max_loans
    if attempt.deposit_free and on_loan >= limit:
        return LoanLimitReached(on_loan=on_loan, limit=limit)
    return None


CHECKOUT_CHECKS: tuple[Check, ...] = (
    held_for_another,
    not_available,
    suspended,
    barred,
    credit_too_low,
    counter_only,
    overdue_items,
    loan_limit,
)
"""The most important first: the first refusal is the one a client that shows one reason shows."""


def checkout_refusals(attempt: CheckoutAttempt) -> list[DomainError]:
    return [refusal for check in CHECKOUT_CHECKS if (refusal := check(attempt)) is not None]
