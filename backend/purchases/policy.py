"""The purchase rules a main library applies: the network's defaults (settings), each overridable by the library."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, fields, replace
from typing import Any, get_type_hints

from backend.accounts.models import StaffUser
from backend.catalog.models import ItemType
from backend.clock import NetworkTime
from backend.purchases.errors import ItemTypesUnknown, RulesInvalid
from backend.purchases.models import PurchaseRules
from backend.purchases.shops import main_library
from backend.settings import PurchaseSettings, Range


def _listed(text: str) -> tuple[str, ...]:
    return tuple(item for part in text.split(",") if (item := fold(part)))


def fold(text: str) -> str:
    """Text as the rules compare it: full-width folded to half-width (NFKC: "（全" is "(全"), case ignored."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


@dataclass(frozen=True, slots=True)
class PurchaseTerms:
    """Every purchase rule, resolved for one main library (`backend.settings.PurchaseSettings` describes each)."""

    holdings_threshold: int
    price_cap_fen: int
    max_age_years: int
    excluded_classes: tuple[str, ...]
    """Folded (`fold`), as the CLC class of a book is before it is compared."""
    excluded_keywords: tuple[str, ...]
    """Folded, as a title is before it is searched."""
    excluded_item_types: frozenset[ItemType]
    monthly_quota: int
    max_unreturned: int
    loan_days: int
    auto_approve_under_fen: int

    @classmethod
    def of(cls, settings: PurchaseSettings) -> PurchaseTerms:
        return cls(
            holdings_threshold=settings.holdings_threshold,
            price_cap_fen=settings.price_cap_fen,
            max_age_years=settings.max_age_years,
            excluded_classes=_listed(settings.excluded_classes),
            excluded_keywords=_listed(settings.excluded_keywords),
            excluded_item_types=frozenset(ItemType(t) for t in _listed(settings.excluded_item_types)),
            monthly_quota=settings.monthly_quota,
            max_unreturned=settings.max_unreturned,
            loan_days=settings.loan_days,
            auto_approve_under_fen=settings.auto_approve_under_fen,
        )

    def overridden(self, row: PurchaseRules | None) -> PurchaseTerms:
        """These terms with what the library's own rules state instead (a column left empty keeps the default)."""
        if row is None:
            return self
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(row, f.name)
            if value is None:
                continue
            if f.name == "excluded_item_types":
                changes[f.name] = frozenset(ItemType(t) for t in _listed(value))
            elif f.name in ("excluded_classes", "excluded_keywords"):
                changes[f.name] = _listed(value)
            else:
                changes[f.name] = value
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class PurchasePolicy:
    """What the purchase services are given: the network's default terms, its calendar, the bought copies' barcode
    prefix."""

    defaults: PurchaseTerms
    network_time: NetworkTime
    barcode_prefix: str

    @classmethod
    def of(cls, settings: PurchaseSettings, network_time: NetworkTime) -> PurchasePolicy:
        return cls(PurchaseTerms.of(settings), network_time, settings.barcode_prefix.strip().upper())

    async def terms_for(self, main_library_id: int) -> PurchaseTerms:
        return self.defaults.overridden(await PurchaseRules.get_or_none(main_library_id=main_library_id))


@dataclass(frozen=True, slots=True)
class RulesDraft:
    """A main library's own rules: each term given overrides the network's default; None takes the default."""

    holdings_threshold: int | None = None
    price_cap_fen: int | None = None
    max_age_years: int | None = None
    excluded_classes: str | None = None
    excluded_keywords: str | None = None
    excluded_item_types: str | None = None
    monthly_quota: int | None = None
    max_unreturned: int | None = None
    loan_days: int | None = None
    auto_approve_under_fen: int | None = None


# A library's own number is bounded as the network's setting of it is (backend.settings.PurchaseSettings).
_BOUNDS = {
    name: (int(bounds.low), int(bounds.high))
    for name, hint in get_type_hints(PurchaseSettings, include_extras=True).items()
    for bounds in getattr(hint, "__metadata__", ())
    if isinstance(bounds, Range) and bounds.high is not None
}
# A library's own lists are bounded by their columns.
_LISTS = {
    name: int(PurchaseRules._meta.fields_map[name].constraints["max_length"])
    for name in ("excluded_classes", "excluded_keywords", "excluded_item_types")
}


async def set_rules(staff: StaffUser, library_code: str, draft: RulesDraft) -> PurchaseRules:
    """Set a main library's own purchase rules (an administrator over it), replacing what it stated before."""
    library = await main_library(library_code, staff)
    values = {f.name: getattr(draft, f.name) for f in fields(draft)}
    for name, (low, high) in _BOUNDS.items():
        if (value := values[name]) is not None and not low <= value <= high:
            raise RulesInvalid(term=name, low=low, high=high)
    for name, longest in _LISTS.items():
        if (text := values[name]) is not None and len(text) > longest:
            raise RulesInvalid(term=name, low=0, high=longest)
    if (types := values["excluded_item_types"]) is not None:
        known = {t.value for t in ItemType}
        if unknown := [t for t in _listed(types) if t not in known]:
            raise ItemTypesUnknown(types=", ".join(unknown))
    rules, _ = await PurchaseRules.update_or_create(values, main_library=library)
    return rules
