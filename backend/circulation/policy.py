"""The lending policy staff set: credit tiers for the whole network, and the loan rule table.

Tiers are the network's (network admins); a loan rule for a library is its administrators', and a network-wide
rule the network admins'. The fallback rule stays: every loan must find a rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.catalog.models import Copy, ItemType
from backend.circulation import rules
from backend.circulation.errors import (
    FallbackRuleRequired,
    LastTierRequired,
    LoanRuleExists,
    LoanRuleNotFound,
    TierConflict,
    TierNotFound,
)
from backend.circulation.models import CreditTier, Loan, LoanRule, ReaderCategory, RenewFrom
from backend.network.errors import OutsideScope
from backend.network.models import Library
from backend.network.services import in_scope, library_in_scope


@dataclass(frozen=True, slots=True)
class TierDraft:
    name: str
    min_score: int
    deposit_free: bool
    self_service: bool
    max_loans: int
    max_loan_days: int
    max_renewals: int
    max_holds: int
    delivery: bool


@dataclass(frozen=True, slots=True)
class RuleTerms:
    loan_days: int
    renewals: int
    renewal_days: int
    renew_from: RenewFrom
    holds_allowed: bool
    credit_per_overdue_day: int
    fee_cents_per_day: int
    fee_cap_cents: int
    block_after_overdue_items: int


async def tiers() -> list[CreditTier]:
    return await CreditTier.all()  # highest first (the model's ordering)


async def create_tier(staff: StaffUser, draft: TierDraft) -> CreditTier:
    require_role(staff, StaffRole.NETWORK_ADMIN)
    try:
        return await CreditTier.create(**asdict(draft))
    except IntegrityError:
        raise TierConflict() from None


async def update_tier(staff: StaffUser, tier_id: int, draft: TierDraft) -> CreditTier:
    require_role(staff, StaffRole.NETWORK_ADMIN)
    try:
        if not await CreditTier.filter(id=tier_id).update(**asdict(draft)):
            raise TierNotFound()
    except IntegrityError:
        raise TierConflict() from None
    return await CreditTier.get(id=tier_id)


async def delete_tier(staff: StaffUser, tier_id: int) -> None:
    require_role(staff, StaffRole.NETWORK_ADMIN)
    async with in_transaction():
        # Locking every tier makes "not the last one" hold when two admins delete the last two at once.
        remaining = await CreditTier.select_for_update().all()
        if tier_id not in {tier.id for tier in remaining}:
            raise TierNotFound()
        if len(remaining) == 1:
            raise LastTierRequired()
        await CreditTier.filter(id=tier_id).delete()


async def loan_rules() -> list[LoanRule]:
    """The whole table, network-wide rules first: which row applies is `rules.pick_rule`'s to say."""
    rules = await LoanRule.all().select_related("library")
    return sorted(rules, key=lambda r: (r.library_id or 0, r.reader_category or "", r.item_type or ""))


async def create_rule(
    staff: StaffUser,
    category: ReaderCategory | None,
    item_type: ItemType | None,
    library_code: str | None,
    terms: RuleTerms,
) -> LoanRule:
    library = None if library_code is None else await library_in_scope(library_code, staff.library.path)
    _may_set_rules_for(staff, library)
    try:
        rule = await LoanRule.create(reader_category=category, item_type=item_type, library=library, **asdict(terms))
    except IntegrityError:
        raise LoanRuleExists() from None
    return rule


async def update_rule(staff: StaffUser, rule_id: int, terms: RuleTerms) -> LoanRule:
    rule = await _rule(staff, rule_id)
    await LoanRule.filter(id=rule.id).update(**asdict(terms))
    await rule.refresh_from_db()
    return rule


async def delete_rule(staff: StaffUser, rule_id: int) -> None:
    """Remove a rule. Its loans pass to the rule that applies to them now, as a renewal would find it: a loan follows
    the table as it is (Koha's way), so nobody keeps the terms of a rule that no longer exists."""
    async with in_transaction():
        # The row lock waits for checkouts still making loans under the rule, so their loans are passed on too.
        rule = await _rule(staff, rule_id, lock=True)
        if rule.reader_category is None and rule.item_type is None and rule.library_id is None:
            raise FallbackRuleRequired()
        table = [other for other in await LoanRule.all() if other.id != rule.id]
        made_under = await (
            Loan.filter(rule_id=rule.id).distinct().values_list("reader_category", "copy__item_type", "library_id")
        )
        for category, item_type, library_id in made_under:
            successor = rules.pick_rule(table, category, item_type, await Library.get(id=library_id))
            await Loan.filter(
                rule_id=rule.id,
                reader_category=category,
                library_id=library_id,
                copy_id__in=Subquery(Copy.filter(item_type=item_type).values("id")),
            ).update(rule_id=successor.id)
        await rule.delete()


async def _rule(staff: StaffUser, rule_id: int, *, lock: bool = False) -> LoanRule:
    rows = LoanRule.select_for_update(of=("loan_rule",)) if lock else LoanRule
    rule = await rows.get_or_none(id=rule_id).select_related("library")
    if rule is None:
        raise LoanRuleNotFound()
    _may_set_rules_for(staff, rule.library)
    return rule


def _may_set_rules_for(staff: StaffUser, library: Library | None) -> None:
    """Network-wide rules are the network admins'; a library's rules its administrators' (and those above)."""
    if library is None:
        require_role(staff, StaffRole.NETWORK_ADMIN)
        return
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    if not in_scope(library, staff.library.path):
        raise OutsideScope()
