"""A reader's standing: what they may do now, and why (score, tier, loans, overdue items, suspension)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from backend.circulation import rules
from backend.circulation.errors import ReaderSuspended
from backend.circulation.models import CreditTier, Loan, Suspension


@dataclass(frozen=True, slots=True)
class Standing:
    score: int
    tier: CreditTier
    on_loan: int
    overdue: int
    suspension: Suspension | None


def suspensions_in_force(reader_id: int, now: datetime) -> QuerySet[Suspension]:
    """The reader's suspensions that bar them now, the latest first (the one a refusal names)."""
    return (
        Suspension.filter(reader_id=reader_id, lifted_at__isnull=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("-starts_at", "-id")
    )


async def standing(reader_id: int, now: datetime) -> Standing:
    score = await rules.credit_score(reader_id)
    due: list[datetime] = await Loan.filter(reader_id=reader_id, returned_at__isnull=True).values_list(
        "due_at", flat=True
    )  # type: ignore[assignment]
    suspension = await suspensions_in_force(reader_id, now).first()
    return Standing(
        score=score,
        tier=await rules.tier_for(score),
        on_loan=len(due),
        overdue=len([at for at in due if at < now]),
        suspension=suspension,
    )


def suspension_refusal(current: Standing) -> ReaderSuspended | None:
    if (s := current.suspension) is None:
        return None
    return ReaderSuspended(until=f" {s.ends_at.date().isoformat()}" if s.ends_at else "", reason=s.reason)
