"""The reader's basket of titles to order for delivery, kept by the server so the app and the mini-program share it.
A title goes in while some copy could be ordered; a copy is chosen only when the order is placed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader
from backend.accounts.services import lock_card
from backend.catalog.errors import RecordNotFound
from backend.catalog.models import CopyStatus, Record
from backend.delivery.errors import BasketFull, NotOrderable
from backend.delivery.models import BasketItem

MAX_BASKET = 50

# Copies an order could take: on the shelf (not on loan, held, travelling or being processed) at an active library
# that lends. The orders choose among the same.
ORDERABLE = (
    "FROM copy c JOIN library l ON l.id = c.current_library_id"
    f" WHERE c.status = '{CopyStatus.AVAILABLE.value}' AND NOT c.unprocessed AND l.lending AND l.active"
)


async def orderable_counts(record_ids: Sequence[int]) -> dict[int, int]:
    """How many copies of each title an order could take now."""
    rows = await connections.get("default").execute_query_dict(
        f"SELECT c.record_id, COUNT(*) AS n {ORDERABLE} AND c.record_id = ANY($1::int[]) GROUP BY c.record_id",
        [list(record_ids)],
    )
    return {int(row["record_id"]): int(row["n"]) for row in rows}


@dataclass(frozen=True, slots=True)
class BasketLine:
    item: BasketItem  # with its record
    orderable: int
    """Copies an order could take now (0: none, for now: the title stays in the basket)."""


async def add_to_basket(reader: Reader, record_id: int, now: datetime) -> BasketLine:
    """Put a title in the basket (once: adding it again changes nothing), if some copy of it could be ordered now and
    the basket is not full."""
    if not await Record.exists(id=record_id):
        raise RecordNotFound()
    orderable = (await orderable_counts([record_id])).get(record_id, 0)
    if not orderable:
        raise NotOrderable()
    async with in_transaction():
        await lock_card(reader.id)  # counting the basket and adding to it is one step
        item = await BasketItem.get_or_none(reader_id=reader.id, record_id=record_id)
        if item is None:
            if await BasketItem.filter(reader_id=reader.id).count() >= MAX_BASKET:
                raise BasketFull(limit=MAX_BASKET)
            item = await BasketItem.create(reader_id=reader.id, record_id=record_id, added_at=now)
    await item.fetch_related("record")
    return BasketLine(item, orderable)


async def remove_from_basket(reader: Reader, record_id: int) -> None:
    """Take a title out (one not in it: nothing happens)."""
    await BasketItem.filter(reader_id=reader.id, record_id=record_id).delete()


async def basket(reader_id: int, *, limit: int, offset: int) -> tuple[list[BasketLine], int]:
    """The titles in the basket, the last added first, each with the copies an order could take now."""
    query = BasketItem.filter(reader_id=reader_id).select_related("record").order_by("-added_at", "-id")
    items, total = await paging.page(query, limit, offset)
    counts = await orderable_counts([item.record_id for item in items])
    return [BasketLine(item, counts.get(item.record_id, 0)) for item in items], total


async def basket_titles(reader_id: int) -> list[int]:
    """Every title in the basket (an order of the basket takes them all), the first added first."""
    titles = BasketItem.filter(reader_id=reader_id).order_by("added_at", "id")
    ids: list[int] = await titles.values_list("record_id", flat=True)  # type: ignore[assignment]
    return ids


async def clear(reader_id: int, record_ids: Sequence[int]) -> None:
    await BasketItem.filter(reader_id=reader_id, record_id__in=list(record_ids)).delete()
