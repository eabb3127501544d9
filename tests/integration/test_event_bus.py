"""The domain event bus: handlers run in the transaction of the event's cause, before it commits."""

from dataclasses import dataclass

import pytest

from backend.eventbus import DomainEvent, EventBus, record
from backend.network.models import Library, LibraryLevel
from tests.integration.service import Service


@dataclass(frozen=True, slots=True)
class Opened(DomainEvent):
    code: str


@dataclass(frozen=True, slots=True)
class Announced(DomainEvent):
    code: str


async def _open(bus: EventBus, code: str) -> None:
    async with bus.transaction():
        await Library.create(
            code=code, name=code, level=LibraryLevel.BRANCH, path=f"/{code}/", latitude=30.9, longitude=117.8
        )
        record(Opened(code))


async def test_handlers_write_in_the_transaction_and_events_they_record_are_handled_in_turn(service: Service) -> None:
    bus, seen = EventBus(), []

    async def announce(event: Opened) -> None:
        seen.append(("opened", await Library.exists(code=event.code)))  # the cause is visible: same transaction
        record(Announced(event.code))

    async def note(event: Announced) -> None:
        seen.append(("announced", event.code))

    bus.subscribe(Opened, announce)
    bus.subscribe(Announced, note)
    await _open(bus, "EB1")

    assert seen == [("opened", True), ("announced", "EB1")]


async def test_a_failing_handler_rolls_its_cause_back(service: Service) -> None:
    bus = EventBus()

    async def refuse(event: Opened) -> None:
        raise RuntimeError("the notice could not be written")

    bus.subscribe(Opened, refuse)
    with pytest.raises(RuntimeError):
        await _open(bus, "EB2")

    assert not await Library.exists(code="EB2")


async def test_an_event_recorded_outside_a_bus_transaction_is_a_programming_error(service: Service) -> None:
    with pytest.raises(RuntimeError, match="outside a transaction"):
        record(Opened("EB3"))
