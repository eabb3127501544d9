"""Finding libraries, and staff changes to the network within their scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from backend import paging
from backend.network import geo, hours
from backend.network.errors import InvalidParent, LibraryCodeTaken, LibraryNotFound, OutsideScope
from backend.network.models import Library, LibraryLevel, LibraryService
from backend.wechat.gateway import WeChatGateway

# Which levels may sit directly under which (seeds 001-004: central → main → branch → service point; the
# self-service libraries and swap cabinets hang off whichever library stocks them).
ALLOWED_PARENTS: dict[LibraryLevel, set[LibraryLevel]] = {
    LibraryLevel.CENTRAL: set(),
    LibraryLevel.MAIN: {LibraryLevel.CENTRAL},
    LibraryLevel.BRANCH: {LibraryLevel.CENTRAL, LibraryLevel.MAIN},
    LibraryLevel.SERVICE_POINT: {LibraryLevel.MAIN, LibraryLevel.BRANCH},
    LibraryLevel.SELF_SERVICE: {LibraryLevel.CENTRAL, LibraryLevel.MAIN, LibraryLevel.BRANCH},
    LibraryLevel.SWAP_CABINET: {LibraryLevel.CENTRAL, LibraryLevel.MAIN, LibraryLevel.BRANCH},
}

# The scope above every library: held by the installation (CLI bootstrap), never by a staff account.
NETWORK_ROOT = "/"

# Radii tried in turn for "nearest N" without a radius: most readers are inside the first ring.
_NEAREST_RINGS_M = (2_000.0, 10_000.0, 50_000.0, 300_000.0)


@dataclass(slots=True)
class LibraryDraft:
    code: str
    name: str
    level: LibraryLevel
    parent_code: str | None
    latitude: float
    longitude: float
    address: str = ""
    phone: str = ""
    timezone: str = "Asia/Shanghai"
    opening_hours: hours.WeeklyHours = field(default_factory=dict)
    services: list[LibraryService] = field(default_factory=list)


@dataclass(slots=True)
class LibraryChanges:
    """Fields left as None are not changed."""

    name: str | None = None
    address: str | None = None
    phone: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    opening_hours: hours.WeeklyHours | None = None
    services: list[LibraryService] | None = None
    active: bool | None = None


def _service_columns(services: list[LibraryService]) -> dict[str, Any]:
    return {service.value: service in services for service in LibraryService}


def in_scope(library: Library, scope_path: str) -> bool:
    """A staff member whose library has path `scope_path` manages that library and its whole sub-tree."""
    return library.path.startswith(scope_path)


async def library_in_scope(code: str, scope_path: str) -> Library:
    """A library (active or not) that a staff member whose scope is `scope_path` may act on."""
    library = await Library.get_or_none(code=code).select_related("parent")
    if library is None:
        raise LibraryNotFound()
    if not in_scope(library, scope_path):
        raise OutsideScope()
    return library


async def get_library(code: str) -> Library:
    library = await Library.get_or_none(code=code, active=True).select_related("parent")
    if library is None:
        raise LibraryNotFound()
    return library


async def list_libraries(
    *,
    level: LibraryLevel | None = None,
    service: LibraryService | None = None,
    within: str | None = None,
    query: str | None = None,
    open_at: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Library], int]:
    """Active libraries, filtered; `within` is a library code whose sub-tree (itself included) is listed, `open_at` a
    moment the libraries listed are open at, each by its own hours and time zone."""
    qs = Library.filter(active=True).select_related("parent")
    if level is not None:
        qs = qs.filter(level=level)
    if service is not None:
        qs = qs.filter(**{service.value: True})
    if within is not None:
        qs = qs.filter(path__startswith=(await get_library(within)).path)
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(address__icontains=query) | Q(code=query))
    if open_at is not None:
        # Judged here by `hours.is_open`, the rule behind every library's `open_now`, not restated in SQL over the
        # JSON hours and each library's time zone: the filters above leave at most the network's few hundred
        # libraries, and only their hours are read before the page itself.
        candidates = await qs.order_by("path").values_list("id", "opening_hours", "timezone")
        open_ids = [id_ for id_, weekly, timezone in candidates if hours.is_open(weekly, open_at, timezone)]
        ids, total = paging.page_of(open_ids, limit, offset)
        return await Library.filter(id__in=ids).select_related("parent").order_by("path"), total
    return await paging.page(qs.order_by("path"), limit, offset)


async def nearest_libraries(
    latitude: float,
    longitude: float,
    *,
    limit: int = 10,
    offset: int = 0,
    radius_m: float | None = None,
    service: LibraryService | None = None,
) -> tuple[list[tuple[Library, float]], int]:
    """`limit` active libraries from the `offset`-th nearest on, with their distance in metres, and how many there
    are within `radius_m` or, without one, within the first of the widening rings that holds the page and one more
    (so a page that is not the last is never counted as if it were)."""
    # Never the whole table for an anonymous request: the widest ring is already far beyond a reading circle.
    rings = (radius_m,) if radius_m is not None else _NEAREST_RINGS_M
    found: list[tuple[Library, float]] = []
    for ring in rings:
        qs = Library.filter(active=True).select_related("parent")
        if service is not None:
            qs = qs.filter(**{service.value: True})
        lat_min, lat_max, lon_min, lon_max = geo.bounding_box(latitude, longitude, ring)
        qs = qs.filter(latitude__gte=lat_min, latitude__lte=lat_max, longitude__gte=lon_min, longitude__lte=lon_max)
        distances = ((lib, geo.distance_m(latitude, longitude, lib.latitude, lib.longitude)) for lib in await qs)
        # Down to the id: libraries at one distance (two at one address) keep their order from page to page.
        found = sorted(((lib, d) for lib, d in distances if d <= ring), key=lambda pair: (pair[1], pair[0].id))
        if len(found) > offset + limit:
            break
    return found[offset : offset + limit], len(found)


async def create_library(draft: LibraryDraft, *, scope_path: str) -> Library:
    """Add a library under a parent inside the caller's scope (or the network's central library, from the
    network root scope); codes are unique across the network."""
    opening_hours = hours.validate(draft.opening_hours)
    hours.validate_timezone(draft.timezone)
    parent = await Library.get_or_none(code=draft.parent_code) if draft.parent_code else None
    if draft.parent_code and parent is None:
        raise LibraryNotFound()
    if draft.level is LibraryLevel.CENTRAL:
        # One central library heads a network; only the installation itself (the CLI) may create it.
        if parent is not None or await Library.exists(level=LibraryLevel.CENTRAL):
            raise InvalidParent()
        if scope_path != NETWORK_ROOT:
            raise OutsideScope()
    elif parent is None or parent.level not in ALLOWED_PARENTS[draft.level]:
        raise InvalidParent()
    elif not in_scope(parent, scope_path):
        raise OutsideScope()
    try:
        async with in_transaction():
            library = await Library.create(
                code=draft.code,
                name=draft.name,
                level=draft.level,
                parent=parent,
                path="",
                address=draft.address,
                phone=draft.phone,
                latitude=draft.latitude,
                longitude=draft.longitude,
                timezone=draft.timezone,
                opening_hours=opening_hours,
                **_service_columns(draft.services),
            )
            library.path = f"{parent.path if parent else NETWORK_ROOT}{library.id}/"
            await library.save(update_fields=["path"])
    except IntegrityError as exc:
        raise LibraryCodeTaken(code=draft.code) from exc
    return library


async def update_library(code: str, changes: LibraryChanges, *, scope_path: str) -> Library:
    """Change a library's place, hours or services; only staff whose scope contains it may."""
    library = await library_in_scope(code, scope_path)
    updates: dict[str, object] = {
        name: value
        for name in ("name", "address", "phone", "latitude", "longitude", "active")
        if (value := getattr(changes, name)) is not None
    }
    if changes.opening_hours is not None:
        updates["opening_hours"] = hours.validate(changes.opening_hours)
    if changes.services is not None:
        updates.update(_service_columns(changes.services))
    if updates:
        library.update_from_dict(updates)
        await library.save(update_fields=[*updates, "updated_at"])
    return library


async def library_mini_program_code(wechat: WeChatGateway, code: str, *, page: str, scope_path: str) -> bytes:
    """The mini-program code printed at a library's door (a 24-hour library, a swap cabinet): scanning it opens
    `page` with the library code as the scene."""
    library = await library_in_scope(code, scope_path)
    return await wechat.mini_program_code(scene=library.code, page=page)
