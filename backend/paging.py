"""One page of a list and the length of the whole list: what every service that lists things returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)
T = TypeVar("T")


async def page(query: QuerySet[M], limit: int, offset: int) -> tuple[list[M], int]:
    """`limit` rows of `query` from `offset` on, and how many rows it has in all. `query` must be ordered down to a
    unique column (the id last), or rows that tie may swap between two requests and a page repeat or skip one."""
    return await query.offset(offset).limit(limit), await query.count()


def page_of(items: Sequence[T], limit: int, offset: int) -> tuple[list[T], int]:
    """The same cut of a list already whole in memory (read from settings, or grouped from rows in Python)."""
    return list(items[offset : offset + limit]), len(items)
