"""Partner bookstores: their clerks, their stock feed (CSV or JSON, upserted per shop and ISBN with a report of the
rows refused), and readers' searches of their stock."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from backend import paging
from backend.accounts import staff as accounts_staff
from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import authority_scope, require_role
from backend.catalog.errors import InvalidIsbn
from backend.catalog.isbn import looks_like_isbn, normalise_isbn
from backend.catalog.models import ItemType
from backend.network.models import Library, LibraryLevel
from backend.network.services import in_scope, library_in_scope
from backend.purchases.errors import (
    BookstoreNameTaken,
    BookstoreNotFound,
    DiscountInvalid,
    NotInStock,
    NotMainLibrary,
    NotThisBookstore,
    StockFileInvalid,
)
from backend.purchases.models import Bookstore, StockItem

# The levels that buy for their readers: the central library and the district and county libraries (总馆).
BUYING_LEVELS = frozenset({LibraryLevel.CENTRAL, LibraryLevel.MAIN})
MAX_STOCK_BYTES = 10 << 20
MAX_STOCK_ROWS = 50_000
MAX_PROBLEMS_KEPT = 1000
_UPSERT_BATCH = 1000
_YUAN = re.compile(r"([0-9]{1,7})(?:\.([0-9]{1,2}))?")
_AUTHOR_SEPARATORS = re.compile(r"\s*[;；、/]\s*")
_NUL = "{name} contains a NUL character"


@dataclass(frozen=True, slots=True)
class BookstoreDraft:
    name: str
    address: str
    discount_bp: int


async def main_library(code: str, staff: StaffUser) -> Library:
    """A library that buys for its readers, in the administrator's authority."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    library = await library_in_scope(code, authority_scope(staff))
    if library.level not in BUYING_LEVELS:
        raise NotMainLibrary(library=library.name)
    return library


async def create_bookstore(staff: StaffUser, library_code: str, draft: BookstoreDraft, now: datetime) -> Bookstore:
    """A partner bookstore of a main library in the administrator's authority."""
    library = await main_library(library_code, staff)
    if not 0 <= draft.discount_bp <= 10000:
        raise DiscountInvalid()
    try:
        return await Bookstore.create(
            name=draft.name.strip(),
            main_library=library,
            address=draft.address,
            discount_bp=draft.discount_bp,
            created_at=now,
        )
    except IntegrityError as exc:
        raise BookstoreNameTaken(name=draft.name) from exc


async def managed_bookstore(staff: StaffUser, bookstore_id: int) -> Bookstore:
    """A bookstore an administrator over its main library manages (others are not found)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    bookstore = await Bookstore.get_or_none(id=bookstore_id).select_related("main_library")
    if bookstore is None or not in_scope(bookstore.main_library, authority_scope(staff)):
        raise BookstoreNotFound()
    return bookstore


async def update_bookstore(staff: StaffUser, bookstore_id: int, draft: BookstoreDraft, active: bool) -> Bookstore:
    """Rename a bookstore, change its discount (for purchases from now on), or end the partnership."""
    bookstore = await managed_bookstore(staff, bookstore_id)
    if not 0 <= draft.discount_bp <= 10000:
        raise DiscountInvalid()
    bookstore.name, bookstore.address = draft.name.strip(), draft.address
    bookstore.discount_bp, bookstore.active = draft.discount_bp, active
    try:
        await bookstore.save()
    except IntegrityError as exc:
        raise BookstoreNameTaken(name=draft.name) from exc
    return bookstore


async def create_clerk(
    staff: StaffUser, bookstore_id: int, *, username: str, password: str, display_name: str
) -> StaffUser:
    """A clerk account of a bookstore, at its main library: it approves purchases in that shop and nothing else."""
    bookstore = await managed_bookstore(staff, bookstore_id)
    return await accounts_staff.create_bookstore_clerk(
        username=username,
        password=password,
        display_name=display_name,
        library=bookstore.main_library,
        bookstore_id=bookstore.id,
    )


async def clerks_bookstore(clerk: StaffUser, bookstore_id: int | None = None) -> Bookstore:
    """The active bookstore a clerk acts for; naming another shop is refused (`not_this_bookstore`)."""
    if clerk.role is not StaffRole.BOOKSTORE_CLERK or clerk.bookstore_id is None:
        raise NotThisBookstore()
    if bookstore_id is not None and bookstore_id != clerk.bookstore_id:
        raise NotThisBookstore()
    bookstore = await Bookstore.get_or_none(id=clerk.bookstore_id, active=True).select_related("main_library")
    if bookstore is None:
        raise BookstoreNotFound()
    return bookstore


async def feeding_bookstore(staff: StaffUser, bookstore_id: int) -> Bookstore:
    """The bookstore whose stock `staff` may load: its own clerk, or an administrator over its main library."""
    if staff.role is StaffRole.BOOKSTORE_CLERK:
        return await clerks_bookstore(staff, bookstore_id)
    return await managed_bookstore(staff, bookstore_id)


# The stock feed.


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row of the feed refused: its line (CSV: of the file; JSON: the item's place in the list, from 1)."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class StockImport:
    rows: int
    created: int
    updated: int
    problem_count: int
    problems: list[RowProblem]
    """The first MAX_PROBLEMS_KEPT, in file order."""


@dataclass(frozen=True, slots=True)
class _Row:
    isbn13: str
    title: str
    authors: str
    publisher: str
    year: int
    list_price_fen: int
    quantity: int
    clc_class: str
    item_type: ItemType


async def import_stock(
    staff: StaffUser, bookstore_id: int, data: bytes, file_format: str, now: datetime, *, this_year: int
) -> StockImport:
    """Load a bookstore's stock feed: each good row is written (a new title added, a known one's details, price and
    quantity replaced), the rest reported with their line and why; a title the feed leaves out is left as it was.
    Loading the same file again changes nothing. `this_year` (the network's) bounds a publication year."""
    bookstore = await feeding_bookstore(staff, bookstore_id)
    if len(data) > MAX_STOCK_BYTES:
        raise StockFileInvalid(reason=f"it is larger than {MAX_STOCK_BYTES >> 20} MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StockFileInvalid(reason="it is not UTF-8 text") from exc
    raw_rows = _csv_rows(text) if file_format == "csv" else _json_rows(text) if file_format == "json" else None
    if raw_rows is None:
        raise StockFileInvalid(reason=f"unknown format {file_format!r} (csv or json)")
    good: dict[str, tuple[int, _Row]] = {}
    problems: list[RowProblem] = []
    count = 0
    for line, fields in raw_rows:
        count += 1
        if count > MAX_STOCK_ROWS:
            raise StockFileInvalid(reason=f"it has more than {MAX_STOCK_ROWS} rows; split it")
        try:
            row = _row(fields, this_year)
        except _BadRow as exc:
            problems.append(RowProblem(line, str(exc)))
            continue
        if (earlier := good.get(row.isbn13)) is not None:
            problems.append(RowProblem(earlier[0], f"ISBN {row.isbn13} is listed again on line {line}, which is used"))
        good[row.isbn13] = (line, row)
    created = updated = 0
    rows = [row for _, row in good.values()]
    for start in range(0, len(rows), _UPSERT_BATCH):
        inserted = await _upsert(bookstore.id, rows[start : start + _UPSERT_BATCH], now)
        created += inserted
        updated += len(rows[start : start + _UPSERT_BATCH]) - inserted
    problems.sort(key=lambda p: p.line)
    return StockImport(count, created, updated, len(problems), problems[:MAX_PROBLEMS_KEPT])


async def _upsert(bookstore_id: int, rows: list[_Row], now: datetime) -> int:
    """One statement per batch; returns how many rows were new (xmax = 0: inserted, not updated)."""
    columns = (
        "isbn13",
        "title",
        "authors",
        "publisher",
        "year",
        "list_price_fen",
        "quantity",
        "clc_class",
        "item_type",
    )
    values: list[str] = []
    params: list[object] = []
    for row in rows:
        base = len(params)
        params += [bookstore_id, *(getattr(row, c) for c in columns), now]
        values.append("(" + ", ".join(f"${base + i}" for i in range(1, len(columns) + 3)) + ")")
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*columns[1:], "updated_at"))
    result = await connections.get("default").execute_query_dict(
        f"INSERT INTO purchase_stock (bookstore_id, {', '.join(columns)}, updated_at) VALUES {', '.join(values)} "
        f"ON CONFLICT (bookstore_id, isbn13) DO UPDATE SET {updates} RETURNING (xmax = 0) AS inserted",
        params,
    )
    return sum(1 for r in result if r["inserted"])


class _BadRow(Exception):
    pass


def _csv_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise StockFileInvalid(reason="it is empty")
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames]
    if "isbn" not in reader.fieldnames:
        raise StockFileInvalid(reason="the first line names no isbn column")
    try:
        for fields in reader:
            yield reader.line_num, fields
    except csv.Error as exc:
        raise StockFileInvalid(reason=f"line {reader.line_num}: {exc}") from exc


def _json_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StockFileInvalid(reason=f"not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(items, list):
        raise StockFileInvalid(reason="JSON stock is a list of objects")
    for position, item in enumerate(items, start=1):
        yield position, item if isinstance(item, dict) else {}


def _row(fields: Mapping[str, Any], this_year: int) -> _Row:
    try:
        isbn13 = normalise_isbn(_text(fields, "isbn", 40))
    except InvalidIsbn as exc:
        raise _BadRow(f"ISBN is not valid: {exc.params['reason']}") from None
    title = _text(fields, "title", 500)
    if not title:
        raise _BadRow("the title is missing")
    authors = fields.get("authors", "")
    if isinstance(authors, list):
        authors = "、".join(str(a).strip() for a in authors)
    if "\x00" in str(authors):
        raise _BadRow(_NUL.format(name="authors"))
    year = _whole(fields, "year", 1400, this_year + 1)
    return _Row(
        isbn13=isbn13,
        title=title,
        authors=_AUTHOR_SEPARATORS.sub("、", str(authors).strip())[:500],
        publisher=_text(fields, "publisher", 200),
        year=year,
        list_price_fen=_price_fen(fields),
        quantity=_whole(fields, "quantity", 0, 1_000_000),
        clc_class=_text(fields, "clc_class", 40, str.upper),
        item_type=_item_type(fields),
    )


def _text(fields: Mapping[str, Any], name: str, max_length: int, case: Callable[[str], str] = str) -> str:
    """A text field, stripped and put in `case`, then measured (an upper-cased "ß" is two letters)."""
    value = fields.get(name)
    text = case("" if value is None else str(value).strip())
    if "\x00" in text:  # PostgreSQL's text cannot hold it
        raise _BadRow(_NUL.format(name=name))
    if len(text) > max_length:
        raise _BadRow(f"{name} is longer than {max_length} characters")
    return text


def _whole(fields: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = fields.get(name)
    if isinstance(value, bool) or value is None or value == "":
        raise _BadRow(f"{name} is missing")
    try:
        number = value if isinstance(value, int) else int(str(value).strip())
    except ValueError:
        raise _BadRow(f"{name} {value!r} is not a whole number") from None
    if not low <= number <= high:
        raise _BadRow(f"{name} {number} is not between {low} and {high}")
    return number


def _price_fen(fields: Mapping[str, Any]) -> int:
    """The list price: `list_price_fen` (whole fen), or `price` in yuan as printed ("39.80", "¥39.8"), converted
    digit by digit: a float would turn 0.29 yuan into 28 fen."""
    if fields.get("list_price_fen") not in (None, ""):
        return _whole(fields, "list_price_fen", 0, 10**8)
    price = fields.get("price")
    if price is None or isinstance(price, bool) or str(price).strip() == "":
        raise _BadRow("the list price is missing (price in yuan, or list_price_fen)")
    if isinstance(price, float):  # JSON 39.8: its decimal text is what the shop wrote
        price = repr(price)
    text = str(price).strip().lstrip("¥￥").removesuffix("元").strip()
    match = _YUAN.fullmatch(text)
    if match is None:
        raise _BadRow(f"price {price!r} is not an amount in yuan (e.g. 39.80)")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def _item_type(fields: Mapping[str, Any]) -> ItemType:
    text = _text(fields, "item_type", 20, str.lower)
    try:
        return ItemType(text) if text else ItemType.BOOK
    except ValueError:
        raise _BadRow(f"item_type {text!r} is not one of {', '.join(t.value for t in ItemType)}") from None


# Reading the stock.


async def stock_item(bookstore_id: int, isbn: str) -> StockItem:
    """The shop's stock row of an ISBN (one indexed look-up), with its bookstore and main library."""
    isbn13 = normalise_isbn(isbn)
    item = await StockItem.get_or_none(bookstore_id=bookstore_id, isbn13=isbn13, bookstore__active=True).select_related(
        "bookstore__main_library"
    )
    if item is None:
        raise NotInStock(isbn=isbn13)
    return item


async def open_bookstores(library: Library | None, *, limit: int, offset: int) -> tuple[list[Bookstore], int]:
    """The active partner bookstores a reader may visit (of one main library, or all), by name."""
    query = Bookstore.filter(active=True)
    if library is not None:
        query = query.filter(main_library_id=library.id)
    return await paging.page(query.select_related("main_library").order_by("name", "id"), limit, offset)


async def search_stock(bookstore_id: int, text: str, *, limit: int, offset: int) -> tuple[list[StockItem], int]:
    """A bookstore's titles in stock matching an ISBN exactly, or a title or author containing `text` (a plain
    ILIKE: a shop's stock is thousands of rows, not the catalogue's million, so it needs no search index)."""
    if not await Bookstore.exists(id=bookstore_id, active=True):
        raise BookstoreNotFound()
    query = StockItem.filter(bookstore_id=bookstore_id, quantity__gt=0)
    text = text.strip()
    if isbn13 := _isbn_or_none(text):
        query = query.filter(isbn13=isbn13)
    elif text:
        query = query.filter(Q(title__icontains=text) | Q(authors__icontains=text))
    return await paging.page(query.order_by("title", "id"), limit, offset)


def _isbn_or_none(text: str) -> str | None:
    """The ISBN a search names; digits that look like one but are not (a wrong check digit) are searched as text."""
    if not looks_like_isbn(text):
        return None
    try:
        return normalise_isbn(text)
    except InvalidIsbn:
        return None


@dataclass(frozen=True, slots=True)
class Offer:
    """What a catalogue search shows for a title the network does not hold: at partner X, at this price."""

    bookstore_id: int
    bookstore: str
    list_price_fen: int


async def partner_offers(isbn13s: list[str]) -> dict[str, list[Offer]]:
    """The active partner bookstores that have each of these (normalised) ISBNs in stock, cheapest first."""
    items = (
        await StockItem.filter(isbn13__in=isbn13s, quantity__gt=0, bookstore__active=True)
        .select_related("bookstore")
        .order_by("list_price_fen", "id")
    )
    offers: dict[str, list[Offer]] = {}
    for item in items:
        offers.setdefault(item.isbn13, []).append(Offer(item.bookstore_id, item.bookstore.name, item.list_price_fen))
    return offers
