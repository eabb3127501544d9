"""Gift packs (阅读礼包): stock per library and pack type with its ledger, a stage's pack reserved for a child at the
family's library, the family's signed claim code and the claim at the desk, reservations lapsing back to stock, and
reserved packs given back when consent ends.

Every change to a library's stock is one `pack_stock` row changed and one `pack_movement` line per library written in
the same transaction, so the stock is always the sum of its ledger. The rules that must hold under concurrency are the
database's: on hand never below zero (a CHECK, and each decrease is one UPDATE guarded by its WHERE), one pack per
child and stage (UNIQUE (enrolment, stage)), a reservation claimed once (its row locked while claimed). Transactions
that change two or more stock rows lock them in (library, pack type) order first, so they never deadlock each other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from tortoise import connections
from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging, passes
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.accounts.staff import authority_scope, require_role
from backend.clock import NetworkTime
from backend.eventbus import EventBus, record
from backend.network.models import Library
from backend.network.services import library_in_scope
from backend.newborn.domain_events import ChildEnrolled, ConsentWithdrawn
from backend.newborn.errors import EnrolmentNotFound, PackTypeNotFound
from backend.newborn.models import (
    Enrolment,
    PackReservation,
    PackStock,
    PackType,
    Programme,
    ReservationStatus,
    Stage,
    StockMovement,
    StockMovementKind,
)
from backend.newborn.pack_errors import (
    PackAdjustmentEmpty,
    PackAlreadyClaimed,
    PackClaimCodeExpired,
    PackClaimCodeInvalid,
    PackClaimCodeReplayed,
    PackReservationLapsed,
    PackReservationNotFound,
    PacksOutOfStock,
    PackStockTooLow,
    PackTransferToItself,
)
from backend.newborn.pack_events import PacksReserved, ReservedPack
from backend.passes import SignedPasses

CLAIM = passes.PassKind("SXP1", "pack-claim", PackClaimCodeInvalid, PackClaimCodeExpired, PackClaimCodeReplayed)
# Reservations lapsed per transaction by the daily job: a night's worth is usually one.
LAPSE_BATCH = 5000
_RELATED = ("stage", "pack_type", "library", "claimed_library")

StockKey = tuple[int, int]
"""A stock row's key: (library id, pack type id)."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """A stage's pack to reserve for an enrolled child at the family's library, waiting until `until`."""

    enrolment_id: int
    stage_id: int
    library_id: int
    guardian_id: int
    until: datetime


@dataclass(frozen=True, slots=True)
class Transfer:
    source: PackStock
    target: PackStock


# --- stock, by staff of the libraries -------------------------------------------------------------------------------


async def stock(
    staff: StaffUser,
    library_code: str | None,
    pack_type_id: int | None,
    *,
    short_only: bool,
    limit: int,
    offset: int,
) -> tuple[list[PackStock], int]:
    """The pack stock of the libraries in my scope (of one library, of one pack type), by library; `short_only`: only
    where more packs are promised to families than are on hand, the largest shortfall first."""
    require_role(staff, StaffRole.LIBRARIAN)
    scope = authority_scope(staff)
    found = PackStock.filter(library__path__startswith=scope).select_related("library", "pack_type")
    if library_code is not None:
        found = found.filter(library=await library_in_scope(library_code, scope))
    if pack_type_id is not None:
        found = found.filter(pack_type_id=pack_type_id)
    if short_only:
        found = found.filter(reserved__gt=F("on_hand")).annotate(shortfall=F("reserved") - F("on_hand"))
        return await paging.page(found.order_by("-shortfall", "library_id", "pack_type_id", "id"), limit, offset)
    return await paging.page(found.order_by("library_id", "pack_type_id", "id"), limit, offset)


async def receive_stock(
    staff: StaffUser, library_code: str, pack_type_id: int, quantity: int, reason: str, now: datetime
) -> PackStock:
    """Packs delivered to a library in my scope: on hand grows by `quantity`, a `receive` line in its ledger."""
    library, pack_type = await _stock_place(staff, library_code, pack_type_id)
    async with in_transaction():
        await _add_on_hand(library.id, pack_type.id, quantity, now)
        await _ledger(library, pack_type, StockMovementKind.RECEIVE, quantity, reason, staff, now)
    return await _stock_row(library.id, pack_type.id)


async def adjust_stock(
    staff: StaffUser, library_code: str, pack_type_id: int, change: int, reason: str, now: datetime
) -> PackStock:
    """Correct a library's packs on hand after a count, damage or loss, by `change` (negative: fewer), with the
    reason; on hand never goes below zero."""
    if change == 0:
        raise PackAdjustmentEmpty()
    library, pack_type = await _stock_place(staff, library_code, pack_type_id)
    async with in_transaction():
        if change > 0:
            await _add_on_hand(library.id, pack_type.id, change, now)
        else:
            await _take_on_hand(library, pack_type, -change, now)
        await _ledger(library, pack_type, StockMovementKind.ADJUST, change, reason, staff, now)
    return await _stock_row(library.id, pack_type.id)


async def transfer_stock(
    staff: StaffUser,
    from_code: str,
    to_code: str,
    pack_type_id: int,
    quantity: int,
    reason: str,
    now: datetime,
) -> Transfer:
    """Send packs from one library in my scope to another: a `transfer` line in each ledger, naming the other. Only
    packs on hand move (the source's reservations stay its own)."""
    source, pack_type = await _stock_place(staff, from_code, pack_type_id)
    target = await library_in_scope(to_code, authority_scope(staff))
    if target.id == source.id:
        raise PackTransferToItself()
    async with in_transaction():
        await _make_stock_row(target.id, pack_type.id, now)  # for the lock below
        await _lock_stock([(source.id, pack_type.id), (target.id, pack_type.id)])
        await _take_on_hand(source, pack_type, quantity, now)
        await _add_on_hand(target.id, pack_type.id, quantity, now)
        await _ledger(source, pack_type, StockMovementKind.TRANSFER, -quantity, reason, staff, now, counterpart=target)
        await _ledger(target, pack_type, StockMovementKind.TRANSFER, quantity, reason, staff, now, counterpart=source)
    return Transfer(await _stock_row(source.id, pack_type.id), await _stock_row(target.id, pack_type.id))


async def movements(
    staff: StaffUser,
    library_code: str,
    pack_type_id: int | None,
    kind: StockMovementKind | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[StockMovement], int]:
    """A library's pack ledger (of one pack type, of one kind), newest first."""
    require_role(staff, StaffRole.LIBRARIAN)
    library = await library_in_scope(library_code, authority_scope(staff))
    found = StockMovement.filter(library=library).select_related(
        "library", "pack_type", "counterpart", "stage", "staff"
    )
    if pack_type_id is not None:
        found = found.filter(pack_type_id=pack_type_id)
    if kind is not None:
        found = found.filter(kind=kind)
    return await paging.page(found.order_by("-at", "-id"), limit, offset)


async def _stock_place(staff: StaffUser, library_code: str, pack_type_id: int) -> tuple[Library, PackType]:
    require_role(staff, StaffRole.LIBRARIAN)
    library = await library_in_scope(library_code, authority_scope(staff))
    pack_type = await PackType.get_or_none(id=pack_type_id)
    if pack_type is None:
        raise PackTypeNotFound()
    return library, pack_type


async def _stock_row(library_id: int, pack_type_id: int) -> PackStock:
    return await PackStock.get(library_id=library_id, pack_type_id=pack_type_id).select_related("library", "pack_type")


async def _add_on_hand(library_id: int, pack_type_id: int, quantity: int, now: datetime) -> None:
    """On hand + `quantity`, making the library's row of the pack type if it has none: one statement, so two
    deliveries at once both count."""
    await connections.get("default").execute_query(
        "INSERT INTO pack_stock (library_id, pack_type_id, on_hand, reserved, updated_at) VALUES ($1, $2, $3, 0, $4) "
        "ON CONFLICT (library_id, pack_type_id) DO UPDATE SET "
        "on_hand = pack_stock.on_hand + EXCLUDED.on_hand, updated_at = EXCLUDED.updated_at",
        [library_id, pack_type_id, quantity, now],
    )


async def _make_stock_row(library_id: int, pack_type_id: int, now: datetime) -> None:
    """The library's row of the pack type, made if missing without locking one that exists (an upsert that updates
    would lock it out of key order)."""
    await connections.get("default").execute_query(
        "INSERT INTO pack_stock (library_id, pack_type_id, on_hand, reserved, updated_at) VALUES ($1, $2, 0, 0, $3) "
        "ON CONFLICT (library_id, pack_type_id) DO NOTHING",
        [library_id, pack_type_id, now],
    )


async def _take_on_hand(library: Library, pack_type: PackType, quantity: int, now: datetime) -> None:
    """On hand - `quantity` in one guarded UPDATE: a concurrent taker waits for the row and then reads the new count,
    so no two of them take the same packs (the CHECK would refuse it anyway)."""
    taken = await PackStock.filter(library_id=library.id, pack_type_id=pack_type.id, on_hand__gte=quantity).update(
        on_hand=F("on_hand") - quantity, updated_at=now
    )
    if not taken:
        row = await PackStock.get_or_none(library_id=library.id, pack_type_id=pack_type.id)
        on_hand = row.on_hand if row else 0
        raise PackStockTooLow(library=library.name, pack_type=pack_type.name, on_hand=on_hand, quantity=quantity)


async def _lock_stock(keys: Iterable[StockKey]) -> None:
    """Lock these stock rows in key order, so transactions changing several rows take them in one order."""
    ordered = sorted(set(keys))
    await connections.get("default").execute_query(
        "SELECT 1 FROM pack_stock s JOIN unnest($1::int[], $2::int[]) AS k(library_id, pack_type_id) "
        "USING (library_id, pack_type_id) ORDER BY s.library_id, s.pack_type_id FOR UPDATE OF s",
        [[k[0] for k in ordered], [k[1] for k in ordered]],
    )


async def _release_reserved(released: Counter[StockKey], now: datetime) -> None:
    """Reserved - n on each row (reservations claimed elsewhere, lapsed or cancelled), the rows locked in order."""
    await _lock_stock(released)
    keys = sorted(released)
    await connections.get("default").execute_query(
        "UPDATE pack_stock s SET reserved = s.reserved - c.n, updated_at = $4 "
        "FROM unnest($1::int[], $2::int[], $3::int[]) AS c(library_id, pack_type_id, n) "
        "WHERE s.library_id = c.library_id AND s.pack_type_id = c.pack_type_id",
        [[k[0] for k in keys], [k[1] for k in keys], [released[k] for k in keys], now],
    )


async def _ledger(
    library: Library,
    pack_type: PackType,
    kind: StockMovementKind,
    on_hand_change: int,
    reason: str,
    staff: StaffUser,
    now: datetime,
    *,
    counterpart: Library | None = None,
) -> None:
    await StockMovement.create(
        library=library,
        pack_type=pack_type,
        kind=kind,
        on_hand_change=on_hand_change,
        reason=reason,
        counterpart=counterpart,
        staff=staff,
        at=now,
    )


# --- reserving -----------------------------------------------------------------------------------------------------


def lapses_at(network_time: NetworkTime, now: datetime, reservation_days: int) -> datetime:
    """When a pack reserved now lapses: it waits the rest of today and `reservation_days` whole days of the network's
    calendar, so the family is told a last day and the desk honours all of it."""
    return network_time.midnight(network_time.day(now) + timedelta(days=reservation_days + 1))


# One statement: the reservations that are new (an enrolment's stage reserved before is skipped, whoever did it), the
# stock rows' reserved counts (made if missing, in key order), and a `reserve` line each.
_RESERVE = """
WITH wanted AS (
    SELECT w.enrolment_id, w.stage_id, s.pack_type_id, w.library_id, w.expires_at
    FROM unnest($1::int[], $2::int[], $3::int[], $4::timestamptz[]) AS w(enrolment_id, stage_id, library_id, expires_at)
    JOIN newborn_stage s ON s.id = w.stage_id
), made AS (
    INSERT INTO pack_reservation (enrolment_id, stage_id, pack_type_id, library_id, status, reserved_at, expires_at)
    SELECT enrolment_id, stage_id, pack_type_id, library_id, 'reserved', $5, expires_at FROM wanted
    ON CONFLICT (enrolment_id, stage_id) DO NOTHING
    RETURNING id, enrolment_id, stage_id, pack_type_id, library_id, expires_at
), stocked AS (
    INSERT INTO pack_stock (library_id, pack_type_id, on_hand, reserved, updated_at)
    SELECT library_id, pack_type_id, 0, count(*), $5 FROM made
    GROUP BY library_id, pack_type_id ORDER BY library_id, pack_type_id
    ON CONFLICT (library_id, pack_type_id)
    DO UPDATE SET reserved = pack_stock.reserved + EXCLUDED.reserved, updated_at = EXCLUDED.updated_at
), ledger AS (
    INSERT INTO pack_movement
        (library_id, pack_type_id, kind, on_hand_change, reserved_change, reason, stage_id, reservation_id, at)
    SELECT library_id, pack_type_id, 'reserve', 0, 1, '', stage_id, id, $5 FROM made
)
SELECT id, enrolment_id, stage_id, pack_type_id, library_id, expires_at FROM made
"""


async def reserve(wanted: Sequence[Wanted], now: datetime, network_time: NetworkTime) -> int:
    """Reserve each child's stage pack at the family's library, in the caller's event-bus transaction, and record
    `PacksReserved` for those not reserved before (the family is told). Returns how many were reserved."""
    if not wanted:
        return 0
    made = await connections.get("default").execute_query_dict(
        _RESERVE,
        [
            [w.enrolment_id for w in wanted],
            [w.stage_id for w in wanted],
            [w.library_id for w in wanted],
            [w.until for w in wanted],
            now,
        ],
    )
    if made:
        record(await _reserved_event(made, {w.enrolment_id: w.guardian_id for w in wanted}, now, network_time))
    return len(made)


async def _reserved_event(
    made: list[dict[str, Any]], guardians: dict[int, int], now: datetime, network_time: NetworkTime
) -> PacksReserved:
    stages = {s.id: s for s in await Stage.filter(id__in={r["stage_id"] for r in made}).select_related("pack_type")}
    libraries = dict(await Library.filter(id__in={r["library_id"] for r in made}).values_list("id", "name"))
    packs = tuple(
        ReservedPack(
            reservation_id=row["id"],
            enrolment_id=row["enrolment_id"],
            guardian_id=guardians[row["enrolment_id"]],
            stage=stages[row["stage_id"]].name,
            pack_type=stages[row["stage_id"]].pack_type.name,
            library=libraries[row["library_id"]],
            last_day=last_day(network_time, row["expires_at"]),
        )
        for row in made
    )
    return PacksReserved(packs, now)


def last_day(network_time: NetworkTime, until: datetime) -> date:
    """The last day of the network's calendar a reservation lapsing at `until` (a midnight) waits."""
    return network_time.day(until) - timedelta(days=1)


async def reserve_on_enrolment(network_time: NetworkTime, event: ChildEnrolled) -> None:
    """A child enrolled in a stage: its pack is reserved at the family's library, in the enrolment's transaction."""
    if event.stage_id is None:
        return  # before the programme's first stage: the stage-change job reserves it when the child gets there
    programme = await Programme.get(id=event.programme_id)
    until = lapses_at(network_time, event.at, programme.reservation_days)
    await reserve(
        [Wanted(event.enrolment_id, event.stage_id, event.library_id, event.guardian_id, until)], event.at, network_time
    )


async def give_back(event: ConsentWithdrawn) -> None:
    """Consent ended: the enrolment's packs still reserved go back to their libraries (a `cancel` line each) before
    the enrolment's deletion drops the reservations. The lines keep the stage and library, not the family.

    Like a claim and the lapse job, it locks the reservations before the stock rows (the reservations by id, the stock
    rows in key order), and reads their status only once it holds them: a pack being claimed or lapsing right now is
    given back by the one that gets it first, never by both."""
    locked = await PackReservation.select_for_update().filter(enrolment_id=event.enrolment_id).order_by("id")
    held = [r for r in locked if r.status is ReservationStatus.RESERVED]
    if not held:
        return
    await _release_reserved(Counter((r.library_id, r.pack_type_id) for r in held), event.at)
    await StockMovement.bulk_create(
        [
            StockMovement(
                library_id=r.library_id,
                pack_type_id=r.pack_type_id,
                kind=StockMovementKind.CANCEL,
                reserved_change=-1,
                reason=event.reason.value,
                stage_id=r.stage_id,
                reservation_id=r.id,
                at=event.at,
            )
            for r in held
        ]
    )


def subscribe(bus: EventBus, network_time: NetworkTime) -> None:
    """The packs' handlers of the enrolments' events."""
    bus.subscribe(ChildEnrolled, partial(reserve_on_enrolment, network_time))
    bus.subscribe(ConsentWithdrawn, give_back)


# --- the family's claim code, and the claim at the desk --------------------------------------------------------------


async def my_packs(
    guardian: Reader, enrolment_id: int | None, *, limit: int, offset: int
) -> tuple[list[PackReservation], int]:
    """My children's packs (of one enrolment), newest first; another family's enrolment is not found."""
    found = PackReservation.filter(enrolment__guardian_id=guardian.id)
    if enrolment_id is not None:
        if not await Enrolment.exists(id=enrolment_id, guardian_id=guardian.id):
            raise EnrolmentNotFound()
        found = found.filter(enrolment_id=enrolment_id)
    found = found.select_related("enrolment__child", *_RELATED).order_by("-reserved_at", "-id")
    return await paging.page(found, limit, offset)


async def my_pack(guardian: Reader, reservation_id: int) -> PackReservation:
    """One of my children's packs; anyone else's is not found."""
    reservation = await PackReservation.get_or_none(
        id=reservation_id, enrolment__guardian_id=guardian.id
    ).select_related("enrolment__child", *_RELATED)
    if reservation is None:
        raise PackReservationNotFound()
    return reservation


async def claim_code(claims: SignedPasses, guardian: Reader, reservation_id: int, now: datetime) -> passes.Pass:
    """The code to show at the desk for a pack waiting for my child: a signed pass valid once and briefly, like the
    reader card; fetch a new one to show again."""
    reservation = await my_pack(guardian, reservation_id)
    _check_claimable(reservation, now)
    return claims.issue(str(reservation.id), now)


def _check_claimable(reservation: PackReservation, now: datetime) -> None:
    if reservation.status is ReservationStatus.CLAIMED:
        raise PackAlreadyClaimed(library=reservation.claimed_library.name if reservation.claimed_library else "")
    if reservation.status is ReservationStatus.LAPSED or reservation.expires_at <= now:
        raise PackReservationLapsed()


async def claim(
    claims: SignedPasses, staff: StaffUser, payload: str, library_code: str | None, now: datetime
) -> PackReservation:
    """Hand a pack over at a desk of mine (`library_code`, else my library) against the family's scanned claim code.

    At the library it was reserved at, one of the packs on hand goes (on hand and reserved - 1). At another library,
    only a pack not promised to that library's own families may go (on hand > reserved there): that library's on hand
    - 1, and the reserving library's reserved - 1, a `claim` line in each ledger. A forged, expired or replayed code,
    a pack collected or lapsed, or no pack to hand change nothing."""
    require_role(staff, StaffRole.LIBRARIAN)
    scope = authority_scope(staff)
    desk = await library_in_scope(library_code, scope) if library_code is not None else staff.library
    subject = await claims.redeem(payload, now)
    async with in_transaction():
        # The reservation's lock makes two claims of one pack take turns: the second finds it claimed.
        reservation = await PackReservation.select_for_update().get_or_none(id=int(subject))
        if reservation is None:
            raise PackReservationNotFound()  # consent was withdrawn since the code was shown
        await reservation.fetch_related(*_RELATED)
        _check_claimable(reservation, now)
        pack_type = reservation.pack_type
        if desk.id == reservation.library_id:
            handed = await PackStock.filter(library_id=desk.id, pack_type_id=pack_type.id, on_hand__gte=1).update(
                on_hand=F("on_hand") - 1, reserved=F("reserved") - 1, updated_at=now
            )
            if not handed:
                raise PacksOutOfStock(library=desk.name, pack_type=pack_type.name)
            lines = [_claim_line(reservation, desk, -1, -1, "", staff, now)]
        else:
            home = reservation.library
            await _lock_stock([(desk.id, pack_type.id), (home.id, pack_type.id)])
            handed = await PackStock.filter(
                library_id=desk.id, pack_type_id=pack_type.id, on_hand__gt=F("reserved")
            ).update(on_hand=F("on_hand") - 1, updated_at=now)
            if not handed:
                raise PacksOutOfStock(library=desk.name, pack_type=pack_type.name)
            await _release_reserved(Counter({(home.id, pack_type.id): 1}), now)
            lines = [
                _claim_line(reservation, desk, -1, 0, f"为{home.name}的预留发放", staff, now),
                _claim_line(reservation, home, 0, -1, f"在{desk.name}领取", staff, now),
            ]
        await StockMovement.bulk_create(lines)
        await PackReservation.filter(id=reservation.id).update(
            status=ReservationStatus.CLAIMED, claimed_at=now, claimed_library_id=desk.id, claimed_by_id=staff.id
        )
        # Read back while still locked: consent withdrawn right after the claim commits would delete the row.
        return await PackReservation.get(id=reservation.id).select_related(*_RELATED)


def _claim_line(
    reservation: PackReservation,
    library: Library,
    on_hand_change: int,
    reserved_change: int,
    reason: str,
    staff: StaffUser,
    now: datetime,
) -> StockMovement:
    return StockMovement(
        library_id=library.id,
        pack_type_id=reservation.pack_type_id,
        kind=StockMovementKind.CLAIM,
        on_hand_change=on_hand_change,
        reserved_change=reserved_change,
        reason=reason,
        stage_id=reservation.stage_id,
        reservation_id=reservation.id,
        staff_id=staff.id,
        at=now,
    )


async def staff_reservations(
    staff: StaffUser,
    library_code: str,
    status: ReservationStatus | None,
    pack_type_id: int | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[PackReservation], int]:
    """The packs reserved at a library in my scope (in one status, of one pack type), the soonest to lapse first.
    They name no child: the desk hands packs against the family's claim code, and plans stock from these."""
    require_role(staff, StaffRole.LIBRARIAN)
    library = await library_in_scope(library_code, authority_scope(staff))
    found: QuerySet[PackReservation] = PackReservation.filter(library=library)
    if status is not None:
        found = found.filter(status=status)
    if pack_type_id is not None:
        found = found.filter(pack_type_id=pack_type_id)
    return await paging.page(found.select_related(*_RELATED).order_by("expires_at", "id"), limit, offset)


# --- lapsing -------------------------------------------------------------------------------------------------------

# A batch of reservations past their time, lapsed with a `lapse` line each; what they give back per stock row. Those a
# claim holds right now are left to the claim, or to the next run.
_LAPSE = """
WITH lapsed AS (
    UPDATE pack_reservation SET status = 'lapsed', lapsed_at = $1
    WHERE id IN (
        SELECT id FROM pack_reservation WHERE status = 'reserved' AND expires_at <= $1
        ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
    )
    RETURNING id, library_id, pack_type_id, stage_id
), ledger AS (
    INSERT INTO pack_movement
        (library_id, pack_type_id, kind, on_hand_change, reserved_change, reason, stage_id, reservation_id, at)
    SELECT library_id, pack_type_id, 'lapse', 0, -1, '', stage_id, id, $1 FROM lapsed
)
SELECT library_id, pack_type_id, count(*) AS n FROM lapsed GROUP BY library_id, pack_type_id
"""


async def lapse_reservations(now: datetime, batch: int = LAPSE_BATCH) -> int:
    """Daily: packs not collected by their last day go back to stock (reserved - 1, a `lapse` line each); the stage's
    pack is not reserved again. Safe to run again and at once. Returns how many lapsed."""
    lapsed = 0
    while True:
        async with in_transaction():
            rows = await connections.get("default").execute_query_dict(_LAPSE, [now, batch])
            given_back = Counter({(r["library_id"], r["pack_type_id"]): r["n"] for r in rows})
            if given_back:
                await _release_reserved(given_back, now)
        lapsed += given_back.total()
        if given_back.total() < batch:
            return lapsed
