"""What the recommender does when another area says something happened: a checkout queues fresh picks, a card
removed loses its picks."""

from __future__ import annotations

import logging
from functools import partial

from backend.accounts.domain_events import CardClosing
from backend.circulation.domain_events import LoanOpened
from backend.eventbus import EventBus
from backend.outages import is_outage
from recommendations.consent import RefreshQueue
from recommendations.store import PickStore

log = logging.getLogger(__name__)


def subscribe(bus: EventBus, queue: RefreshQueue, store: PickStore) -> None:
    bus.subscribe(LoanOpened, partial(loan_opened, queue))
    bus.subscribe(CardClosing, partial(card_closing, store))


async def loan_opened(queue: RefreshQueue, event: LoanOpened) -> None:
    """The reader's picks are recomputed within seconds, in the worker. A checkout never fails for it: with Redis
    down the picks wait for the nightly training."""
    try:
        await queue.enqueue_recommendation_refresh(event.reader_id, event.loan_id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("picks of reader %d not refreshed: Redis unreachable (%s)", event.reader_id, type(exc).__name__)


async def card_closing(store: PickStore, event: CardClosing) -> None:
    """A card removed (a guardian removing a child's card) takes its picks with it. Deleted while the removal's
    transaction is open: were it rolled back, the card would merely get picks again at the next refresh or training.
    With Redis down the removal goes ahead: the card is gone from PostgreSQL, so no refresh serves the picks left
    behind and the next training's version, which has none for it, replaces the one holding them."""
    try:
        await store.forget_reader(event.reader_id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning(
            "picks of removed card %d left to the next training: Redis unreachable (%s)",
            event.reader_id,
            type(exc).__name__,
        )
