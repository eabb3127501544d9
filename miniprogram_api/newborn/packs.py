"""Newborn gift packs: staff keep each library's stock and hand packs over against the family's claim code; guardians
see the packs reserved for their children and show the code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from backend import passes
from backend.accounts.errors import RoleTooLow
from backend.accounts.models import Reader, StaffUser
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.network.models import Library
from backend.newborn import packs
from backend.newborn.errors import EnrolmentNotFound, PackTypeNotFound
from backend.newborn.models import PackReservation, PackStock, ReservationStatus, StockMovement, StockMovementKind
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
from entrypoints.bootstrap import Dependencies
from miniprogram_api.booklists.schemas import LibraryRefOut
from miniprogram_api.deps import BEARER, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.network.schemas import CODE_PATTERN, Code, LibraryCodeParam
from miniprogram_api.newborn.schemas import PackTypeOut
from miniprogram_api.schemas import INT32_MAX, Offset, Page, ReaderLimit, RowId, StaffLimit, matching_param, named, text

Packs = Annotated[int, msgspec.Meta(ge=1, le=100_000)]
# An optional row id in a query carries its bounds itself: `RowId | None` would lose them.
PackTypeParam = Annotated[int | None, Parameter(ge=1, le=INT32_MAX, description="Of this pack type")]
_STAFF = (*STAFF_PROBLEMS, RoleTooLow, LibraryNotFound, OutsideScope)
_STOCK = (*_STAFF, PackTypeNotFound)
_CLAIMABLE = (PackReservationNotFound, PackAlreadyClaimed, PackReservationLapsed)
_PNG = {200: ResponseSpec(data_container=bytes, media_type="image/png", description="The pack's claim code")}


# --- schemas -------------------------------------------------------------------------------------------------------


class PackRefOut(msgspec.Struct):
    id: int
    name: str


def _library(library: Library) -> LibraryRefOut:
    return LibraryRefOut(library.code, library.name)


class StockOut(msgspec.Struct):
    library: LibraryRefOut
    pack_type: PackRefOut
    on_hand: int
    """Packs at the library; only these are handed out."""
    reserved: int
    """Packs promised to families collecting here."""
    shortfall: int
    """How many more packs the reservations need than are on hand (0: covered): receive or transfer that many."""
    updated_at: datetime

    @classmethod
    def of(cls, row: PackStock) -> StockOut:
        return cls(
            _library(row.library),
            PackRefOut(row.pack_type.id, row.pack_type.name),
            row.on_hand,
            row.reserved,
            max(row.reserved - row.on_hand, 0),
            row.updated_at,
        )


StockPage = Annotated[Page[StockOut], named("PackStockPage")]


class ReceiptIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code
    pack_type_id: RowId
    quantity: Packs
    reason: Annotated[str, text(200)] = ""
    """What came, e.g. the delivery note's number."""


class AdjustmentIn(msgspec.Struct, forbid_unknown_fields=True):
    library_code: Code
    pack_type_id: RowId
    change: Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)]
    """Packs found (positive) or gone (negative): on hand never goes below zero."""
    reason: Annotated[str, text(200, min_length=1)]
    """Why: a count, damage, a loss."""


class TransferIn(msgspec.Struct, forbid_unknown_fields=True):
    from_library_code: Code
    to_library_code: Code
    pack_type_id: RowId
    quantity: Packs
    reason: Annotated[str, text(200)] = ""


class TransferOut(msgspec.Struct):
    source: StockOut
    target: StockOut


class MovementOut(msgspec.Struct):
    id: int
    library: LibraryRefOut
    pack_type: PackRefOut
    kind: StockMovementKind
    on_hand_change: int
    reserved_change: int
    reason: str
    counterpart: LibraryRefOut | None
    """A transfer's other library."""
    stage: str | None
    """The stage a reservation, claim, lapse or cancellation was for."""
    reservation_id: int | None
    """Null once the enrolment it was for has ended."""
    staff: str | None
    """Who did it; null for the jobs and the families' own doing."""
    at: datetime

    @classmethod
    def of(cls, line: StockMovement) -> MovementOut:
        return cls(
            line.id,
            _library(line.library),
            PackRefOut(line.pack_type.id, line.pack_type.name),
            line.kind,
            line.on_hand_change,
            line.reserved_change,
            line.reason,
            _library(line.counterpart) if line.counterpart else None,
            line.stage.name if line.stage else None,
            line.reservation_id,
            line.staff.display_name if line.staff else None,
            line.at,
        )


MovementPage = Annotated[Page[MovementOut], named("PackMovementPage")]


class ReservationOut(msgspec.Struct):
    """A pack reserved for a child, as staff see it: no child named (the desk hands it over against the claim
    code)."""

    id: int
    stage: str
    pack_type: PackTypeOut
    library: LibraryRefOut
    """Where it was reserved."""
    status: ReservationStatus
    reserved_at: datetime
    expires_at: datetime
    """When it lapses if not collected: the start of the day after the last day it waits."""
    claimed_at: datetime | None
    claimed_library: LibraryRefOut | None
    """Where it was handed out (it may be another library than the one it was reserved at)."""
    lapsed_at: datetime | None

    @classmethod
    def of(cls, r: PackReservation) -> ReservationOut:
        return cls(
            r.id,
            r.stage.name,
            PackTypeOut.of(r.pack_type),
            _library(r.library),
            r.status,
            r.reserved_at,
            r.expires_at,
            r.claimed_at,
            _library(r.claimed_library) if r.claimed_library else None,
            r.lapsed_at,
        )


ReservationPage = Annotated[Page[ReservationOut], named("PackReservationPage")]


class ClaimIn(msgspec.Struct, forbid_unknown_fields=True):
    payload: Annotated[str, text(200, min_length=1)]
    """The claim code's text, as scanned."""
    library_code: Code | None = None
    """The library handing the pack over, in my scope; empty: mine."""


class MyPackOut(msgspec.Struct):
    id: int
    enrolment_id: int
    child_id: int
    child_name: str
    stage: str
    pack_type: PackTypeOut
    library: LibraryRefOut
    """Where to collect it (another library may hand it over when it has a pack to spare)."""
    status: ReservationStatus
    reserved_at: datetime
    expires_at: datetime
    """Collect it before then: the start of the day after the last day it waits."""
    claimed_at: datetime | None
    claimed_library: LibraryRefOut | None

    @classmethod
    def of(cls, r: PackReservation) -> MyPackOut:
        child = r.enrolment.child
        return cls(
            r.id,
            r.enrolment_id,
            child.id,
            child.name,
            r.stage.name,
            PackTypeOut.of(r.pack_type),
            _library(r.library),
            r.status,
            r.reserved_at,
            r.expires_at,
            r.claimed_at,
            _library(r.claimed_library) if r.claimed_library else None,
        )


MyPackPage = Annotated[Page[MyPackOut], named("MyPackPage")]


class ClaimCodeOut(msgspec.Struct):
    reservation_id: int
    payload: str
    """Shown as a QR code at the desk; valid for a minute and once."""
    expires_at: datetime


# --- controllers ---------------------------------------------------------------------------------------------------


class StaffPackController(Controller):
    path = "/staff/newborn"
    tags = ["Staff: newborn gift packs"]
    security = BEARER

    @get("/pack-stock", responses=problems(*_STAFF))
    async def stock(
        self,
        staff: StaffUser,
        library: Annotated[str | None, matching_param(CODE_PATTERN, "Of this library")] = None,
        pack_type_id: PackTypeParam = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> StockPage:
        """Pack stock of the libraries in my scope: on hand, reserved for families, and the shortfall, by library."""
        found, total = await packs.stock(staff, library, pack_type_id, short_only=False, limit=limit, offset=offset)
        return Page.of([StockOut.of(row) for row in found], total, limit, offset)

    @get("/pack-shortfalls", responses=problems(*_STAFF))
    async def shortfalls(
        self,
        staff: StaffUser,
        library: Annotated[str | None, matching_param(CODE_PATTERN, "Of this library")] = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> StockPage:
        """Where stock will not cover the reservations: libraries in my scope promising more packs than they hold,
        the largest shortfall first. Receive or transfer packs there before families come."""
        found, total = await packs.stock(staff, library, None, short_only=True, limit=limit, offset=offset)
        return Page.of([StockOut.of(row) for row in found], total, limit, offset)

    @post("/pack-stock/receipts", responses=problems(*_STOCK))
    async def receive(self, deps: Dependencies, staff: StaffUser, data: ReceiptIn) -> StockOut:
        """Record packs delivered to a library in my scope: on hand grows, a line in its ledger."""
        row = await packs.receive_stock(
            staff, data.library_code, data.pack_type_id, data.quantity, data.reason, deps.clock.now()
        )
        return StockOut.of(row)

    @post("/pack-stock/adjustments", responses=problems(*_STOCK, PackAdjustmentEmpty, PackStockTooLow))
    async def adjust(self, deps: Dependencies, staff: StaffUser, data: AdjustmentIn) -> StockOut:
        """Correct a library's packs on hand after a count, damage or loss, with the reason; never below zero."""
        row = await packs.adjust_stock(
            staff, data.library_code, data.pack_type_id, data.change, data.reason, deps.clock.now()
        )
        return StockOut.of(row)

    @post("/pack-stock/transfers", responses=problems(*_STOCK, PackTransferToItself, PackStockTooLow))
    async def transfer(self, deps: Dependencies, staff: StaffUser, data: TransferIn) -> TransferOut:
        """Send packs on hand from one library in my scope to another: a line in each ledger."""
        moved = await packs.transfer_stock(
            staff,
            data.from_library_code,
            data.to_library_code,
            data.pack_type_id,
            data.quantity,
            data.reason,
            deps.clock.now(),
        )
        return TransferOut(StockOut.of(moved.source), StockOut.of(moved.target))

    @get("/libraries/{code:str}/pack-movements", responses=problems(*_STAFF))
    async def movements(
        self,
        staff: StaffUser,
        code: LibraryCodeParam,
        pack_type_id: PackTypeParam = None,
        kind: StockMovementKind | None = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> MovementPage:
        """A library's pack ledger, newest first: its stock is the sum of these lines."""
        found, total = await packs.movements(staff, code, pack_type_id, kind, limit=limit, offset=offset)
        return Page.of([MovementOut.of(line) for line in found], total, limit, offset)

    @get("/libraries/{code:str}/pack-reservations", responses=problems(*_STAFF))
    async def reservations(
        self,
        staff: StaffUser,
        code: LibraryCodeParam,
        status: ReservationStatus | None = None,
        pack_type_id: PackTypeParam = None,
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> ReservationPage:
        """Packs reserved at a library in my scope, the soonest to lapse first; no child is named."""
        found, total = await packs.staff_reservations(staff, code, status, pack_type_id, limit=limit, offset=offset)
        return Page.of([ReservationOut.of(r) for r in found], total, limit, offset)

    @post(
        "/pack-claims",
        status_code=200,
        responses=problems(
            *_STAFF, PackClaimCodeInvalid, PackClaimCodeExpired, PackClaimCodeReplayed, *_CLAIMABLE, PacksOutOfStock
        ),
    )
    async def claim(self, deps: Dependencies, staff: StaffUser, data: ClaimIn) -> ReservationOut:
        """Scan a family's claim code and hand the pack over. At another library than the one it was reserved at,
        only a pack not promised to that library's own families may go."""
        claimed = await packs.claim(deps.pack_claims, staff, data.payload, data.library_code, deps.clock.now())
        return ReservationOut.of(claimed)


class GuardianPackController(Controller):
    path = "/readers/me/newborn/packs"
    tags = ["Newborn programme"]
    security = BEARER

    @get("/", responses=problems(*READER_PROBLEMS, EnrolmentNotFound))
    async def my_packs(
        self,
        reader: Reader,
        enrolment_id: Annotated[int | None, Parameter(ge=1, le=INT32_MAX, description="Of this enrolment")] = None,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> MyPackPage:
        """The gift packs reserved for my children, newest first: where to collect each, until when, or when it was
        collected."""
        found, total = await packs.my_packs(reader, enrolment_id, limit=limit, offset=offset)
        return Page.of([MyPackOut.of(r) for r in found], total, limit, offset)

    @get("/{reservation_id:int}", responses=problems(*READER_PROBLEMS, PackReservationNotFound))
    async def my_pack(self, reader: Reader, reservation_id: RowId) -> MyPackOut:
        """One of my children's gift packs."""
        return MyPackOut.of(await packs.my_pack(reader, reservation_id))

    @get("/{reservation_id:int}/claim-code", responses=problems(*READER_PROBLEMS, *_CLAIMABLE))
    async def claim_code(self, deps: Dependencies, reader: Reader, reservation_id: RowId) -> ClaimCodeOut:
        """The code to show at the desk to collect the pack: valid for a minute and once; fetch a new one to show
        again."""
        issued = await packs.claim_code(deps.pack_claims, reader, reservation_id, deps.clock.now())
        return ClaimCodeOut(reservation_id, issued.text, issued.expires_at)

    @get(
        "/{reservation_id:int}/claim-code.png",
        media_type="image/png",
        responses={**problems(*READER_PROBLEMS, *_CLAIMABLE), **_PNG},
    )
    async def claim_code_png(self, deps: Dependencies, reader: Reader, reservation_id: RowId) -> Response[bytes]:
        """The claim code as a QR code; its text is in the X-Claim-Payload header."""
        issued = await packs.claim_code(deps.pack_claims, reader, reservation_id, deps.clock.now())
        return Response(
            await passes.qr_png(issued.text),
            media_type="image/png",
            headers={"X-Claim-Payload": issued.text, "Cache-Control": "no-store"},
        )
