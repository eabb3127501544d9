"""The lists the purchase endpoints show that no service composes: the partner shops a reader may visit, a reader's
own purchases, a shop's sales. Plain reads of the purchases area's rows, each one ordered page."""

from __future__ import annotations

from backend import paging
from backend.accounts.models import Reader
from backend.network.models import Library
from backend.purchases.models import Bookstore, Purchase


async def open_bookstores(library: Library | None, *, limit: int, offset: int) -> tuple[list[Bookstore], int]:
    """The active partner bookstores (of one main library, or all), by name."""
    query = Bookstore.filter(active=True)
    if library is not None:
        query = query.filter(main_library_id=library.id)
    return await paging.page(query.select_related("main_library").order_by("name", "id"), limit, offset)


async def readers_purchases(reader: Reader, *, limit: int, offset: int) -> tuple[list[Purchase], int]:
    """The books bought for a reader, newest first, each with its copy, record and loan."""
    query = Purchase.filter(reader_id=reader.id).select_related("record", "copy", "loan")
    return await paging.page(query.order_by("-approved_at", "-id"), limit, offset)


async def bookstore_sales(
    bookstore: Bookstore, year: int, month: int, *, limit: int, offset: int
) -> tuple[list[Purchase], int]:
    """A shop's sales to the library in a month of the network's calendar, in the order sold."""
    query = Purchase.filter(bookstore_id=bookstore.id, year=year, month=month).select_related("copy")
    return await paging.page(query.order_by("approved_at", "id"), limit, offset)
