"""Credit decisions beyond the ledger's arithmetic: who may borrow deposit-free, and what staff may change.

Deposit-free borrowing (信用借还) is decided by a CreditCheck. The shipped one is local, the library's own ledger;
a library that also asks Sesame credit (芝麻信用) or WeChat Pay Score (微信支付分), which answer pass or fail, plugs
its client in behind the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.services import reader_by_card_number
from backend.accounts.staff import RANK, authority_scope, require_role
from backend.circulation.errors import SuspensionNotFound, SuspensionSetAbove
from backend.circulation.models import CreditEvent, CreditReason, Suspension, SuspensionKind
from backend.circulation.standing import Standing
from backend.errors import DomainError


class CreditCheck(Protocol):
    async def deposit_free(self, reader: Reader, standing: Standing) -> bool:
        """Whether the reader may borrow without a deposit now."""
        ...

    async def refusal(self, reader: Reader) -> DomainError | None:
        """Why the reader may neither borrow nor place holds now, decided outside circulation (fees owed), if so."""
        ...


@dataclass(frozen=True, slots=True)
class LocalCreditCheck:
    """The ledger decides: the reader's tier must allow deposit-free borrowing and, when set, the score must reach
    `min_score` (a network can require more than its tiers do)."""

    min_score: int | None = None

    async def deposit_free(self, reader: Reader, standing: Standing) -> bool:
        return standing.tier.deposit_free and (self.min_score is None or standing.score >= self.min_score)

    async def refusal(self, reader: Reader) -> DomainError | None:
        return None


LOCAL = LocalCreditCheck()


async def adjust(staff: StaffUser, card_number: str, points: int, note: str, now: datetime) -> CreditEvent:
    """A staff adjustment of a reader's credit (a damaged book, a correction), with the note the reader sees."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    reader = await reader_by_card_number(card_number)
    return await CreditEvent.create(
        reader=reader, reason=CreditReason.STAFF_ADJUSTMENT, points=points, note=note, staff=staff, created_at=now
    )


async def suspend(
    staff: StaffUser, card_number: str, kind: SuspensionKind, reason: str, until: datetime | None, now: datetime
) -> Suspension:
    """Bar a reader from borrowing, recording who did it and at which level (see `lift`)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    reader = await reader_by_card_number(card_number)
    return await Suspension.create(
        reader=reader,
        kind=kind,
        reason=reason,
        starts_at=now,
        ends_at=until,
        staff=staff,
        scope_path=authority_scope(staff),
    )


def may_lift(staff: StaffUser, suspension: Suspension) -> bool:
    """Whether `lift` would lift this suspension for this staff member (shown at the desk before they try)."""
    return RANK[staff.role] >= RANK[StaffRole.LIBRARY_ADMIN] and suspension.scope_path.startswith(
        authority_scope(staff)
    )


async def lift(staff: StaffUser, suspension_id: int, now: datetime) -> None:
    """Lift a suspension set at the staff member's level or below: a county library's admin lifts its own and its
    branches', never one the network set."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    authority = authority_scope(staff)
    lifted = await Suspension.filter(id=suspension_id, lifted_at__isnull=True, scope_path__startswith=authority).update(
        lifted_at=now
    )
    if not lifted:
        if await Suspension.exists(id=suspension_id, lifted_at__isnull=True):
            raise SuspensionSetAbove()
        raise SuspensionNotFound()
