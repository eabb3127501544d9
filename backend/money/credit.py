"""Money's part in the decision to lend: fees owed refuse borrowing and holds, a deposit stands in for credit.

Circulation asks its `CreditCheck` (injected by the composition root); this one wraps the credit check the
network uses, so circulation never reads money's tables."""

from __future__ import annotations

from dataclasses import dataclass

from backend.accounts.models import Reader
from backend.circulation.credit import CreditCheck
from backend.circulation.standing import Standing
from backend.errors import DomainError
from backend.money import ledger
from backend.money.errors import FeesOwed
from backend.money.policy import MoneyPolicy


@dataclass(frozen=True, slots=True)
class AccountCreditCheck:
    credit: CreditCheck
    policy: MoneyPolicy

    async def deposit_free(self, reader: Reader, standing: Standing) -> bool:
        """On credit, or with a deposit of at least the network's amount held: then the tier's limits apply."""
        if await self.credit.deposit_free(reader, standing):
            return True
        return await ledger.deposit_fen(reader.id) >= self.policy.deposit_fen

    async def refusal(self, reader: Reader) -> DomainError | None:
        if (refused := await self.credit.refusal(reader)) is not None:
            return refused
        owed = await ledger.owed_fen(reader.id)
        if self.policy.blocks(owed):
            return FeesOwed(owed_fen=owed, limit_fen=self.policy.owing_limit_fen)
        return None
