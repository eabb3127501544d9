"""The terms a loan is made under, each resolved on its own from the most specific rule that states it.

As in Koha's circulation rules (`get_effective_rule`, one rule kind at a time): a rule is a scope (reader category,
item type, library; empty matches any) and the terms it states. For each term the most specific matching rule that
states it wins: the library weighs most (the lending library, then its ancestors in the network, nearer first),
then the reader category, then the item type. A library that only lends for longer states `loan_days` alone and
takes every other term from the rules above it; the network-wide fallback states every term, so every loan
resolves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from itertools import groupby
from typing import Any, Final, get_type_hints

from backend.catalog.models import ItemType
from backend.circulation.errors import InvalidTerm
from backend.circulation.models import ReaderCategory, RenewFrom

TermValue = int | bool | StrEnum


def _range(low: int, high: int) -> dict[str, Any]:
    return {"range": (low, high)}


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Every term, resolved for one reader category, item type and lending library. A new term is a field here (with
    its type and bounds), stated by the fallback in the migration that adds it; it needs no new column."""

    loan_days: int = field(metadata=_range(1, 365))
    renewals: int = field(metadata=_range(0, 10))
    renewal_days: int = field(metadata=_range(1, 365))
    renew_from: RenewFrom
    holds_allowed: bool
    credit_per_overdue_day: int = field(metadata=_range(0, 20))  # points deducted per overdue day of one item
    fee_cents_per_day: int = field(metadata=_range(0, 1000))  # overdue fee shown to the reader, 10 = 0.10 yuan
    fee_cap_cents: int = field(metadata=_range(0, 100_000))
    block_after_overdue_items: int = field(metadata=_range(1, 100))  # this many items overdue: no more loans
    delivery_allowed: bool  # may borrow online for delivery (悦借), if the reader's credit tier allows it too

    def overdue_fee_cents(self, overdue_days: int) -> int:
        """What the overdue fee comes to after so many days late: per day, up to the cap (0 where none is charged)."""
        return min(max(overdue_days, 0) * self.fee_cents_per_day, self.fee_cap_cents)


@dataclass(frozen=True, slots=True)
class Term:
    """One kind of term: its name, its type and, for a number, its bounds."""

    name: str
    kind: type[int] | type[bool] | type[StrEnum]
    bounds: tuple[int, int] = (0, 0)

    def parse(self, text: str) -> TermValue:
        """A value as stored: text, as in Koha's `rule_value` (the column serves every kind of term)."""
        if self.kind is bool:
            return {"true": True, "false": False}[text]
        return self.kind(text)

    def text(self, value: TermValue) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value.value if isinstance(value, StrEnum) else str(value)

    def check(self, value: object) -> TermValue:
        """The value, if it is of this term's type and within its bounds."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
        elif self.kind is int:
            low, high = self.bounds
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                return value
        elif issubclass(self.kind, StrEnum) and isinstance(value, str) and value in {m.value for m in self.kind}:
            return self.kind(value)
        raise InvalidTerm(term=self.name, value=value)


def _terms() -> dict[str, Term]:
    hints = get_type_hints(LoanTerms)
    return {f.name: Term(f.name, hints[f.name], f.metadata.get("range", (0, 0))) for f in fields(LoanTerms)}


TERMS: Final = _terms()
"""Every term by name, in the order staff see them."""


@dataclass(frozen=True, slots=True)
class Scope:
    """Whom and where a rule is for; None matches any. All three empty: the network-wide fallback."""

    reader_category: ReaderCategory | None = None
    item_type: ItemType | None = None
    library_id: int | None = None

    @property
    def fallback(self) -> bool:
        return self.reader_category is None and self.item_type is None and self.library_id is None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The terms stated for one scope: what staff call a loan rule. Known by the id of its first row, which it keeps
    (a term no longer stated keeps its row, emptied)."""

    id: int
    scope: Scope
    stated: Mapping[str, TermValue]


@dataclass(frozen=True, slots=True)
class Resolution:
    terms: LoanTerms
    sources: Mapping[str, RuleSet]
    """The rule each term came from."""


RuleRow = tuple[int, ReaderCategory | None, ItemType | None, int | None, str, str | None]
"""A row of the rule table: id, reader category, item type, library id, term, value (None: not stated)."""


@dataclass(frozen=True, slots=True)
class RuleTable:
    """The loan rules of the network, grouped by scope, ready to resolve any loan's terms."""

    rule_sets: tuple[RuleSet, ...]

    @classmethod
    def of_rows(cls, rows: Iterable[RuleRow]) -> RuleTable:
        """Group rows by scope. A term this code does not know (one a newer release added) is left out."""

        def scope(row: RuleRow) -> Scope:
            return Scope(row[1], row[2], row[3])

        rule_sets = []
        for key, group in groupby(sorted(rows, key=lambda row: (_scope_order(scope(row)), row[0])), key=scope):
            members = list(group)
            stated = {term: TERMS[term].parse(text) for *_, term, text in members if term in TERMS and text is not None}
            rule_sets.append(RuleSet(members[0][0], key, stated))
        return cls(tuple(rule_sets))

    def fallback(self) -> RuleSet:
        found = next((rule for rule in self.rule_sets if rule.scope.fallback), None)
        assert found is not None and found.stated.keys() == TERMS.keys(), "the fallback rule states every term"
        return found

    def network_terms(self) -> LoanTerms:
        """The fallback's terms: what a loan gets where no other rule says otherwise."""
        values: dict[str, Any] = dict(self.fallback().stated)
        return LoanTerms(**values)

    def resolve(self, category: ReaderCategory, item_type: ItemType, ancestry: Sequence[int]) -> Resolution:
        """Each term from the most specific matching rule that states it. `ancestry` is the lending library's path
        in the network, from the root down to the library itself."""
        depth = {library_id: i for i, library_id in enumerate(ancestry)}

        def specificity(rule: RuleSet) -> tuple[int, bool, bool]:
            library_id = rule.scope.library_id
            return (
                -1 if library_id is None else depth[library_id],
                rule.scope.reader_category is not None,
                rule.scope.item_type is not None,
            )

        matching = [
            rule
            for rule in self.rule_sets
            if rule.scope.reader_category in (category, None)
            and rule.scope.item_type in (item_type, None)
            and (rule.scope.library_id is None or rule.scope.library_id in depth)
        ]
        sources: dict[str, RuleSet] = {}
        for rule in sorted(matching, key=specificity, reverse=True):
            for term in rule.stated:
                sources.setdefault(term, rule)
        assert sources.keys() == TERMS.keys(), "the fallback rule states every term"
        values: dict[str, Any] = {name: sources[name].stated[name] for name in TERMS}
        return Resolution(LoanTerms(**values), {name: sources[name] for name in TERMS})

    def terms(self, category: ReaderCategory, item_type: ItemType, ancestry: Sequence[int]) -> LoanTerms:
        return self.resolve(category, item_type, ancestry).terms


def _scope_order(scope: Scope) -> tuple[int, str, str]:
    """Network-wide rules first, then by library, category and item type: the order staff read the table in."""
    return (scope.library_id or 0, scope.reader_category or "", scope.item_type or "")
