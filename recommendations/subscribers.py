"""What the recommender does when circulation says something happened: a checkout queues fresh picks."""

from __future__ import annotations

import logging
from functools import partial

from backend.circulation.domain_events import LoanOpened
from backend.eventbus import EventBus
from backend.outages import is_outage
from recommendations.consent import RefreshQueue

log = logging.getLogger(__name__)


def subscribe(bus: EventBus, queue: RefreshQueue) -> None:
    bus.subscribe(LoanOpened, partial(loan_opened, queue))


async def loan_opened(queue: RefreshQueue, event: LoanOpened) -> None:
    """The reader's picks are recomputed within seconds, in the worker. A checkout never fails for it: with Redis
    down the picks wait for the nightly training."""
    try:
        await queue.enqueue_recommendation_refresh(event.reader_id, event.loan_id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("picks of reader %d not refreshed: Redis unreachable (%s)", event.reader_id, type(exc).__name__)
