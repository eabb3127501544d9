"""Each reader's own picks as a message staff push: the cards a push to a library's readers reaches, and the line of
picks each card's message shows.

Personalised processing (PIPL art. 24), so only cards whose personal picks are on: an adult's unless switched off, a
child's once its guardian switched them on. The picks are read as the reader is served them (`serving`), so a message
never names a book on loan to the card or one with no copy left, and a card's message names only its own picks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from backend.accounts.models import Reader, StaffUser
from backend.accounts.staff import authority_scope
from backend.booklists.services import cards_under
from backend.network.services import library_in_scope
from recommendations.consent import RefreshQueue
from recommendations.explain import render
from recommendations.serving import PopularLists, recommendations_for
from recommendations.store import PickStore

SHOWN = 3
"""The picks a message names: what a glance at the inbox takes in; the rest are in the app."""
_AT_ONCE = 8
"""Cards read at the same time (each a Redis and a PostgreSQL round trip): a district's push is quick without taking
the whole database pool from the requests."""
_BATCH = 1000


@dataclass(frozen=True, slots=True)
class PicksSource:
    """Where a push reads each card's picks as the reader would be served them at `now`."""

    store: PickStore
    queue: RefreshQueue
    lists: PopularLists
    now: datetime


@dataclass(frozen=True, slots=True)
class CardPicks:
    """A card reached, whom its message tells (the reader, or a child's guardian), the records it names for the card,
    and the line naming them."""

    card: int
    recipient: int
    records: list[int]
    line: str


def line(titles: Sequence[str], reason: str, child: str | None = None) -> str:
    """A card's picks as its message names them: the first with its reason, then the others; a child's card under the
    child's name, for the guardian reads it."""
    first, *others = titles
    named = "、".join([f"《{first}》（{reason}）", *(f"《{title}》" for title in others)])
    return named if child is None else f"{child}：{named}"


TEMPLATE_LINE = line([f"书名{n}" for n in range(1, SHOWN + 1)], "推荐理由")
"""What a preview shows staff in place of a reader's picks."""


def message(words: str, lines: Sequence[str]) -> str:
    """What one reader is told: staff's words, then a line per card (their own first, then each child's)."""
    return "\n".join([words, *lines])


async def reached(staff: StaffUser, library_code: str, source: PicksSource) -> list[CardPicks]:
    """The cards of a library of my scope and below (a child's card: its own library, else its guardian's) whose
    personal picks are on and trained, each with its top picks as served now. Not reached: a card switched off (the
    switch decides, whatever Redis still holds), one never trained, one whose picks are all on loan to it already."""
    library = await library_in_scope(library_code, authority_scope(staff))
    cards = await cards_under([library.path])
    at_once = asyncio.Semaphore(_AT_ONCE)

    async def trained(card: int) -> bool:
        async with at_once:
            return bool(await source.store.picks(card))

    candidates = [card for card, has in zip(cards, await asyncio.gather(*map(trained, cards)), strict=True) if has]
    readers: list[Reader] = []
    for start in range(0, len(candidates), _BATCH):
        readers.extend(await Reader.filter(id__in=candidates[start : start + _BATCH]))

    async def served(reader: Reader) -> CardPicks | None:
        async with at_once:
            found = await recommendations_for(
                reader, source.store, source.queue, source.now, lists=source.lists, limit=SHOWN, offset=0
            )
        if not (found.personal and found.items):
            return None
        recipient = cards[reader.id]
        child = None if recipient == reader.id else reader.name or "孩子"
        titles = [item.hit.record.title for item in found.items]
        reason = render(found.items[0].reason, found.titles, "zh")
        return CardPicks(
            reader.id, recipient, [item.hit.record.id for item in found.items], line(titles, reason, child)
        )

    return [picks for picks in await asyncio.gather(*map(served, readers)) if picks is not None]
