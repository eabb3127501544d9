"""The rules a loan is made under: the reader's category and credit tier, and the terms the loan rules give it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.functions import Sum

from backend.accounts.ages import age_in_months, birth_of
from backend.accounts.models import Reader, ReaderType
from backend.catalog.models import ItemType
from backend.circulation.models import CreditEvent, CreditTier, LoanRule, ReaderCategory
from backend.circulation.terms import LoanTerms, RuleTable
from backend.network.models import Library

# Every reader starts here; the tiers (the initial migration's defaults) are set around it.
STARTING_SCORE = 100
# The ledger rewards a return on time, but the score does not grow without bound: a reader cannot bank credit.
MAX_SCORE = 120
LITTLE_READER_BELOW_AGE = 6


def category_of(reader: Reader, today: date) -> ReaderCategory:
    """The reader's lending category on `today`, a day of the network's calendar."""
    if reader.reader_type is ReaderType.ADULT:
        return ReaderCategory.ADULT
    born = birth_of(reader)
    if born and age_in_months(born, today) < LITTLE_READER_BELOW_AGE * 12:
        return ReaderCategory.LITTLE_READER
    return ReaderCategory.CHILD


async def credit_score(reader_id: int) -> int:
    """The starting score plus the ledger: recomputed from it every time, so it can always be explained."""
    rows = await CreditEvent.filter(reader_id=reader_id).annotate(total=Sum("points")).values("total")
    return STARTING_SCORE + int(rows[0]["total"] or 0)


async def tier_for(score: int) -> CreditTier:
    tier = await CreditTier.filter(min_score__lte=score).order_by("-min_score").first()
    if tier is None:  # below the lowest tier's floor: the lowest tier
        tier = await CreditTier.all().order_by("min_score").first()
    assert tier is not None, "the initial migration creates the tiers"
    return tier


def ancestry(library: Library) -> list[int]:
    """The library's path in the network, from the root down to the library itself: the libraries whose loan rules
    apply to its loans."""
    return [int(part) for part in library.path.strip("/").split("/") if part]


async def terms_for(category: ReaderCategory, item_type: ItemType, library: Library) -> LoanTerms:
    return (await rule_table()).terms(category, item_type, ancestry(library))


class _CachedRules:
    """This process's copy of the loan rules, read again only when their version in the database has changed: a
    checkout reads one number instead of the table. The version is set by a trigger on every statement that
    changes the rules (migration 0002), in that statement's transaction, to a number never used before: a process
    sees a new version exactly when it can see the rules it stands for, and an uncommitted or rolled-back change
    it happened to read is never taken for a committed one."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._table: RuleTable | None = None

    async def table(self) -> RuleTable:
        # In the caller's transaction if it has one (the connection of the current context).
        rows = await connections.get("default").execute_query_dict("SELECT version FROM loan_rule_version")
        version = int(rows[0]["version"])
        if self._table is None or version != self._version:
            # Read after the version, the rules are at least as new as it: a change in between is read again at the
            # next call, when the version has moved on too.
            table = RuleTable.of_rows(
                await LoanRule.all().values_list("id", "reader_category", "item_type", "library_id", "term", "value")
            )
            self._table, self._version = table, version
        return self._table


_RULES = _CachedRules()


async def rule_table() -> RuleTable:
    """The loan rules as they are now (tens of rules, hundreds of rows, read on every checkout)."""
    return await _RULES.table()


def end_of_day(day: date, timezone: str) -> datetime:
    """Books are due by the end of the day, in the lending library's time zone (kept as UTC, as every stored time)."""
    return datetime.combine(day, time(23, 59, 59), ZoneInfo(timezone)).astimezone(UTC)


def due_after(start: datetime, days: int, timezone: str) -> datetime:
    return end_of_day(start.astimezone(ZoneInfo(timezone)).date() + timedelta(days=days), timezone)
