"""Orders of books the network holds, delivered to a service point or the reader's door (悦借): placing one, with a
copy of each title reserved for it; closing one that is cancelled or comes back; and what the reader sees of theirs.

What must hold under concurrency is the database's: an order is placed under the reader's card lock (the lock a
checkout and a hold take), so simultaneous orders cannot pass the reader's limits together; a copy is reserved by a
conditional update from `available` to `in_delivery` of a row taken FOR UPDATE SKIP LOCKED, so a checkout or another
order of the same copy finds it taken, and the copy is in one active line at most (a partial unique index). An order
and its fee's charge are locked charge first, as a payment settling the fee takes them, so the two never deadlock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from tortoise import connections
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader
from backend.accounts.services import lock_card
from backend.catalog.errors import RecordNotFound
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.circulation import holds, rules
from backend.circulation.credit import CreditCheck
from backend.circulation.holds import HoldPolicy
from backend.circulation.models import ACTIVE_HOLD, Hold, HoldStatus, Loan
from backend.circulation.standing import Standing, standing
from backend.circulation.validators import CheckoutAttempt, barred, credit_too_low, overdue_items, suspended
from backend.clock import NetworkTime
from backend.crypto import Keys
from backend.delivery import basket, fees
from backend.delivery.errors import (
    DeliveryLimitReached,
    DeliveryNotAllowed,
    DeliveryOrderNotFound,
    NothingToOrder,
    OrderNotCancellable,
    OrderRefused,
    TitleAlreadyOnLoan,
    TitleInOrder,
    TitleOnHold,
    TitleUnavailable,
    TooManyBooks,
)
from backend.delivery.models import (
    ACTIVE_LINE,
    OPEN_ORDER,
    DeliveryLine,
    DeliveryOrder,
    LineState,
    OrderState,
)
from backend.delivery.policy import DeliveryPolicy
from backend.errors import DomainError
from backend.eventbus import EventBus
from backend.money.domain_events import ChargePaid
from backend.money.models import Charge, ChargeKind
from backend.network.models import Library
from backend.network.services import get_library
from backend.shipping.addresses import Address, MaskedAddress, masked
from backend.shipping.models import Destination, Shipment, ShipmentState, Step
from backend.shipping.services import cancel_shipment, open_shipment, steps

CANCELLABLE = (OrderState.AWAITING_PAYMENT, OrderState.PICKING, OrderState.PACKED)
"""Until the parcel is handed to the courier."""
EXPIRED_REASON = "未在规定时间内支付运费 / the delivery fee was not paid in time"
CANCELLED_REASON = "读者取消 / cancelled by the reader"
MISSING_REASON = "部分图书未找到 / a book could not be found"
# Orders one run of the expiry job closes; the next run takes the rest.
BATCH = 200


async def packing_library(policy: DeliveryPolicy) -> Library:
    """Where orders are packed: the library the settings name, else the network's root library."""
    if policy.packing_library:
        return await get_library(policy.packing_library)
    root = await Library.get_or_none(parent_id=None, active=True)
    assert root is not None, "a network has its root library"
    return root


async def place_order(
    reader: Reader,
    *,
    record_ids: Sequence[int] | None,
    destination: Destination,
    pickup_library_code: str | None,
    address: Address | None,
    now: datetime,
    policy: DeliveryPolicy,
    keys: Keys,
    credit_check: CreditCheck,
    network_time: NetworkTime,
    bus: EventBus,
) -> DeliveryOrder:
    """Order the titles (None: those in the basket) for delivery to the service point `pickup_library_code` or to
    `address`. Refused with every reason at once (`OrderRefused`): delivery not allowed to the reader, their standing,
    too many books for one order or on loan and on their way together, a title already on loan to them, held by them
    or in another open order of theirs; then `title_unavailable` naming each title no copy could be reserved for.
    A copy of each title is reserved (one already at the packing library first); a service point order goes to be
    picked at once, a home one waits for its fee (a charge on the reader's card, paid as any other)."""
    wanted = list(dict.fromkeys(record_ids if record_ids is not None else await basket.basket_titles(reader.id)))
    if not wanted:
        raise NothingToOrder()
    records = {record.id: record for record in await Record.filter(id__in=wanted)}
    if len(records) != len(wanted):
        raise RecordNotFound()
    pickup_id = None
    if destination is Destination.SERVICE_POINT:
        pickup_id = (await get_library(pickup_library_code or "")).id
    packing = await packing_library(policy)
    category = rules.category_of(reader, network_time.day(now))
    table = await rules.rule_table()
    ancestry = rules.ancestry(packing)
    deliverable = [kind for kind in ItemType if table.terms(category, kind, ancestry).delivery_allowed]
    async with bus.transaction():
        await lock_card(reader.id)  # counting what the reader has and adding to it is one step
        current = await standing(reader.id, now)
        attempt = CheckoutAttempt(
            reader_id=reader.id,
            copy_status=CopyStatus.AVAILABLE,
            held_for=None,
            standing=current,
            terms=table.terms(category, ItemType.BOOK, ancestry),
            deposit_free=await credit_check.deposit_free(reader, current),
            self_service=False,
            barred=await credit_check.refusal(reader),
        )
        refusals = [
            *([] if deliverable and current.tier.delivery else [DeliveryNotAllowed()]),
            *(refusal for check in (suspended, barred, credit_too_low, overdue_items) if (refusal := check(attempt))),
            *await _limits(reader.id, len(wanted), current, policy),
            *await _titles(reader.id, [records[record_id] for record_id in wanted]),
        ]
        if refusals:
            raise OrderRefused(refusals)
        shipment = await open_shipment(
            keys, reader_id=reader.id, destination=destination, pickup_library_id=pickup_id, address=address, now=now
        )
        fee = fees.delivery_fee(destination, len(wanted), policy)
        order = await DeliveryOrder.create(
            reader_id=reader.id,
            packing_library=packing,
            shipment=shipment,
            state=OrderState.AWAITING_PAYMENT if fee else OrderState.PICKING,
            fee_fen=fee,
            loan_days=policy.loan_days,
            placed_at=now,
        )
        reserved, unavailable = [], []
        for record_id in wanted:
            if (copy := await _reserve(record_id, packing.id, deliverable)) is None:
                unavailable.append(records[record_id].title)
            else:
                copy_id, library_id = copy
                reserved.append(DeliveryLine(order=order, copy_id=copy_id, record_id=record_id, library_id=library_id))
        if unavailable:  # the whole order rolls back: the copies reserved for its other titles are free again
            raise OrderRefused([TitleUnavailable(titles="》《".join(unavailable))])
        await DeliveryLine.bulk_create(reserved)
        if fee:
            order.charge = await fees.charge_fee(f"delivery-order:{order.id}", reader.id, packing.id, fee, now)
            await order.save(update_fields=["charge_id"])
        await basket.clear(reader.id, wanted)
    return order


async def _limits(reader_id: int, books: int, current: Standing, policy: DeliveryPolicy) -> list[DomainError]:
    """At most `max_books_per_order` books an order; on loan, on their way (or waiting on a service point's hold shelf)
    and ordered now within the delivery limit and the reader's tier's loan limit."""
    refusals: list[DomainError] = []
    if books > policy.max_books_per_order:
        refusals.append(TooManyBooks(limit=policy.max_books_per_order, books=books))
    on_their_way = await DeliveryLine.filter(
        Q(order__state__in=OPEN_ORDER, state__in=ACTIVE_LINE)
        | Q(state=LineState.DELIVERED, hold__status=HoldStatus.READY),
        order__reader_id=reader_id,
    ).count()
    held, limit = current.on_loan + on_their_way, min(policy.max_on_loan, current.tier.max_loans)
    if held + books > limit:
        refusals.append(DeliveryLimitReached(held=held, books=books, limit=limit))
    return refusals


async def _titles(reader_id: int, records: list[Record]) -> list[DomainError]:
    """A title the reader has on loan, holds, or has in another open order, is not ordered again."""
    ids = [record.id for record in records]
    loans = Loan.filter(reader_id=reader_id, returned_at__isnull=True, copy__record_id__in=ids)
    holding = Hold.filter(reader_id=reader_id, record_id__in=ids, status__in=ACTIVE_HOLD)
    ordering = DeliveryLine.filter(
        order__reader_id=reader_id, order__state__in=OPEN_ORDER, state__in=ACTIVE_LINE, record_id__in=ids
    )
    on_loan: list[int] = await loans.values_list("copy__record_id", flat=True)  # type: ignore[assignment]
    held: list[int] = await holding.values_list("record_id", flat=True)  # type: ignore[assignment]
    ordered: list[int] = await ordering.values_list("record_id", flat=True)  # type: ignore[assignment]
    refusals: list[DomainError] = []
    for record in records:
        if record.id in on_loan:
            refusals.append(TitleAlreadyOnLoan(title=record.title))
        elif record.id in held:
            refusals.append(TitleOnHold(title=record.title))
        elif record.id in ordered:
            refusals.append(TitleInOrder(title=record.title))
    return refusals


# One copy a title could be ordered from, one at the packing library first; SKIP LOCKED: a copy a desk is lending or
# another order is reserving right now is not this order's to take.
_CANDIDATE = (
    f"SELECT c.id, c.current_library_id {basket.ORDERABLE} AND c.record_id = $1 AND c.item_type = ANY($2::varchar[])"
    " ORDER BY c.current_library_id = $3 DESC, c.id LIMIT 1 FOR UPDATE OF c SKIP LOCKED"
)


async def _reserve(record_id: int, packing_id: int, item_types: list[ItemType]) -> tuple[int, int] | None:
    """A copy of the title reserved for the order (available -> in_delivery): its id and library, or None."""
    conn = connections.get("default")
    kinds = [kind.value for kind in item_types]
    while rows := await conn.execute_query_dict(_CANDIDATE, [record_id, kinds, packing_id]):
        copy_id, library_id = int(rows[0]["id"]), int(rows[0]["current_library_id"])
        if await Copy.filter(id=copy_id, status=CopyStatus.AVAILABLE).update(status=CopyStatus.IN_DELIVERY):
            return copy_id, library_id
    return None


# --- closing an order ----------------------------------------------------------------------------------------------


@asynccontextmanager
async def locked_order(order_id: int, reader_id: int | None = None) -> AsyncIterator[DeliveryOrder]:
    """The order, its row locked for the block (in the caller's transaction of the event bus), its fee's charge
    locked before it, as a payment settling the fee locks them: the two never wait for each other. `reader_id`: only
    that reader's order; another's, or none, is `delivery_order_not_found`."""
    async with in_transaction():
        yield await _lock_order(order_id, reader_id)


async def _lock_order(order_id: int, reader_id: int | None) -> DeliveryOrder:
    mine = DeliveryOrder.filter(id=order_id)
    if reader_id is not None:
        mine = mine.filter(reader_id=reader_id)
    charge_id = await mine.first().values_list("charge_id", flat=True)  # set when placed, never changed
    if charge_id is not None:
        await Charge.select_for_update().get(id=charge_id)
    order = await mine.select_for_update().first()
    if order is None:
        raise DeliveryOrderNotFound()
    return order


async def close_order(
    order: DeliveryOrder, *, state: OrderState, reason: str, now: datetime, hold_policy: HoldPolicy
) -> None:
    """The order ends without (more) books reaching the reader: cancelled, or its parcel back at the packing library
    (the caller holds its lock, `locked_order`, in a transaction of the event bus). Every copy still in it goes back
    into circulation where it is (the next hold, the shelf, or on its way home), its parcel is called off if not sent,
    and its fee is withdrawn: waived if unpaid, refunded if paid by WeChat Pay."""
    assert state in (OrderState.CANCELLED, OrderState.RETURNED), "an order closes cancelled or returned"
    lines = await DeliveryLine.filter(order_id=order.id, state__in=ACTIVE_LINE).order_by("copy_id")
    for line in lines:
        await _release(line, now, hold_policy)
    shipment = await Shipment.get(id=order.shipment_id)
    if shipment.state is ShipmentState.PREPARING:
        await cancel_shipment(shipment.id, now)
    await fees.withdraw_fee(order.charge_id, reason, now)
    order.state, order.closed_at, order.cancel_reason = state, now, reason[:200]
    await order.save(update_fields=["state", "closed_at", "cancel_reason"])


async def _release(line: DeliveryLine, now: datetime, hold_policy: HoldPolicy) -> None:
    await DeliveryLine.filter(id=line.id).update(state=LineState.RELEASED)
    copy = await Copy.select_for_update(of=("copy",)).get(id=line.copy_id)
    if copy.status is not CopyStatus.IN_DELIVERY:
        return
    if line.state is LineState.PICKED and copy.in_transit_to_id is not None:
        # Pulled and on its way to the packing library: it travels on, and is settled where it is received.
        await Copy.filter(id=copy.id).update(status=CopyStatus.IN_TRANSIT)
        return
    await holds.settle(copy, await Library.get(id=copy.current_library_id), now, hold_policy)


async def cancel_by_reader(
    reader: Reader, order_id: int, *, now: datetime, hold_policy: HoldPolicy, bus: EventBus
) -> DeliveryOrder:
    """The reader calls their order off before the parcel leaves: its copies are released and its fee waived or
    refunded, once (a second cancel is `order_not_cancellable`)."""
    async with bus.transaction(), locked_order(order_id, reader.id) as order:
        if order.state not in CANCELLABLE:
            raise OrderNotCancellable(state=order.state.value)
        await close_order(order, state=OrderState.CANCELLED, reason=CANCELLED_REASON, now=now, hold_policy=hold_policy)
    return order


async def drop_line(
    order: DeliveryOrder, line: DeliveryLine, *, now: datetime, policy: DeliveryPolicy, hold_policy: HoldPolicy
) -> None:
    """A copy of the order was not found when it was to be picked (the caller holds the order's lock, `locked_order`,
    in a transaction of the event bus): the line is missing and the copy lost. The order goes on with the books left,
    its fee refit to them (the difference waived, or refunded if paid); with none left it is cancelled and its fee
    withdrawn."""
    if not await DeliveryLine.filter(id=line.id, state__in=ACTIVE_LINE).update(state=LineState.MISSING):
        return
    await Copy.filter(id=line.copy_id, status=CopyStatus.IN_DELIVERY).update(status=CopyStatus.LOST)
    left = await DeliveryLine.filter(order_id=order.id, state__in=ACTIVE_LINE).count()
    if not left:
        await close_order(order, state=OrderState.CANCELLED, reason=MISSING_REASON, now=now, hold_policy=hold_policy)
        return
    fee = policy.home_fee(left) if order.fee_fen else 0
    if fee < order.fee_fen:
        await fees.refit_fee(order.charge_id, order.fee_fen, fee, MISSING_REASON, now)
        order.fee_fen = fee
        await order.save(update_fields=["fee_fen"])
    await pack_if_gathered(order)  # the missing book was the last one the packing desk waited for


async def pack_if_gathered(order: DeliveryOrder) -> None:
    """An order being picked is packed once no book of it is left to pull or to arrive at the packing library."""
    waiting = DeliveryLine.filter(order_id=order.id, state__in=[LineState.RESERVED, LineState.PICKED])
    if not await waiting.exists():
        await DeliveryOrder.filter(id=order.id, state=OrderState.PICKING).update(state=OrderState.PACKED)


async def expire_unpaid(now: datetime, *, policy: DeliveryPolicy, hold_policy: HoldPolicy, bus: EventBus) -> int:
    """The job (every few minutes): home orders whose fee is still unpaid after the payment window are cancelled,
    their copies released and the fee waived. Returns the orders cancelled; safe to run again, and beside a reader
    cancelling or paying (a payment that arrives after is refunded by the ledger)."""
    unpaid = DeliveryOrder.filter(state=OrderState.AWAITING_PAYMENT, placed_at__lt=now - policy.payment_window)
    oldest = unpaid.order_by("placed_at", "id").limit(BATCH)
    due: list[int] = await oldest.values_list("id", flat=True)  # type: ignore[assignment]
    cancelled = 0
    for order_id in due:
        async with bus.transaction(), locked_order(order_id) as order:
            if order.state is OrderState.AWAITING_PAYMENT:
                await close_order(
                    order, state=OrderState.CANCELLED, reason=EXPIRED_REASON, now=now, hold_policy=hold_policy
                )
                cancelled += 1
    return cancelled


async def order_paid(event: ChargePaid) -> None:
    """A home order's fee is paid: its books are picked now. Once: a repeated event, or one for an order cancelled
    meanwhile (its payment refunded by the ledger), changes nothing."""
    if event.kind is ChargeKind.DELIVERY:
        await DeliveryOrder.filter(charge_id=event.charge_id, state=OrderState.AWAITING_PAYMENT).update(
            state=OrderState.PICKING, paid_at=event.at
        )


# --- the reader's orders -------------------------------------------------------------------------------------------


async def my_orders(reader_id: int, *, limit: int, offset: int) -> tuple[list[DeliveryOrder], int]:
    """The reader's orders, the newest first, with their parcels (and service points)."""
    query = DeliveryOrder.filter(reader_id=reader_id).order_by("-placed_at", "-id")
    return await paging.page(query.select_related("shipment__pickup_library"), limit, offset)


@dataclass(frozen=True, slots=True)
class OrderView:
    """One order as its reader sees it: its books (each with its title, barcode, library and, once lent, its loan),
    its parcel's steps, and the address masked."""

    order: DeliveryOrder  # with its shipment and service point
    lines: list[DeliveryLine]  # with record, copy, library and loan
    address: MaskedAddress | None
    steps: list[Step]


async def my_order(reader_id: int, order_id: int, keys: Keys) -> OrderView:
    """One of the reader's orders (their own card's only); anyone else's is `delivery_order_not_found`."""
    order = (
        await DeliveryOrder.filter(id=order_id, reader_id=reader_id).select_related("shipment__pickup_library").first()
    )
    if order is None:
        raise DeliveryOrderNotFound()
    lines = (
        await DeliveryLine.filter(order_id=order.id).select_related("record", "copy", "library", "loan").order_by("id")
    )
    return OrderView(order, lines, masked(keys, order.shipment), await steps(order.shipment_id))
