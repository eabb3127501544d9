"""Each reader's own picks as a message staff push: the cards a push to a library's readers reaches, each card's picks
for it a batch at a time, and the line of picks each card's message shows.

Personalised processing (PIPL art. 24), so only cards whose personal picks are on: an adult's unless switched off, a
child's once its guardian switched them on. The picks are read as the reader is served them (`serving`), so a message
never names a book on loan to the card or one with no copy left, and a card's message names only its own picks. A card
the nightly run did not pick for (no loan lately) gets its picks then, as when its reader opens the app
(`training.refresh_reader`); one that still has none is not told, and is counted by why (`Skipped`).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from redis.asyncio import Redis
from tortoise import connections

from backend.accounts.models import Reader, ReaderType, StaffUser
from backend.accounts.staff import authority_scope
from backend.booklists.services import cards_under
from backend.network.models import Library
from backend.network.services import library_in_scope
from recommendations.consent import RefreshQueue, personal_on_id
from recommendations.explain import render
from recommendations.reasons import Pick
from recommendations.serving import PopularLists, recommendations_for
from recommendations.store import ModelCache, PickStore
from recommendations.training import refresh_reader

SHOWN = 3
"""The picks a message names: what a glance at the inbox takes in; the rest are in the app."""
BATCH = 500
"""Readers told per batch (a guardian with their children's cards): their picks read from Redis in one round trip,
their notices committed together."""
_AT_ONCE = 8
"""Cards of a batch served (a PostgreSQL round trip each) or picked (a refresh: CPU in a thread) at the same time: a
push is quick without taking the whole database pool or every core from the worker's other jobs."""

# `consent.personal_on` in SQL, on the card `r`: its own choice, else on for an adult's card, off for a child's.
_PERSONAL_ON = (
    "AND COALESCE((SELECT s.personal FROM recommendation_setting s WHERE s.reader_id = r.id), "
    f"r.reader_type = '{ReaderType.ADULT.value}')"
)
# Loans naming the card: what its picks are learnt from (`training`: none, nothing of its own to learn from).
_BORROWED = "AND EXISTS (SELECT 1 FROM loan l WHERE l.reader_id = r.id)"


class Skipped(StrEnum):
    """Why a card whose personal picks are on is not told."""

    NO_LOANS = "no_loans"  # no loan names it: it never borrowed, or its returned loans no longer name it
    NONE_AVAILABLE = "none_available"  # every pick is on loan to it already or has no copy left
    SWITCHED_OFF = "switched_off"  # its personal picks were switched off while the push was under way
    NO_MODEL = "no_model"  # no trained model to pick from yet


@dataclass(frozen=True, slots=True)
class PicksSource:
    """Where a push reads each card's picks as the reader would be served them, and makes them for a card that has
    none stored (the model served, kept in the process)."""

    redis: Redis
    queue: RefreshQueue
    lists: PopularLists
    models: ModelCache


@dataclass(frozen=True, slots=True)
class CardPicks:
    """A card reached, whom its message tells (the reader, or a child's guardian), the records it names for the card,
    and the line naming them."""

    card: int
    recipient: int
    records: list[int]
    line: str


@dataclass(frozen=True, slots=True)
class Picked:
    """A batch's cards told, and those not told by why."""

    told: list[CardPicks] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Expected:
    """What a push would do now, as a preview counts it without reading anyone's picks: the readers and cards told,
    and the cards not told by why (a card whose every pick turns out to be on loan to it is only found by the push)."""

    recipients: int
    cards: int
    skipped: Counter[str]


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


async def target(staff: StaffUser, library_code: str) -> Library:
    """The library of my scope whose readers (it and everything below it) a push tells."""
    return await library_in_scope(library_code, authority_scope(staff))


async def audience(library: Library) -> dict[int, int]:
    """The cards of a library and below (a child's card: its own library, else its guardian's) whose personal picks
    are on, each with whom to tell of it. Ids only, in one query: a city's half a million cards are some tens of MB
    in the worker."""
    return await cards_under([library.path], [_PERSONAL_ON])


async def expected(library: Library, store: PickStore) -> Expected:
    """What pushing picks to a library's readers would do now: a card with loans of its own gets picks (stored, or
    made then); one without, or every card while no model is trained, is expected to be skipped."""
    cards = await audience(library)
    borrowed = await cards_under([library.path], [_PERSONAL_ON, _BORROWED])
    skipped = Counter({Skipped.NO_LOANS.value: len(cards) - len(borrowed)})
    if await store.current() is None:
        skipped[Skipped.NO_MODEL.value] = len(borrowed)
        borrowed = {}
    return Expected(len(set(borrowed.values())), len(borrowed), +skipped)


def in_batches(cards: Mapping[int, int], after: int, size: int = BATCH) -> Iterator[dict[int, int]]:
    """The cards of the readers told after the reader `after`, `size` readers at a time in the order of their ids,
    a guardian's cards in one batch (one message names them all)."""
    by_recipient: defaultdict[int, list[int]] = defaultdict(list)
    for card, recipient in cards.items():
        if recipient > after:
            by_recipient[recipient].append(card)
    recipients = sorted(by_recipient)
    for start in range(0, len(recipients), size):
        yield {card: r for r in recipients[start : start + size] for card in sorted(by_recipient[r])}


async def picks_for(cards: Mapping[int, int], source: PicksSource, now: datetime, today: date) -> Picked:
    """Each card's top picks as served at `now`, the card told of them if it has any. Its stored picks are read with
    the batch's in one round trip; a card with none stored and loans of its own gets them now, from the model served
    (a refresh, its scoring in a thread; a child's card in its age band on `today`, the network's calendar day)."""
    store = PickStore(source.redis)
    version, stored = await store.served_many(list(cards))
    borrowed = await _borrowed([card for card, picks in stored.items() if picks is None])
    at_once = asyncio.Semaphore(_AT_ONCE)
    if version is not None and borrowed:

        async def refreshed(card: int) -> None:
            async with at_once:
                await refresh_reader(store, source.models, card, today)

        await asyncio.gather(*map(refreshed, borrowed))
        version, fresh = await store.served_many(sorted(borrowed))
        stored.update(fresh)
    skipped: Counter[str] = Counter()
    for card, picks in stored.items():
        if picks == [] or (picks is None and card not in borrowed):
            skipped[Skipped.NO_LOANS.value] += 1
        elif picks is None:  # not made: no model, or switched off since the audience was read (the refresh forgot it)
            off = version is not None and not await personal_on_id(card)
            skipped[(Skipped.SWITCHED_OFF if off else Skipped.NO_MODEL).value] += 1
    picked = {card: picks for card, picks in stored.items() if picks}
    if not picked:
        return Picked([], skipped)
    read = _ReadAhead(source.redis, version, picked)

    async def served(reader: Reader) -> CardPicks | Skipped:
        async with at_once:
            found = await recommendations_for(
                reader, read, source.queue, now, today, lists=source.lists, limit=SHOWN, offset=0
            )
            if not found.personal:  # its picks read beforehand, so not personal: switched off since, or none left
                return Skipped.NONE_AVAILABLE if await personal_on_id(reader.id) else Skipped.SWITCHED_OFF
        recipient = cards[reader.id]
        child = None if recipient == reader.id else reader.name or "孩子"
        titles = [item.hit.record.title for item in found.items]
        reason = render(found.items[0].reason, found.titles, "zh")
        return CardPicks(
            reader.id, recipient, [item.hit.record.id for item in found.items], line(titles, reason, child)
        )

    readers = await Reader.filter(id__in=list(picked))
    told = []
    for outcome in await asyncio.gather(*map(served, readers)):
        if isinstance(outcome, Skipped):
            skipped[outcome.value] += 1
        else:
            told.append(outcome)
    return Picked(told, +skipped)


async def _borrowed(cards: list[int]) -> set[int]:
    """The cards that loans name."""
    if not cards:
        return set()
    rows = await connections.get("default").execute_query_dict(
        "SELECT DISTINCT reader_id FROM loan WHERE reader_id = ANY($1::int[])", [cards]
    )
    return {int(row["reader_id"]) for row in rows}


class _ReadAhead(PickStore):
    """The store as serving reads a batch's cards: their picks read beforehand, in one round trip for the batch."""

    def __init__(self, redis: Redis, version: str | None, picks: Mapping[int, list[Pick]]) -> None:
        super().__init__(redis)
        self._version = version
        self._picks = picks

    async def served(self, reader_id: int) -> tuple[str | None, list[Pick] | None]:
        return self._version, self._picks.get(reader_id)
