"""Title-level holds (预约) with pickup at any library: the queue, and where a copy goes when it is free.

A copy that becomes free (returned, pulled from a shelf for the pull list, arrived from elsewhere, or released
from the hold shelf) is offered to the queue of its title by `settle`: the first waiting hold takes it, and it goes
on the hold shelf if it is already at the pickup library, else in transit there. Two copies freed at once fill two
holds, never one twice: the hold row is taken with FOR UPDATE SKIP LOCKED, its change is conditional, and an
assigned copy serves one active hold at most (a partial unique index).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader
from backend.accounts.services import lock_card
from backend.catalog.errors import RecordNotFound
from backend.catalog.models import Copy, CopyStatus, Record
from backend.circulation import rules
from backend.circulation.credit import LOCAL, CreditCheck
from backend.circulation.domain_events import HoldReady
from backend.circulation.errors import (
    CopyNotAvailable,
    CreditTooLow,
    HoldAlreadyPlaced,
    HoldLimitReached,
    HoldNotChangeable,
    HoldNotFound,
    PickupNotOffered,
    RecordNotHoldable,
    TitleAlreadyOnLoan,
)
from backend.circulation.models import ACTIVE_HOLD, Hold, HoldStatus, Loan, ReaderCategory
from backend.circulation.standing import standing, suspension_refusal
from backend.clock import NetworkTime
from backend.eventbus import record
from backend.network.models import Library
from backend.network.services import get_library


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    shelf_days: int = 7
    prefer_local: bool = False


@dataclass(frozen=True, slots=True)
class QueuePlace:
    position: int  # 1 for the next reader to be served
    waiting: int
    estimated_days: int | None  # None once a copy is assigned


async def place_hold(
    reader: Reader,
    record_id: int,
    pickup_code: str,
    now: datetime,
    network_time: NetworkTime,
    credit_check: CreditCheck = LOCAL,
) -> Hold:
    if not await Record.exists(id=record_id):
        raise RecordNotFound()
    pickup = await get_library(pickup_code)
    if not (pickup.holds_pickup and pickup.active):
        raise PickupNotOffered(library=pickup.name)
    category = rules.category_of(reader, network_time.day(now))
    if not await _holdable(record_id, category):
        raise RecordNotHoldable()
    async with in_transaction():
        await lock_card(reader.id)  # counting holds and adding one is one step
        current = await standing(reader.id, now)
        if (refusal := suspension_refusal(current) or await credit_check.refusal(reader)) is not None:
            raise refusal
        if not await credit_check.deposit_free(reader, current):
            raise CreditTooLow(score=current.score)
        active = await Hold.filter(reader_id=reader.id, status__in=ACTIVE_HOLD).count()
        if active >= current.tier.max_holds:
            raise HoldLimitReached(active=active, limit=current.tier.max_holds)
        if await Hold.exists(reader_id=reader.id, record_id=record_id, status__in=ACTIVE_HOLD):
            raise HoldAlreadyPlaced()
        if await Loan.exists(reader_id=reader.id, copy__record_id=record_id, returned_at__isnull=True):
            raise TitleAlreadyOnLoan()
        return await Hold.create(reader_id=reader.id, record_id=record_id, pickup_library=pickup, placed_at=now)


async def _holdable(record_id: int, category: ReaderCategory) -> bool:
    """Some copy of the title, not withdrawn or lost, may be held under the loan rules where it is."""
    table = await rules.rule_table()
    copies = await _in_collection(record_id).select_related("current_library")
    return any(table.terms(category, c.item_type, rules.ancestry(c.current_library)).holds_allowed for c in copies)


def _in_collection(record_id: int) -> QuerySet[Copy]:
    """The title's copies that can still serve a hold: all but the withdrawn and the lost."""
    return Copy.filter(record_id=record_id).exclude(status__in=[CopyStatus.WITHDRAWN, CopyStatus.LOST])


async def settle(copy: Copy, here: Library, now: datetime, policy: HoldPolicy) -> Hold | None:
    """The copy is free at `here` (the caller holds its row lock): it fills the first hold it can, else it is
    shelved here (home, or floating) or sent home. Returns the hold it now serves. A copy not yet processed fills
    no hold: it goes to its home library's processing queue."""
    copy.current_library = here
    if copy.unprocessed:
        at_home = copy.home_library_id == here.id
        copy.status = CopyStatus.IN_PROCESSING if at_home else CopyStatus.IN_TRANSIT
        copy.in_transit_to = None if at_home else await Library.get(id=copy.home_library_id)
        await copy.save(update_fields=["status", "current_library_id", "in_transit_to_id", "updated_at"])
        return None
    hold = await _first_waiting(copy, here, now, policy)
    if hold is None:
        stays = copy.floating or copy.home_library_id == here.id
        copy.status = CopyStatus.AVAILABLE if stays else CopyStatus.IN_TRANSIT
        copy.in_transit_to = None if stays else await Library.get(id=copy.home_library_id)
    elif hold.pickup_library_id == here.id:
        copy.status, copy.in_transit_to = CopyStatus.ON_HOLD_SHELF, None
    else:
        copy.status, copy.in_transit_to = CopyStatus.IN_TRANSIT, await Library.get(id=hold.pickup_library_id)
    await copy.save(update_fields=["status", "current_library_id", "in_transit_to_id", "updated_at"])
    return hold


async def _first_waiting(copy: Copy, here: Library, now: datetime, policy: HoldPolicy) -> Hold | None:
    today = now.astimezone(ZoneInfo(here.timezone)).date()
    queue = (
        Hold.filter(record_id=copy.record_id, status=HoldStatus.WAITING)
        .filter(Q(suspended_until__isnull=True) | Q(suspended_until__lte=today))
        .order_by("placed_at", "id")
    )
    # One hold at a time, SKIP LOCKED: a hold that another copy's return is filling right now is not this copy's
    # to fill (FOR UPDATE over several rows would lock them all, and leave the other return none).
    orders = [queue.filter(pickup_library_id=here.id), queue] if policy.prefer_local else [queue]
    for candidates in orders:
        while (hold := await candidates.select_for_update(skip_locked=True).first()) is not None:
            if await _assign(hold, copy, here, now, policy):
                return hold
    return None


async def _assign(hold: Hold, copy: Copy, here: Library, now: datetime, policy: HoldPolicy) -> bool:
    if hold.pickup_library_id == here.id:
        changes = {"status": HoldStatus.READY, "ready_at": now, "expires_at": _shelf_expiry(here, now, policy)}
    else:
        changes = {"status": HoldStatus.IN_TRANSIT}
    if not await Hold.filter(id=hold.id, status=HoldStatus.WAITING).update(copy_id=copy.id, **changes):
        return False
    await hold.refresh_from_db()
    if hold.status is HoldStatus.READY:
        await _record_ready(hold, copy, here, now)
    return True


async def _record_ready(hold: Hold, copy: Copy, pickup: Library, now: datetime) -> None:
    title = await Record.get(id=copy.record_id).values_list("title", flat=True)
    assert hold.expires_at is not None
    record(HoldReady(hold.id, hold.reader_id, str(title), pickup.name, hold.expires_at, now))


def _shelf_expiry(pickup: Library, now: datetime, policy: HoldPolicy) -> datetime:
    local_today = now.astimezone(ZoneInfo(pickup.timezone)).date()
    return rules.end_of_day(local_today + timedelta(days=policy.shelf_days), pickup.timezone)


async def arrived(copy: Copy, here: Library, now: datetime, policy: HoldPolicy) -> Hold | None:
    """A copy in transit is received at `here` (row locked by the caller): on the hold shelf if its hold is
    picked up here, sent on if the reader changed the pickup library meanwhile, else settled here."""
    hold = await Hold.get_or_none(copy_id=copy.id, status=HoldStatus.IN_TRANSIT)
    if hold is None:
        return await settle(copy, here, now, policy)
    copy.current_library = here
    if hold.pickup_library_id == here.id:
        await Hold.filter(id=hold.id).update(
            status=HoldStatus.READY, ready_at=now, expires_at=_shelf_expiry(here, now, policy)
        )
        copy.status, copy.in_transit_to = CopyStatus.ON_HOLD_SHELF, None
    else:
        copy.in_transit_to = await Library.get(id=hold.pickup_library_id)
    await copy.save(update_fields=["status", "current_library_id", "in_transit_to_id", "updated_at"])
    await hold.refresh_from_db()
    if hold.status is HoldStatus.READY:
        await _record_ready(hold, copy, here, now)
    return hold


async def shelve_for(
    reader_id: int, copy: Copy, pickup: Library, *, period_days: int, now: datetime, policy: HoldPolicy
) -> Hold:
    """A copy delivered to a service point for a reader (still `in_delivery`, row locked by the caller) waits on
    the hold shelf there as their ready hold: checkout lends it to them alone, for `period_days`, and it expires and
    is cleared like any hold. No `HoldReady`: the parcel's own notice tells the reader. A hold the reader already
    has on the title is the one this copy serves (one active hold per reader and title); a copy it was assigned
    before is left to be cleared or settled, as for a cancelled hold."""
    if not await Copy.filter(id=copy.id, status=CopyStatus.IN_DELIVERY).update(
        status=CopyStatus.ON_HOLD_SHELF, current_library_id=pickup.id, in_transit_to_id=None
    ):
        raise CopyNotAvailable(status=copy.status.value)
    copy.status, copy.current_library, copy.in_transit_to = CopyStatus.ON_HOLD_SHELF, pickup, None
    ready: dict[str, Any] = {
        "status": HoldStatus.READY,
        "pickup_library_id": pickup.id,
        "copy_id": copy.id,
        "ready_at": now,
        "expires_at": _shelf_expiry(pickup, now, policy),
        "period_days": period_days,
    }
    mine = Hold.filter(reader_id=reader_id, record_id=copy.record_id, status__in=ACTIVE_HOLD)
    hold = await mine.select_for_update().first()
    if hold is None:
        return await Hold.create(reader_id=reader_id, record_id=copy.record_id, placed_at=now, **ready)
    await Hold.filter(id=hold.id).update(suspended_until=None, **ready)
    await hold.refresh_from_db()
    return hold


async def held_for(copy: Copy) -> Hold | None:
    """The active hold a copy is assigned to, if any."""
    return await Hold.get_or_none(copy_id=copy.id, status__in=[HoldStatus.IN_TRANSIT, HoldStatus.READY])


async def fulfil(hold: Hold, now: datetime) -> None:
    await Hold.filter(id=hold.id).update(status=HoldStatus.FULFILLED, closed_at=now)


async def someone_waiting(record_id: int, today: date) -> bool:
    """Whether a reader is in the queue for the title now (a suspended hold does not stop a renewal)."""
    return await Hold.filter(
        Q(suspended_until__isnull=True) | Q(suspended_until__lte=today), record_id=record_id, status=HoldStatus.WAITING
    ).exists()


# --- the reader's holds ------------------------------------------------------------------------------------------


async def my_holds(reader_id: int, *, limit: int, offset: int) -> tuple[list[tuple[Hold, QueuePlace]], int]:
    """The reader's active holds, the first placed first, each with its place in its title's queue."""
    active = Hold.filter(reader_id=reader_id, status__in=ACTIVE_HOLD).order_by("placed_at", "id")
    holds, total = await paging.page(active.select_related("record", "pickup_library"), limit, offset)
    return [(hold, await queue_place(hold)) for hold in holds], total


async def my_hold(reader_id: int, hold_id: int) -> tuple[Hold, QueuePlace]:
    """One of the reader's active holds with its place in the queue."""
    hold = await Hold.filter(id=hold_id, reader_id=reader_id, status__in=ACTIVE_HOLD).first()
    if hold is None:  # not theirs, or no longer active
        raise HoldNotFound()
    await hold.fetch_related("record", "pickup_library")
    return hold, await queue_place(hold)


async def queue_place(hold: Hold) -> QueuePlace:
    """Position x of y in the title's queue, and a rough wait: one loan period per round of the title's copies."""
    if hold.status is not HoldStatus.WAITING:
        return QueuePlace(position=0, waiting=0, estimated_days=None)
    waiting = Hold.filter(record_id=hold.record_id, status=HoldStatus.WAITING)
    ahead = await waiting.filter(Q(placed_at__lt=hold.placed_at) | Q(placed_at=hold.placed_at, id__lt=hold.id)).count()
    copies = await _in_collection(hold.record_id).count()
    loan_days = (await rules.rule_table()).network_terms().loan_days
    rounds = math.ceil((ahead + 1) / max(copies, 1))
    return QueuePlace(position=ahead + 1, waiting=await waiting.count(), estimated_days=rounds * loan_days)


async def _own_hold(reader: Reader, hold_id: int) -> Hold:
    hold = await Hold.select_for_update().get_or_none(id=hold_id, reader_id=reader.id, status__in=ACTIVE_HOLD)
    if hold is None:
        raise HoldNotFound()
    return hold


async def cancel(reader: Reader, hold_id: int, now: datetime) -> None:
    """A cancelled hold's copy, if it had one, is cleared by staff from the hold shelf or settled on arrival."""
    async with in_transaction():
        hold = await _own_hold(reader, hold_id)
        await Hold.filter(id=hold.id).update(status=HoldStatus.CANCELLED, closed_at=now)


async def suspend(reader: Reader, hold_id: int, until: date | None) -> Hold:
    """Away until a date (keeping the place in the queue), or back (None)."""
    async with in_transaction():
        hold = await _own_hold(reader, hold_id)
        if hold.status is not HoldStatus.WAITING:
            raise HoldNotChangeable(status=hold.status.value)
        hold.suspended_until = until
        await hold.save(update_fields=["suspended_until"])
    return hold


async def change_pickup(reader: Reader, hold_id: int, pickup_code: str) -> Hold:
    """Until the copy is on the hold shelf; a copy on its way is sent on when it arrives."""
    pickup = await get_library(pickup_code)
    if not (pickup.holds_pickup and pickup.active):
        raise PickupNotOffered(library=pickup.name)
    async with in_transaction():
        hold = await _own_hold(reader, hold_id)
        if hold.status is HoldStatus.READY:
            raise HoldNotChangeable(status=hold.status.value)
        hold.pickup_library = pickup
        await hold.save(update_fields=["pickup_library_id"])
        if hold.copy_id is not None:  # in transit: redirect it
            await Copy.filter(id=hold.copy_id, status=CopyStatus.IN_TRANSIT).update(in_transit_to_id=pickup.id)
    return hold


# --- jobs and staff lists ------------------------------------------------------------------------------------------


async def expire_uncollected(now: datetime) -> int:
    """Holds left on the shelf past their last day expire; staff clear the copy, which passes to the next."""
    return await Hold.filter(status=HoldStatus.READY, expires_at__lt=now).update(
        status=HoldStatus.EXPIRED, closed_at=now
    )


async def pull_list(library: Library, *, limit: int, offset: int) -> tuple[list[Copy], int]:
    """Copies on this library's shelves that waiting holds are asking for: fetch them and check them in."""
    wanted = Hold.filter(status=HoldStatus.WAITING).values("record_id")
    found = Copy.filter(current_library_id=library.id, status=CopyStatus.AVAILABLE, record_id__in=Subquery(wanted))
    # In shelf order, to walk the shelves once; barcodes are unique, so pages cut the same way every time.
    return await paging.page(found.select_related("record").order_by("shelf_location", "barcode"), limit, offset)


async def hold_shelf(library: Library, *, limit: int, offset: int) -> tuple[list[Hold], int]:
    """Holds ready for collection here, the soonest to expire first (a ready hold has its copy and its expiry)."""
    ready = Hold.filter(
        pickup_library_id=library.id, status=HoldStatus.READY, copy_id__not_isnull=True, expires_at__not_isnull=True
    )
    ready = ready.select_related("record", "reader", "copy").order_by("expires_at", "id")
    return await paging.page(ready, limit, offset)


async def to_clear(library: Library, *, limit: int, offset: int) -> tuple[list[Copy], int]:
    """Copies on this library's hold shelf no hold is waiting for any more (expired, cancelled): check them in."""
    serving = Hold.filter(status=HoldStatus.READY, copy_id__not_isnull=True).values("copy_id")
    left = Copy.filter(current_library_id=library.id, status=CopyStatus.ON_HOLD_SHELF).exclude(id__in=Subquery(serving))
    return await paging.page(left.select_related("record").order_by("barcode"), limit, offset)


async def in_transit(library: Library, *, incoming: bool, limit: int, offset: int) -> tuple[list[Copy], int]:
    where = {"in_transit_to_id": library.id} if incoming else {"current_library_id": library.id}
    travelling = Copy.filter(status=CopyStatus.IN_TRANSIT, **where).order_by("updated_at", "id")
    return await paging.page(travelling.select_related("record", "current_library", "in_transit_to"), limit, offset)
