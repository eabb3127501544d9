"""A main library's reader-choice budget: a year's total, optionally shared out by month. An approval reserves the
discounted price, the shop's settlement spends it, a cancellation releases it; staff see where it went.

Never overspent, whatever arrives at once: each charge is one conditional UPDATE of the budget's row (what is
reserved and spent, plus the amount, within the total), and a CHECK says the same. Concurrent approvals queue on the
row for the length of the UPDATE's transaction, and each re-reads it when its turn comes (PostgreSQL's READ COMMITTED
re-checks the WHERE clause on the row as the previous transaction left it). The year's row is always charged before
the month's, so two approvals never wait for each other crosswise.
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise import connections
from tortoise.expressions import Q
from tortoise.functions import Sum
from tortoise.transactions import in_transaction

from backend.accounts.models import StaffUser
from backend.network.models import Library
from backend.purchases.errors import BudgetInvalid, BudgetMonthsOverYear, BudgetShort
from backend.purchases.models import Budget, PurchaseState
from backend.purchases.shops import main_library

YEARS = (2000, 2100)
"""The years a budget or a statement may name."""

# Charged in this order (the year before its month) by every statement below.
_CHARGE = (
    "UPDATE purchase_budget SET reserved_fen = reserved_fen + $1 "
    "WHERE main_library_id = $2 AND year = $3 AND month IS NOT DISTINCT FROM $4 "
    "AND reserved_fen + spent_fen + $1 <= total_fen RETURNING id"
)
_MOVE = (
    "UPDATE purchase_budget SET reserved_fen = reserved_fen - $1, spent_fen = spent_fen + $5 "
    "WHERE main_library_id = $2 AND year = $3 AND month IS NOT DISTINCT FROM $4"
)


async def set_budget(
    staff: StaffUser, library_code: str, year: int, total_fen: int, month: int | None = None
) -> Budget:
    """Set a main library's reader-choice budget for a year, or a month's share of it (the months' shares together
    within the year's). Never below what is already reserved and spent."""
    library = await main_library(library_code, staff)
    if not (0 <= total_fen <= 10**12 and YEARS[0] <= year <= YEARS[1] and (month is None or 1 <= month <= 12)):
        raise BudgetInvalid(committed_fen=0)
    async with in_transaction():
        year_row = await Budget.select_for_update().get_or_none(main_library=library, year=year, month=None)
        shares = Budget.filter(main_library=library, year=year, month__not_isnull=True)
        if month is not None:
            shares = shares.exclude(month=month)
        shared = (await shares.annotate(total=Sum("total_fen")).values("total"))[0]["total"] or 0
        year_total = 0 if year_row is None else year_row.total_fen
        months_fen, year_fen = (shared, total_fen) if month is None else (shared + total_fen, year_total)
        if months_fen > year_fen:
            raise BudgetMonthsOverYear(months_fen=months_fen, year_fen=year_fen)
        row = (
            year_row
            if month is None
            else await Budget.select_for_update().get_or_none(main_library=library, year=year, month=month)
        )
        if row is None:
            row = await _first_row(library, year, month)
        if total_fen < row.reserved_fen + row.spent_fen:
            raise BudgetInvalid(committed_fen=row.reserved_fen + row.spent_fen)
        row.total_fen = total_fen
        await row.save(update_fields=["total_fen"])
        return row


async def _first_row(library: Library, year: int, month: int | None) -> Budget:
    """A budget's row made (at nothing) and locked. Two first settings at once both get it: INSERT ... ON CONFLICT DO
    NOTHING waits for the other's commit and then inserts nothing (a failed INSERT would abort the transaction), and
    the one that made it is set by the other in its turn, as an existing row is."""
    await Budget.bulk_create([Budget(main_library=library, year=year, month=month, total_fen=0)], ignore_conflicts=True)
    return await Budget.select_for_update().get(main_library=library, year=year, month=month)


async def left_fen(main_library_id: int, year: int, month: int) -> int:
    """What can still be reserved this month: the year's budget left, or the month's share left if that is less.
    No budget for the year: nothing."""
    rows = await Budget.filter(Q(month__isnull=True) | Q(month=month), main_library_id=main_library_id, year=year)
    if not any(b.month is None for b in rows):
        return 0
    return min(int(b.total_fen - b.reserved_fen - b.spent_fen) for b in rows)


async def reserve(main_library_id: int, year: int, month: int, amount_fen: int) -> None:
    """Reserve `amount_fen` of the year's budget and of the month's share, if the month has one; `budget_short` if
    either cannot cover it. Call in the approval's transaction: a later refusal rolls the reservation back."""
    conn = connections.get("default")
    charged_year = await conn.execute_query_dict(_CHARGE, [amount_fen, main_library_id, year, None])
    if charged_year:
        monthly = await Budget.exists(main_library_id=main_library_id, year=year, month=month)
        if not monthly or await conn.execute_query_dict(_CHARGE, [amount_fen, main_library_id, year, month]):
            return
    # The year charged but not the month is undone with the approval's transaction, which this error rolls back.
    raise short(await left_fen(main_library_id, year, month), amount_fen)


def short(left: int, price_fen: int) -> BudgetShort:
    return BudgetShort(left_fen=max(left, 0), price_fen=price_fen)


async def _move(main_library_id: int, year: int, month: int, amount_fen: int, spent_fen: int) -> None:
    conn = connections.get("default")
    for which in (None, month):
        await conn.execute_query(_MOVE, [amount_fen, main_library_id, year, which, spent_fen])


async def spend(main_library_id: int, year: int, month: int, amount_fen: int) -> None:
    """What was reserved is paid to the shop: from reserved to spent (year and month)."""
    await _move(main_library_id, year, month, amount_fen, amount_fen)


async def release(main_library_id: int, year: int, month: int, amount_fen: int) -> None:
    """A reservation given back (a cancelled purchase)."""
    await _move(main_library_id, year, month, amount_fen, 0)


@dataclass(frozen=True, slots=True)
class Line:
    """One month, branch, CLC main class or shop: books bought, and what they reserve and spent."""

    key: str
    label: str
    books: int
    reserved_fen: int
    spent_fen: int
    budget_fen: int | None = None
    """For a month with its own share: the share (what is left is the share less reserved and spent)."""


@dataclass(frozen=True, slots=True)
class Figures:
    year: int
    total_fen: int
    reserved_fen: int
    spent_fen: int
    left_fen: int
    by_month: list[Line]
    by_branch: list[Line]
    by_class: list[Line]
    by_bookstore: list[Line]


# Each breakdown: the key, its label, and the join that gives the label.
_BREAKDOWNS = {
    "month": ("p.month::text", "p.month::text", ""),
    "branch": ("COALESCE(l.code, '')", "COALESCE(MAX(l.name), '')", "LEFT JOIN library l ON l.id = p.branch_id"),
    "class": ("LEFT(p.clc_class, 1)", "LEFT(p.clc_class, 1)", ""),
    "bookstore": ("b.id::text", "MAX(b.name)", "JOIN purchase_bookstore b ON b.id = p.bookstore_id"),
}


async def figures(staff: StaffUser, library_code: str, year: int) -> Figures:
    """Where a main library's reader-choice budget went in a year: spent, reserved and left, and the same by month,
    by branch (the readers' home libraries), by CLC main class and by shop."""
    library = await main_library(library_code, staff)
    budgets = await Budget.filter(main_library=library, year=year)
    year_row = next((b for b in budgets if b.month is None), None)
    shares = {b.month: b.total_fen for b in budgets if b.month is not None}
    conn = connections.get("default")
    lines: dict[str, list[Line]] = {}
    for name, (key, label, join) in _BREAKDOWNS.items():
        rows = await conn.execute_query_dict(
            f"SELECT {key} AS key, {label} AS label, COUNT(*) AS books, "
            f"COALESCE(SUM(p.price_fen) FILTER (WHERE p.state = $3), 0) AS reserved, "
            f"COALESCE(SUM(p.price_fen) FILTER (WHERE p.state = $4), 0) AS spent "
            f"FROM purchase p {join} WHERE p.main_library_id = $1 AND p.year = $2 AND p.state <> $5 "
            f"GROUP BY 1 ORDER BY 1",
            [library.id, year, PurchaseState.RESERVED.value, PurchaseState.SPENT.value, PurchaseState.RELEASED.value],
        )
        lines[name] = [
            Line(
                r["key"],
                r["label"],
                r["books"],
                int(r["reserved"]),
                int(r["spent"]),
                shares.get(int(r["key"])) if name == "month" else None,
            )
            for r in rows
        ]
    reserved = year_row.reserved_fen if year_row else 0
    spent = year_row.spent_fen if year_row else 0
    total = year_row.total_fen if year_row else 0
    return Figures(
        year,
        total,
        reserved,
        spent,
        total - reserved - spent,
        *(lines[n] for n in ("month", "branch", "class", "bookstore")),
    )
