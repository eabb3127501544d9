import asyncio
import json
from datetime import timedelta

import pytest

from backend.purchases import budgets, purchases, shops
from backend.purchases.errors import MonthInvalid, MonthNotOver, StatementExists
from backend.purchases.models import Budget, PurchaseState, Statement, StockItem
from tests.integration.purchases.conftest import NOW, POLICY, Shops, a_reader, isbn
from tests.integration.service import NETWORK_TIME

CSV = (
    "ISBN,title,authors,publisher,year,price,quantity,clc_class\n"
    f"{isbn(1)},三体,刘慈欣,重庆出版社,2025,39.80,4,I247.55\n"
    "9787536692931,坏校验位,某人,某社,2025,20.00,1,\n"
    f"{isbn(2)},,无名,某社,2025,20.00,1,\n"
    f"{isbn(3)},价格不对,某人,某社,2025,39.8.0,1,\n"
    f"{isbn(4)},流浪地球,刘慈欣、刘宇昆,中国华侨出版社,2024,￥0.29,2,I247.7\n"
    f"{isbn(1)},三体（第二版）,刘慈欣,重庆出版社,2026,45,6,I247.55\n"
)


async def test_the_stock_feed_is_upserted_once_per_isbn_with_each_bad_row_reported_by_line(partners: Shops) -> None:
    first = await shops.import_stock(partners.clerk, partners.shop.id, CSV.encode(), "csv", NOW, this_year=2026)
    again = await shops.import_stock(partners.clerk, partners.shop.id, CSV.encode(), "csv", NOW, this_year=2026)

    assert (first.rows, first.created, first.updated) == (6, 2, 0)
    assert (again.rows, again.created, again.updated) == (6, 0, 2)
    assert [(p.line, p.reason.split(":")[0]) for p in first.problems] == [
        (2, f"ISBN {isbn(1)} is listed again on line 7, which is used"),
        (3, "ISBN is not valid"),
        (4, "the title is missing"),
        (5, "price '39.8.0' is not an amount in yuan (e.g. 39.80)"),
    ]
    stock = {s.isbn13: s for s in await StockItem.filter(bookstore=partners.shop)}
    assert (stock[isbn(1)].title, stock[isbn(1)].list_price_fen, stock[isbn(1)].quantity) == ("三体（第二版）", 4500, 6)
    assert (stock[isbn(4)].list_price_fen, stock[isbn(4)].authors) == (29, "刘慈欣、刘宇昆")


async def test_a_json_feed_takes_yuan_or_fen_and_readers_find_the_stock_by_title_author_or_isbn(
    partners: Shops,
) -> None:
    feed = (
        '[{"isbn": "7-5366-9293-5", "title": "球状闪电", "authors": ["刘慈欣"], "year": 2025, "price": "35.00",'
        ' "quantity": 1},'
        ' {"isbn": "9787020002207", "title": "红楼梦", "authors": "曹雪芹", "year": 2026, "list_price_fen": 5990,'
        ' "quantity": 2}, "not an object"]'
    ).encode()

    result = await shops.import_stock(partners.admin, partners.shop.id, feed, "json", NOW, this_year=2026)

    assert (result.created, [p.line for p in result.problems]) == (2, [3])
    assert [s.title for s in (await shops.search_stock(partners.shop.id, "刘慈", limit=10, offset=0))[0]] == [
        "球状闪电"
    ]
    assert [s.title for s in (await shops.search_stock(partners.shop.id, "红楼", limit=10, offset=0))[0]] == ["红楼梦"]
    by_isbn, total = await shops.search_stock(partners.shop.id, "978-7-5366-9293-0", limit=10, offset=0)
    assert total == 1 and by_isbn[0].list_price_fen == 3500
    offers = await shops.partner_offers(["9787020002207"])
    assert [(o.bookstore, o.list_price_fen) for o in offers["9787020002207"]] == [("铜陵新华书店", 5990)]


async def test_the_monthly_statement_lists_the_months_sales_and_spends_what_they_reserved(partners: Shops) -> None:
    sold = [
        await partners.buy(await a_reader(name), await partners.stock(n, list_price_fen=price))
        for name, n, price in [("甲", 11, 3980), ("乙", 12, 5000)]
    ]
    next_month = NOW + timedelta(days=31)
    await budgets.set_budget(partners.admin, "TL-A", 2027, 500_000)
    after = await partners.buy(await a_reader("丙"), await partners.stock(13), now=next_month)

    statement = await purchases.settle_month(partners.admin, partners.shop.id, 2026, 12, next_month, policy=POLICY)

    assert (statement.books, statement.list_total_fen, statement.due_fen) == (2, 8980, 3383 + 4250)
    assert {p.state for p in await type(sold[0]).filter(statement_id=statement.id)} == {PurchaseState.SPENT}
    year = await Budget.get(main_library=partners.shop.main_library, year=2026, month=None)
    assert (year.spent_fen, year.reserved_fen) == (7633, 0)
    assert (after.year, after.state) == (2027, PurchaseState.RESERVED)  # January's is January's statement
    _, lines, total = await purchases.statement_lines(partners.admin, statement.id, limit=50, offset=0)
    document = purchases.statement_csv(statement, lines, NETWORK_TIME)
    assert total == 2 and document.splitlines()[-1] == "合计 total,,2,,89.80,,76.33"
    figures = await budgets.figures(partners.admin, "TL-A", 2026)
    assert (figures.spent_fen, figures.reserved_fen, figures.left_fen) == (7633, 0, 1_000_000 - 7633)
    assert [(line.label, line.books, line.spent_fen) for line in figures.by_bookstore] == [("铜陵新华书店", 2, 7633)]
    with pytest.raises(StatementExists):
        await purchases.settle_month(partners.admin, partners.shop.id, 2026, 12, next_month, policy=POLICY)


async def test_a_month_settled_twice_at_once_is_settled_and_spent_once(partners: Shops) -> None:
    await partners.buy(await a_reader("戊"), await partners.stock(31, list_price_fen=4000))
    next_month = NOW + timedelta(days=31)

    results = await asyncio.gather(
        *(purchases.settle_month(partners.admin, partners.shop.id, 2026, 12, next_month, policy=POLICY) for _ in "ab"),
        return_exceptions=True,
    )

    assert sorted(type(r).__name__ for r in results) == ["Statement", "StatementExists"], results
    year = await Budget.get(main_library=partners.shop.main_library, year=2026, month=None)
    assert (year.spent_fen, year.reserved_fen) == (3400, 0)


async def test_a_month_is_settled_only_once_it_is_over(partners: Shops) -> None:
    await partners.buy(await a_reader("丁"), await partners.stock(21))

    with pytest.raises(MonthNotOver):  # 1 December: December's sales are still being made
        await purchases.settle_month(partners.admin, partners.shop.id, 2026, 12, NOW, policy=POLICY)
    with pytest.raises(MonthNotOver):
        await purchases.settle_month(partners.admin, partners.shop.id, 2027, 1, NOW, policy=POLICY)
    for year, month in [(2026, 13), (2026, 0), (1999, 12)]:
        with pytest.raises(MonthInvalid):
            await purchases.settle_month(partners.admin, partners.shop.id, year, month, NOW, policy=POLICY)

    assert await Statement.all().count() == 0
    assert (await Budget.get(main_library=partners.shop.main_library, month=None)).spent_fen == 0


async def test_a_feed_row_with_a_nul_or_too_long_once_upper_cased_is_reported_and_the_rest_loaded(
    partners: Shops,
) -> None:
    rows = [
        {"isbn": isbn(31), "title": "坏\u0000书", "year": 2026, "list_price_fen": 100, "quantity": 1},
        {"isbn": isbn(32), "title": "书", "authors": ["甲\u0000"], "year": 2026, "list_price_fen": 100, "quantity": 1},
        {"isbn": isbn(33), "title": "书", "clc_class": "ß" * 21, "year": 2026, "list_price_fen": 100, "quantity": 1},
        {"isbn": isbn(34), "title": "好书", "clc_class": "i247", "year": 2026, "list_price_fen": 100, "quantity": 1},
    ]

    result = await shops.import_stock(
        partners.admin, partners.shop.id, json.dumps(rows).encode(), "json", NOW, this_year=2026
    )

    assert [(p.line, p.reason) for p in result.problems] == [
        (1, "title contains a NUL character"),
        (2, "authors contains a NUL character"),
        (3, "clc_class is longer than 40 characters"),
    ]
    assert [(s.title, s.clc_class) for s in await StockItem.filter(bookstore=partners.shop)] == [("好书", "I247")]


async def test_digits_like_an_isbn_with_a_wrong_check_digit_are_searched_as_text(partners: Shops) -> None:
    await partners.stock(41, title="编号 9787536692931 的书")

    found, total = await shops.search_stock(partners.shop.id, "9787536692931", limit=10, offset=0)

    assert total == 1 and found[0].title == "编号 9787536692931 的书"
