"""What the network sets about money (from the money settings): the owing limit, the deposit, the fees of a lost
item, and how much each staff role may waive or refund."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backend.accounts.models import StaffRole
from backend.settings import MoneySettings


@dataclass(frozen=True, slots=True)
class MoneyPolicy:
    """The money settings (`backend.settings.MoneySettings`, where each is described), as the services use them."""

    owing_limit_fen: int
    deposit_fen: int
    processing_fee_fen: int
    replacement_fen: int
    staff_limits: Mapping[StaffRole, int | None]
    """The largest waiver or refund a role may give at once; None: no limit. A role not named may give none."""

    @classmethod
    def of(cls, settings: MoneySettings) -> MoneyPolicy:
        return cls(
            owing_limit_fen=settings.owing_limit_fen,
            deposit_fen=settings.deposit_fen,
            processing_fee_fen=settings.processing_fee_fen,
            replacement_fen=settings.replacement_fen,
            staff_limits={
                StaffRole.LIBRARIAN: settings.librarian_limit_fen,
                StaffRole.LIBRARY_ADMIN: settings.library_admin_limit_fen,
                StaffRole.NETWORK_ADMIN: settings.network_admin_limit_fen,
            },
        )

    def blocks(self, owed_fen: int) -> bool:
        """Whether a card owing this much is refused borrowing and holds (`fees_owed`)."""
        return owed_fen > self.owing_limit_fen

    def staff_limit(self, role: StaffRole) -> int | None:
        return self.staff_limits.get(role, 0)
