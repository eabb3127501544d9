"""What staff see of delivery at their libraries: the open orders, late ones first, and the figures of a period.

An order is a library's when the library packs it, supplies one of its books, or is the service point it goes to.
Its figures are counted at one library only: where it goes (the service point), or, to the door, where it is packed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise import connections
from tortoise.expressions import Case, Q, Subquery, When
from tortoise.functions import Count

from backend import paging
from backend.accounts.models import StaffUser
from backend.clock import NetworkTime
from backend.delivery.errors import DeliveryFiguresPeriodInvalid
from backend.delivery.models import ACTIVE_LINE, OPEN_ORDER, DeliveryLine, DeliveryOrder, LineState, OrderState
from backend.delivery.policy import DeliveryPolicy
from backend.network.services import library_in_scope
from backend.shipping.models import Shipment, ShipmentState

MAX_DAYS = 366
"""The longest period of figures asked for at once: a year."""

_UNSHIPPED = (OrderState.PICKING, OrderState.PACKED)
_ON_THE_WAY = (ShipmentState.SHIPPED, ShipmentState.IN_TRANSIT, ShipmentState.OUT_FOR_DELIVERY)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    order: DeliveryOrder  # with its shipment (and its service point) and packing library
    books: int  # in the parcel now
    late: bool


async def open_orders(
    staff: StaffUser,
    code: str | None,
    state: OrderState | None,
    *,
    now: datetime,
    policy: DeliveryPolicy,
    limit: int,
    offset: int,
) -> tuple[list[OpenOrder], int]:
    """The open orders of my library (or `code`, one in my scope) and the libraries below it, late ones first, then
    the oldest: late when not shipped `ship_within_days` after it was placed, or shipped that long ago and not
    delivered. `state`: only those in it."""
    library = await library_in_scope(code or staff.library.code, staff.library.path)
    supplying = DeliveryLine.filter(library__path__startswith=library.path).values("order_id")
    mine = DeliveryOrder.filter(
        Q(packing_library__path__startswith=library.path)
        | Q(shipment__pickup_library__path__startswith=library.path)
        | Q(id__in=Subquery(supplying))
    )
    query = mine.filter(state=state) if state is not None else mine.filter(state__in=OPEN_ORDER)
    cutoff = now - timedelta(days=policy.ship_within_days)
    travelling = Shipment.filter(state__in=_ON_THE_WAY, shipped_at__lt=cutoff).values("id")
    late = Q(state__in=_UNSHIPPED, placed_at__lt=cutoff) | Q(
        state=OrderState.SHIPPED, shipment_id__in=Subquery(travelling)
    )
    ranked = query.annotate(late=Case(When(late, then="1"), default="0")).order_by("-late", "placed_at", "id")
    orders, total = await paging.page(
        ranked.select_related("shipment__pickup_library", "packing_library"), limit, offset
    )
    books = await _books(orders)
    return [OpenOrder(o, books.get(o.id, 0), _late(o)) for o in orders], total


def _late(order: DeliveryOrder) -> bool:
    """The flag the list's query put on each order it ranked."""
    flag: object = order.late  # type: ignore[attr-defined]
    return str(flag) == "1"


async def _books(orders: list[DeliveryOrder]) -> dict[int, int]:
    counted = (
        await DeliveryLine.filter(order_id__in=[o.id for o in orders], state__in=[*ACTIVE_LINE, LineState.DELIVERED])
        .annotate(n=Count("id"))
        .group_by("order_id")
        .values("order_id", "n")
    )
    return {row["order_id"]: row["n"] for row in counted}


@dataclass(frozen=True, slots=True)
class Figures:
    library_code: str
    library: str
    placed: int
    shipped: int
    delivered: int
    cancelled: int
    returned: int
    books_delivered: int
    average_days_to_delivery: float | None
    """From the order to the parcel's arrival, over the orders delivered in the period; None when none was."""
    fees_fen: int
    """The fees of the orders paid in the period, as they stand (less what a book dropped out of them gave back), of
    the orders not cancelled or returned since."""


# Each figure counts what happened within the period, by its own moment: an order placed in it, one shipped in it
# (the parcel's hand-over), delivered, cancelled or returned (closed) in it, a fee paid in it.
_FIGURES = """
WITH o AS (
    SELECT d.id, d.state, d.placed_at, d.paid_at, d.delivered_at, d.closed_at, d.fee_fen, s.shipped_at,
           CASE WHEN s.destination = 'service_point' THEN s.pickup_library_id ELSE d.packing_library_id END
               AS library_id,
           (SELECT count(*) FROM delivery_line x WHERE x.order_id = d.id AND x.state = 'delivered') AS books
    FROM delivery_order d JOIN shipping_shipment s ON s.id = d.shipment_id
    WHERE d.placed_at < $3 AND (d.closed_at IS NULL OR d.closed_at >= $2 OR d.delivered_at >= $2)
)
SELECT l.code, l.name,
    count(*) FILTER (WHERE o.placed_at >= $2) AS placed,
    count(*) FILTER (WHERE o.shipped_at >= $2 AND o.shipped_at < $3) AS shipped,
    count(*) FILTER (WHERE o.delivered_at >= $2 AND o.delivered_at < $3) AS delivered,
    count(*) FILTER (WHERE o.state = 'cancelled' AND o.closed_at >= $2 AND o.closed_at < $3) AS cancelled,
    count(*) FILTER (WHERE o.state = 'returned' AND o.closed_at >= $2 AND o.closed_at < $3) AS returned,
    coalesce(sum(o.books) FILTER (WHERE o.delivered_at >= $2 AND o.delivered_at < $3), 0) AS books_delivered,
    avg(extract(epoch FROM o.delivered_at - o.placed_at) / 86400)
        FILTER (WHERE o.delivered_at >= $2 AND o.delivered_at < $3) AS average_days,
    coalesce(sum(o.fee_fen) FILTER (
        WHERE o.paid_at >= $2 AND o.paid_at < $3 AND o.state NOT IN ('cancelled', 'returned')
    ), 0) AS fees_fen
FROM o JOIN library l ON l.id = o.library_id
WHERE l.path LIKE $1
GROUP BY l.code, l.name
"""


def period(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The days from `first` to `last`, both counted; left out, this month to today. A year at most."""
    last = last or today
    first = first or last.replace(day=1)
    if first > last or (last - first).days >= MAX_DAYS:
        raise DeliveryFiguresPeriodInvalid(days=MAX_DAYS)
    return first, last


async def figures(
    staff: StaffUser,
    code: str | None,
    days: tuple[date, date],
    network_time: NetworkTime,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Figures], int]:
    """Delivery at my library (or `code`, one in my scope) and each library below it with orders, in the days of the
    network's calendar `days` (both counted), by library code."""
    library = await library_in_scope(code or staff.library.code, staff.library.path)
    # Paths are digits and slashes: nothing to escape in LIKE.
    params = [f"{library.path}%", network_time.midnight(days[0]), network_time.midnight(days[1] + timedelta(days=1))]
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        f"SELECT * FROM ({_FIGURES}) g ORDER BY code LIMIT $4 OFFSET $5", [*params, limit, offset]
    )
    counted = await conn.execute_query_dict(f"SELECT count(*) AS n FROM ({_FIGURES}) g", params)
    found = [
        Figures(
            library_code=r["code"],
            library=r["name"],
            placed=int(r["placed"]),
            shipped=int(r["shipped"]),
            delivered=int(r["delivered"]),
            cancelled=int(r["cancelled"]),
            returned=int(r["returned"]),
            books_delivered=int(r["books_delivered"]),
            average_days_to_delivery=None if r["average_days"] is None else round(float(r["average_days"]), 1),
            fees_fen=int(r["fees_fen"]),
        )
        for r in rows
    ]
    return found, int(counted[0]["n"])
