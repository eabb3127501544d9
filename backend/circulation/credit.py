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
from backend.accounts.staff import require_role
from backend.circulation.errors import ReaderCardNotFound, SuspensionNotFound
from backend.circulation.models import CreditEvent, CreditReason, Suspension, SuspensionKind
from backend.circulation.standing import Standing


class CreditCheck(Protocol):
    async def deposit_free(self, reader: Reader, standing: Standing) -> bool:
        """Whether the reader may borrow without a deposit now."""
        ...


@dataclass(frozen=True, slots=True)
class LocalCreditCheck:
    """The ledger decides: the reader's tier must allow deposit-free borrowing and, when set, the score must reach
    `min_score` (a network can require more than its tiers do)."""

    min_score: int | None = None

    async def deposit_free(self, reader: Reader, standing: Standing) -> bool:
        return standing.tier.deposit_free and (self.min_score is None or standing.score >= self.min_score)


LOCAL = LocalCreditCheck()


async def reader_by_card(card_number: str) -> Reader:
    reader = await Reader.get_or_none(card_number=card_number)
    if reader is None:
        raise ReaderCardNotFound(card_number=card_number)
    return reader


async def adjust(staff: StaffUser, card_number: str, points: int, note: str, now: datetime) -> CreditEvent:
    """A staff adjustment of a reader's credit (a damaged book, a correction), with the note the reader sees."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    reader = await reader_by_card(card_number)
    return await CreditEvent.create(
        reader=reader, reason=CreditReason.STAFF_ADJUSTMENT, points=points, note=note, staff=staff, created_at=now
    )


async def suspend(
    staff: StaffUser, card_number: str, kind: SuspensionKind, reason: str, until: datetime | None, now: datetime
) -> Suspension:
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    reader = await reader_by_card(card_number)
    return await Suspension.create(reader=reader, kind=kind, reason=reason, starts_at=now, ends_at=until, staff=staff)


async def lift(staff: StaffUser, suspension_id: int, now: datetime) -> None:
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    if not await Suspension.filter(id=suspension_id, lifted_at__isnull=True).update(lifted_at=now):
        raise SuspensionNotFound()
