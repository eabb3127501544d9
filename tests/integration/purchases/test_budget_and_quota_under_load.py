import asyncio

import pytest

from backend.accounts.models import Reader
from backend.errors import DomainError
from backend.purchases import budgets
from backend.purchases.errors import BudgetMonthsOverYear, PurchaseRefused
from backend.purchases.models import Budget, Purchase, PurchaseRules, StockItem
from backend.purchases.shops import import_stock
from tests.integration.purchases.conftest import NOW, Shops, a_reader, isbn


async def _stock(partners: Shops, numbers: range) -> None:
    rows = "\n".join(f"{isbn(n)},新书{n},作者{n},出版社,2026,40.00,3,I247.5" for n in numbers)
    data = f"isbn,title,authors,publisher,year,price,quantity,clc_class\n{rows}\n".encode()
    result = await import_stock(partners.admin, partners.shop.id, data, "csv", NOW, this_year=2026)
    assert result.problem_count == 0


def _codes(results: list[object]) -> set[str]:
    refusals = [r for r in results if isinstance(r, PurchaseRefused)]
    assert all(isinstance(r, Purchase | PurchaseRefused) for r in results), [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, DomainError)
    ] or results
    return {reason.code for r in refusals for reason in r.reasons}


async def test_two_hundred_approvals_at_once_against_a_months_share_for_fifty_books_buy_exactly_fifty(
    partners: Shops,
) -> None:
    await _stock(partners, range(1, 201))
    # The year could pay for sixty books at 40 yuan less 15%; December's share, for fifty.
    await budgets.set_budget(partners.admin, "TL-A", 2026, 60 * 3400)
    await budgets.set_budget(partners.admin, "TL-A", 2026, 50 * 3400, month=12)
    readers = [await a_reader(f"读者{i}") for i in range(200)]

    results = await asyncio.gather(
        *(partners.buy(reader, isbn(i + 1)) for i, reader in enumerate(readers)), return_exceptions=True
    )

    assert _codes(list(results)) == {"budget_short"}
    assert len([r for r in results if isinstance(r, Purchase)]) == 50
    rows = await Budget.filter(main_library=partners.shop.main_library).order_by("month")
    assert [(b.month, b.reserved_fen, b.total_fen) for b in rows] == [
        (12, 50 * 3400, 50 * 3400),
        (None, 50 * 3400, 60 * 3400),
    ]
    assert await Purchase.all().count() == 50
    assert sum(await StockItem.all().values_list("quantity", flat=True)) == 200 * 3 - 50


async def test_one_readers_twenty_simultaneous_requests_stay_within_the_monthly_quota(partners: Shops) -> None:
    await _stock(partners, range(1, 21))
    await PurchaseRules.create(main_library=partners.shop.main_library, max_unreturned=10)  # the month's 3 bind
    reader = await a_reader("心急的读者")

    results = await asyncio.gather(*(partners.buy(reader, isbn(i)) for i in range(1, 21)), return_exceptions=True)

    assert len([r for r in results if isinstance(r, Purchase)]) == 3
    assert _codes(list(results)) == {"monthly_quota_used"}
    assert await Purchase.filter(reader=await Reader.get(id=reader.id)).count() == 3


async def test_two_unreturned_books_stop_a_third_until_one_comes_back(partners: Shops) -> None:
    await _stock(partners, range(1, 21))
    reader = await a_reader("慢读者")

    results = await asyncio.gather(*(partners.buy(reader, isbn(i)) for i in range(1, 21)), return_exceptions=True)

    assert len([r for r in results if isinstance(r, Purchase)]) == 2
    assert "too_many_unreturned" in _codes(list(results))


async def test_five_readers_buying_the_networks_last_missing_copy_at_once_buy_it_once(partners: Shops) -> None:
    await _stock(partners, range(1, 2))
    await PurchaseRules.create(main_library=partners.shop.main_library, holdings_threshold=1)
    readers = [await a_reader(f"同好{i}") for i in range(5)]

    results = await asyncio.gather(*(partners.buy(reader, isbn(1)) for reader in readers), return_exceptions=True)

    assert len([r for r in results if isinstance(r, Purchase)]) == 1
    assert _codes(list(results)) == {"held_enough"}
    assert await Purchase.all().count() == 1


async def test_the_first_budget_of_a_year_set_twice_at_once_is_set_once(partners: Shops) -> None:
    results = await asyncio.gather(
        *(budgets.set_budget(partners.admin, "TL-A", 2027, total) for total in (100_000, 200_000, 300_000)),
        return_exceptions=True,
    )

    assert all(isinstance(r, Budget) for r in results), results
    rows = await Budget.filter(main_library=partners.shop.main_library, year=2027)
    assert len(rows) == 1 and rows[0].total_fen in (100_000, 200_000, 300_000)


async def test_months_shares_set_at_once_stay_within_the_years_budget(partners: Shops) -> None:
    results = await asyncio.gather(
        *(budgets.set_budget(partners.admin, "TL-A", 2026, 400_000, month) for month in range(1, 5)),
        return_exceptions=True,
    )

    assert len([r for r in results if isinstance(r, Budget)]) == 2, results
    assert all(isinstance(r, Budget | BudgetMonthsOverYear) for r in results), results
    shares = await Budget.filter(main_library=partners.shop.main_library, year=2026, month__not_isnull=True)
    assert sum(b.total_fen for b in shares) == 800_000
    with pytest.raises(BudgetMonthsOverYear):
        await budgets.set_budget(partners.admin, "TL-A", 2026, 799_999)
