"""The lending policy staff set: credit tiers for the whole network, and the loan rules.

Tiers are the network's (network admins); a loan rule for a library is its administrators', and a network-wide
rule the network admins'. A rule states some terms for a scope (`terms.py`); the fallback rule stays and states
every term, so every loan resolves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.catalog.models import ItemType
from backend.circulation import rules
from backend.circulation.errors import (
    FallbackRuleRequired,
    FallbackTermsRequired,
    InvalidTerm,
    LastTierRequired,
    LoanRuleEmpty,
    LoanRuleExists,
    LoanRuleNotFound,
    TierConflict,
    TierNotFound,
)
from backend.circulation.models import CreditTier, LoanRule, ReaderCategory
from backend.circulation.terms import TERMS, LoanTerms, RuleSet, RuleTable, Scope, TermValue
from backend.network.errors import OutsideScope
from backend.network.models import Library
from backend.network.services import get_library, in_scope, library_in_scope


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


async def tiers(*, limit: int, offset: int) -> tuple[list[CreditTier], int]:
    """The credit tiers, highest first."""
    return await paging.page(CreditTier.all().order_by("-min_score", "id"), limit, offset)


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


@dataclass(frozen=True, slots=True)
class StatedRule:
    """A loan rule as staff see it: the terms stated for a scope, with the scope's library."""

    rule: RuleSet
    library: Library | None


@dataclass(frozen=True, slots=True)
class EffectiveTerms:
    reader_category: ReaderCategory
    item_type: ItemType
    library: Library
    terms: LoanTerms
    sources: Mapping[str, StatedRule]
    """The rule each term comes from: the most specific one that states it."""


async def loan_rules(*, limit: int, offset: int) -> tuple[list[StatedRule], int]:
    """The rules, network-wide ones first; which term applies where is `terms.RuleTable.resolve`'s to say."""
    # A rule is grouped from its rows in the table every process keeps (`rules.rule_table`), in a fixed order.
    rule_sets, total = paging.page_of((await rules.rule_table()).rule_sets, limit, offset)
    return await _with_libraries(rule_sets), total


async def effective_terms(category: ReaderCategory, item_type: ItemType, library_code: str) -> EffectiveTerms:
    """The terms a loan of this reader category, item type and lending library gets now, and where each comes from."""
    library = await get_library(library_code)
    resolved = (await rules.rule_table()).resolve(category, item_type, rules.ancestry(library))
    used = await _with_libraries({rule.id: rule for rule in resolved.sources.values()}.values())
    by_id = {stated.rule.id: stated for stated in used}
    sources = {term: by_id[rule.id] for term, rule in resolved.sources.items()}
    return EffectiveTerms(category, item_type, library, resolved.terms, sources)


async def create_rule(
    staff: StaffUser,
    category: ReaderCategory | None,
    item_type: ItemType | None,
    library_code: str | None,
    stated: Mapping[str, object],
) -> StatedRule:
    """A new rule stating some terms for a scope: the others come from the less specific rules."""
    library = None if library_code is None else await library_in_scope(library_code, staff.library.path)
    _may_set_rules_for(staff, library)
    values = _checked(stated)
    if not values:
        raise LoanRuleEmpty()
    scope = Scope(category, item_type, None if library is None else library.id)
    async with in_transaction() as connection:
        await _one_writer(connection)
        if await _rows(scope).exists():
            raise LoanRuleExists()
        await LoanRule.bulk_create([_row(scope, term, value) for term, value in values.items()])
    return await _stated(scope, library)


async def update_rule(
    staff: StaffUser, rule_id: int, changes: Mapping[str, object | None], *, replace: bool
) -> StatedRule:
    """Change the terms a rule states: those in `changes` (None: no longer stated here, so a less specific rule's
    applies), and with `replace` every other term is no longer stated either. Loans follow at once: their terms
    are resolved when needed."""
    if replace:
        changes = {term: changes.get(term) for term in TERMS}
    values = _checked({term: value for term, value in changes.items() if value is not None})
    async with in_transaction() as connection:
        await _one_writer(connection)
        scope, library = await _rule(staff, rule_id)
        if scope.fallback and len(values) < len(changes):
            raise FallbackTermsRequired()
        rows = {row.term: row for row in await _rows(scope)}
        still_stated = {term for term, row in rows.items() if row.value is not None and term not in changes}
        if not values and not still_stated:
            raise LoanRuleEmpty()  # as at creation: a rule that states nothing is deleted, not emptied
        for term in changes:
            text = None if term not in values else TERMS[term].text(values[term])
            if term in rows:
                await LoanRule.filter(id=rows[term].id).update(value=text)
            elif text is not None:
                await _row(scope, term, values[term]).save()
    return await _stated(scope, library)


async def delete_rule(staff: StaffUser, rule_id: int) -> None:
    """Remove a rule: its terms then come from the less specific rules, for the loans made under it too (their terms
    are resolved when needed, as in Koha)."""
    async with in_transaction() as connection:
        await _one_writer(connection)
        scope, _ = await _rule(staff, rule_id)
        if scope.fallback:
            raise FallbackRuleRequired()
        await _rows(scope).delete()


async def _one_writer(connection: BaseDBAsyncClient) -> None:
    """Rule changes one at a time, network-wide (they are rare): "one rule per scope" and "the fallback states every
    term" then hold across a rule's rows. The lock is the rules' version row, which the change sets anyway."""
    await connection.execute_query("SELECT version FROM loan_rule_version FOR UPDATE")


def _checked(stated: Mapping[str, object]) -> dict[str, TermValue]:
    """The values, in the order of the terms, each of its term's type and within its bounds."""
    unknown = [term for term in stated if term not in TERMS]
    if unknown:
        raise InvalidTerm(term=unknown[0], value=stated[unknown[0]])
    return {term: spec.check(stated[term]) for term, spec in TERMS.items() if term in stated}


def _rows(scope: Scope) -> QuerySet[LoanRule]:
    return LoanRule.filter(
        reader_category=scope.reader_category, item_type=scope.item_type, library_id=scope.library_id
    ).order_by("id")


def _row(scope: Scope, term: str, value: TermValue) -> LoanRule:
    return LoanRule(
        reader_category=scope.reader_category,
        item_type=scope.item_type,
        library_id=scope.library_id,
        term=term,
        value=TERMS[term].text(value),
    )


async def _stated(scope: Scope, library: Library | None) -> StatedRule:
    """The rule as it is now, read from its rows."""
    rows = await _rows(scope).values_list("id", "reader_category", "item_type", "library_id", "term", "value")
    (rule,) = RuleTable.of_rows(rows).rule_sets
    return StatedRule(rule, library)


async def _rule(staff: StaffUser, rule_id: int) -> tuple[Scope, Library | None]:
    """The scope of the rule known by this id (its first row's), if the staff member may change it."""
    row = await LoanRule.get_or_none(id=rule_id).select_related("library")
    if row is None or await _rows(_scope_of(row)).filter(id__lt=rule_id).exists():
        raise LoanRuleNotFound()
    _may_set_rules_for(staff, row.library)
    return _scope_of(row), row.library


def _scope_of(row: LoanRule) -> Scope:
    return Scope(row.reader_category, row.item_type, row.library_id)


async def _with_libraries(rule_sets: Iterable[RuleSet]) -> list[StatedRule]:
    rule_sets = list(rule_sets)
    ids = {rule.scope.library_id for rule in rule_sets if rule.scope.library_id is not None}
    libraries = {library.id: library for library in await Library.filter(id__in=ids)} if ids else {}
    return [StatedRule(rule, libraries.get(rule.scope.library_id or 0)) for rule in rule_sets]


def _may_set_rules_for(staff: StaffUser, library: Library | None) -> None:
    """Network-wide rules are the network admins'; a library's rules its administrators' (and those above)."""
    if library is None:
        require_role(staff, StaffRole.NETWORK_ADMIN)
        return
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    if not in_scope(library, staff.library.path):
        raise OutsideScope()
