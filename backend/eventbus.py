"""Domain events: what an area records inside its transaction, handled by other areas before that transaction commits.

An area records what happened (`record(HoldReady(...))`) without knowing who cares; the composition root subscribes
the handlers of the areas that react (notifications, the search rows, later recommendations). The handlers run in
the same transaction, after the work and before the commit, so what they write (a notice and its pending pushes, a
search row) commits or rolls back with its cause: the Notice and Delivery rows stay an outbox. Events a handler
records are handled in turn, in the order recorded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from tortoise.transactions import in_transaction


class DomainEvent:
    """Base of the domain events: frozen dataclasses named for what happened, carrying ids and plain facts."""

    __slots__ = ()


E = TypeVar("E", bound=DomainEvent)
Handler = Callable[[Any], Awaitable[None]]

# The events recorded in the innermost open transaction of the bus. A context variable, so that a rule deep in a
# service records an event without every function between it and the transaction passing a list along.
_recorded: ContextVar[list[DomainEvent] | None] = ContextVar("recorded_domain_events", default=None)


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type[DomainEvent], list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[kind].append(handler)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A database transaction whose recorded events are handled inside it, just before it commits. An
        exception anywhere, a handler's included, rolls back the work and everything the handlers wrote."""
        events: list[DomainEvent] = []
        token = _recorded.set(events)
        try:
            async with in_transaction():
                yield
                while events:
                    event = events.pop(0)
                    for handler in self._handlers.get(type(event), ()):
                        await handler(event)
        finally:
            _recorded.reset(token)


def record(event: DomainEvent) -> None:
    """Record that something happened, in the bus transaction open around this call."""
    events = _recorded.get()
    if events is None:
        raise RuntimeError(f"{type(event).__name__} recorded outside a transaction of the event bus")
    events.append(event)
