"""Borrowing online for delivery (悦借), for readers: the basket, orders to a service point or the door, and courier
pickups of books going back; staff's side in `staff.py`. Orders are on the reader's own card only."""

from __future__ import annotations

from litestar import Controller, delete, get, post

from backend.accounts.models import Reader
from backend.catalog.errors import RecordNotFound
from backend.circulation.errors import CreditTooLow, OverdueItemsBlock, PickupNotOffered, ReaderSuspended
from backend.delivery import basket, orders, pickups
from backend.delivery.errors import (
    BasketFull,
    DeliveryLimitReached,
    DeliveryNotAllowed,
    DeliveryOrderNotFound,
    NothingToOrder,
    NotOrderable,
    OrderNotCancellable,
    PickupBooksOutOfRange,
    PickupNotCancellable,
    PickupNotFound,
    ReturnsNotAccepted,
    TitleAlreadyOnLoan,
    TitleInOrder,
    TitleOnHold,
    TitleUnavailable,
    TooManyBooks,
)
from backend.money.errors import FeesOwed
from backend.network.errors import LibraryNotFound
from backend.shipping.errors import AddressInvalid, AddressRequired
from entrypoints.bootstrap import Dependencies
from miniprogram_api.delivery.schemas import (
    BasketIn,
    BasketItemOut,
    BasketPage,
    OrderIn,
    OrderOut,
    OrderPage,
    PickupIn,
    PickupOut,
    PickupPage,
)
from miniprogram_api.delivery.staff import STAFF_CONTROLLERS
from miniprogram_api.deps import BEARER, READER_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.schemas import BigRowId, Offset, Page, ReaderLimit, RowId

# Every reason an order is refused, each with its own code. Several at once come as one 409 whose `code` is the first
# and whose `reasons` list them all.
_REFUSALS = (
    DeliveryNotAllowed,
    ReaderSuspended,
    FeesOwed,
    CreditTooLow,
    OverdueItemsBlock,
    TooManyBooks,
    DeliveryLimitReached,
    TitleAlreadyOnLoan,
    TitleOnHold,
    TitleInOrder,
    TitleUnavailable,
)
_ADDRESS = (AddressRequired, AddressInvalid)


class DeliveryBasketController(Controller):
    path = "/readers/me/delivery/basket"
    tags = ["Delivery"]
    security = BEARER

    @get("/", responses=problems(*READER_PROBLEMS))
    async def my_basket(self, reader: Reader, limit: ReaderLimit = 50, offset: Offset = 0) -> BasketPage:
        """The titles in my basket: the last added first, each with how many copies an order could take now."""
        found, total = await basket.basket(reader.id, limit=limit, offset=offset)
        return Page.of([BasketItemOut.of(line) for line in found], total, limit, offset)

    @post("/", responses=problems(*READER_PROBLEMS, RecordNotFound, NotOrderable, BasketFull))
    async def add(self, deps: Dependencies, reader: Reader, data: BasketIn) -> BasketItemOut:
        """Put a title in my basket (again: nothing changes), while a copy of it could be ordered; 50 titles at most."""
        return BasketItemOut.of(await basket.add_to_basket(reader, data.record_id, deps.clock.now()))

    @delete("/{record_id:int}", status_code=204, responses=problems(*READER_PROBLEMS))
    async def remove(self, reader: Reader, record_id: RowId) -> None:
        """Take a title out of my basket."""
        await basket.remove_from_basket(reader, record_id)


class DeliveryOrderController(Controller):
    path = "/readers/me/delivery/orders"
    tags = ["Delivery"]
    security = BEARER

    @post(
        "/",
        responses=problems(
            *READER_PROBLEMS, *_REFUSALS, *_ADDRESS, NothingToOrder, RecordNotFound, LibraryNotFound, PickupNotOffered
        ),
    )
    async def place(self, deps: Dependencies, reader: Reader, data: OrderIn) -> OrderOut:
        """Order the chosen titles (none given: my basket's) delivered to a service point, free, or to my door, for a
        fee the server works out: pay it with `POST /readers/me/payments` and the order's `charge_id` before it is
        packed (unpaid, it is cancelled after the payment window). A copy of each title is reserved for me at once.
        Refused with every reason at once."""
        order = await orders.place_order(
            reader,
            record_ids=data.record_ids,
            destination=data.destination,
            pickup_library_code=data.pickup_library_code,
            address=None if data.address is None else data.address.parsed(),
            now=deps.clock.now(),
            policy=deps.delivery_policy,
            keys=deps.keys,
            credit_check=deps.credit_check,
            network_time=deps.network_time,
            bus=deps.bus,
        )
        return OrderOut.seen(await orders.my_order(reader.id, order.id, deps.keys))

    @get("/", responses=problems(*READER_PROBLEMS))
    async def my_orders(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> OrderPage:
        """My orders, the newest first."""
        found, total = await orders.my_orders(reader.id, limit=limit, offset=offset)
        return Page.of([OrderOut.of(order) for order in found], total, limit, offset)

    @get("/{order_id:int}", responses=problems(*READER_PROBLEMS, DeliveryOrderNotFound))
    async def my_order(self, deps: Dependencies, reader: Reader, order_id: BigRowId) -> OrderOut:
        """One of my orders: its books (with their due dates once lent), its fee and whether it is paid, the address
        masked, and each step of its parcel."""
        return OrderOut.seen(await orders.my_order(reader.id, order_id, deps.keys))

    @post(
        "/{order_id:int}/cancel",
        status_code=200,
        responses=problems(*READER_PROBLEMS, DeliveryOrderNotFound, OrderNotCancellable),
    )
    async def cancel(self, deps: Dependencies, reader: Reader, order_id: BigRowId) -> OrderOut:
        """Call my order off until its parcel is handed to the courier: the books are released and the fee waived,
        or refunded by WeChat Pay if paid (a fee paid at a desk is given back at a desk)."""
        await orders.cancel_by_reader(
            reader, order_id, now=deps.clock.now(), hold_policy=deps.hold_policy, bus=deps.bus
        )
        return OrderOut.seen(await orders.my_order(reader.id, order_id, deps.keys))


class ReturnPickupController(Controller):
    path = "/readers/me/delivery/pickups"
    tags = ["Delivery"]
    security = BEARER

    @post(
        "/",
        responses=problems(*READER_PROBLEMS, *_ADDRESS, PickupBooksOutOfRange, LibraryNotFound, ReturnsNotAccepted),
    )
    async def book(self, deps: Dependencies, reader: Reader, data: PickupIn) -> PickupOut:
        """Book a courier to take books from my door to a library: for a fee paid with `POST /readers/me/payments`
        and its `charge_id`. The library checks them in as any return."""
        pickup = await pickups.book_pickup(
            reader,
            books=data.books,
            library_code=data.library_code,
            address=data.address.parsed(),
            now=deps.clock.now(),
            policy=deps.delivery_policy,
            keys=deps.keys,
        )
        return PickupOut.of(pickup)

    @get("/", responses=problems(*READER_PROBLEMS))
    async def my_pickups(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> PickupPage:
        """My courier pickups, the newest first."""
        found, total = await pickups.my_pickups(reader.id, limit=limit, offset=offset)
        return Page.of([PickupOut.of(pickup) for pickup in found], total, limit, offset)

    @post(
        "/{pickup_id:int}/cancel",
        status_code=200,
        responses=problems(*READER_PROBLEMS, PickupNotFound, PickupNotCancellable),
    )
    async def cancel(self, deps: Dependencies, reader: Reader, pickup_id: BigRowId) -> PickupOut:
        """Call a pickup off before the courier has the books: its fee is waived, or refunded if paid."""
        return PickupOut.of(await pickups.cancel_pickup(reader, pickup_id, deps.clock.now()))


CONTROLLERS: list[type[Controller]] = [
    DeliveryBasketController,
    DeliveryOrderController,
    ReturnPickupController,
    *STAFF_CONTROLLERS,
]
