"""The rules a loan is made under: the reader's category and credit tier, and the loan rule of the table."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tortoise.functions import Sum

from backend.accounts.models import Reader, ReaderType
from backend.catalog.models import ItemType
from backend.circulation.models import CreditEvent, CreditTier, LoanRule, ReaderCategory
from backend.network.models import Library

# Every reader starts here; the tiers (migration 0007's defaults) are set around it.
STARTING_SCORE = 100
# The ledger rewards a return on time, but the score does not grow without bound: a reader cannot bank credit.
MAX_SCORE = 120
LITTLE_READER_BELOW_AGE = 6


def category_of(reader: Reader, today: date) -> ReaderCategory:
    if reader.reader_type is ReaderType.ADULT:
        return ReaderCategory.ADULT
    if reader.birth_month:
        year, month = (int(part) for part in reader.birth_month.split("-"))
        months = (today.year - year) * 12 + today.month - month
        if months < LITTLE_READER_BELOW_AGE * 12:
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
    assert tier is not None, "migration 0007 creates the tiers"
    return tier


async def rule_for(category: ReaderCategory, item_type: ItemType, library: Library) -> LoanRule:
    return pick_rule(await LoanRule.all(), category, item_type, library)  # a table of tens of rows


def pick_rule(table: list[LoanRule], category: ReaderCategory, item_type: ItemType, library: Library) -> LoanRule:
    """The most specific matching row; the lending library weighs most, then the category, then the item type
    (Koha's order). Rules for a library also apply to the libraries below it in the network."""
    ancestors = [int(part) for part in library.path.strip("/").split("/") if part]
    depth = {library_id: i for i, library_id in enumerate(ancestors)}
    candidates = [
        r
        for r in table
        if r.reader_category in (category, None)
        and r.item_type in (item_type, None)
        and (r.library_id is None or r.library_id in depth)
    ]

    def specificity(rule: LoanRule) -> tuple[int, int, int]:
        return (
            -1 if rule.library_id is None else depth[rule.library_id],
            rule.reader_category is not None,
            rule.item_type is not None,
        )

    assert candidates, "migration 0007 creates the fallback rule"
    return max(candidates, key=specificity)


def end_of_day(day: date, timezone: str) -> datetime:
    """Books are due by the end of the day, in the lending library's time zone; as UTC, because a queryset
    UPDATE stores an aware datetime as given, and SQLite compares the stored text (23:59+08:00 sorts after
    16:00+00:00, although it is earlier)."""
    return datetime.combine(day, time(23, 59, 59), ZoneInfo(timezone)).astimezone(UTC)


def due_after(start: datetime, days: int, timezone: str) -> datetime:
    return end_of_day(start.astimezone(ZoneInfo(timezone)).date() + timedelta(days=days), timezone)


async def fallback_rule() -> LoanRule:
    rule = await LoanRule.get_or_none(reader_category=None, item_type=None, library_id=None)
    assert rule is not None, "migration 0007 creates the fallback rule"
    return rule
