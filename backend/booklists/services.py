"""Curated reading lists (书单): staff make them for an audience and publish or retire them; readers browse the
published ones near them; a push's audience is worked out here, and what the push achieved counted (`reports`, which
pushes of readers' own picks share, as they share the rule of which cards are a library's: `cards_under`).

Staff edit the lists of their libraries and below (network admins every list). A list is meant for the readers of
its audience libraries and everything below them, of its audience (adults; children of an age band; everyone), and a
reader at a library sees the lists meant for it or for a library above it. A push reaches the list's audience within
the pusher's scope (a city-wide list pushed by a branch reaches that branch's readers); the cards reached and the
records listed are kept with the push, so its report counts what the push could have caused. When the report's window
closes, the counts are kept on the push and the rows naming readers are deleted (`settle_reports`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tortoise import connections
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import Reader, StaffUser
from backend.accounts.staff import authority_scope
from backend.booklists import reports
from backend.booklists.errors import (
    BooklistAudienceInvalid,
    BooklistEmpty,
    BooklistEntryNotFound,
    BooklistNotFound,
    BooklistNotPublished,
    BooklistPushNotFound,
    BooklistRecordRepeated,
    BooklistRetired,
    BooklistTooLong,
)
from backend.booklists.models import (
    Booklist,
    BooklistAudience,
    BooklistEntry,
    BooklistLibrary,
    BooklistOpen,
    BooklistPush,
    BooklistPushReader,
    BooklistStatus,
)
from backend.booklists.reports import REPORT_DAYS
from backend.booklists.reports import PushOutcome as PushOutcome  # a list push's report, as the API names it
from backend.catalog.errors import RecordNotFound
from backend.catalog.models import Record
from backend.catalog.search import Hit, availability
from backend.circulation.domain_events import LoanOpened
from backend.network.errors import OutsideScope
from backend.network.models import Library
from backend.network.services import get_library, in_scope, library_in_scope, nearest_libraries

MAX_RECORDS = 100
"""The most records a list holds: a monthly list is ten or twenty; a stage list for babies a few dozen."""
MAX_AGE_MONTHS = 18 * 12
_BATCH = 1000


@dataclass(slots=True)
class BooklistDraft:
    title: str
    description: str = ""
    cover_url: str = ""
    audience: BooklistAudience = BooklistAudience.EVERYONE
    min_age_months: int | None = None
    max_age_months: int | None = None
    library_codes: list[str] = field(default_factory=list)
    """The libraries it is meant for (each with everything below it); none: the owning library."""

    def check(self) -> None:
        ages = (self.min_age_months, self.max_age_months)
        if self.audience is not BooklistAudience.CHILDREN and ages != (None, None):
            raise BooklistAudienceInvalid(problem="age_band_for_children_only")
        if any(age is not None and not 0 <= age <= MAX_AGE_MONTHS for age in ages):
            raise BooklistAudienceInvalid(problem="age_out_of_range")
        low, high = ages
        if low is not None and high is not None and low >= high:
            raise BooklistAudienceInvalid(problem="min_age_not_below_max_age")


@dataclass(frozen=True, slots=True)
class BooklistView:
    """A list as shown: its owning and audience libraries and how many records it holds."""

    booklist: Booklist
    libraries: list[Library]
    records: int
    opened: int  # readers who opened it (one who comes back after the report's window counts again)


async def views(lists: Sequence[Booklist]) -> list[BooklistView]:
    ids = [b.id for b in lists]
    audience = await BooklistLibrary.filter(booklist_id__in=ids).select_related("library").order_by("library__path")
    counted = (
        await BooklistEntry.filter(booklist_id__in=ids)
        .group_by("booklist_id")
        .annotate(n=Count("id"))
        .values_list("booklist_id", "n")
    )
    opens = (
        await BooklistOpen.filter(booklist_id__in=ids)
        .group_by("booklist_id")
        .annotate(n=Count("id"))
        .values_list("booklist_id", "n")
    )
    counts = {int(i): int(n) for i, n in counted}
    opened = {int(i): int(n) for i, n in opens}
    return [
        BooklistView(
            b,
            [a.library for a in audience if a.booklist_id == b.id],
            counts.get(b.id, 0),
            b.opened_earlier + opened.get(b.id, 0),
        )
        for b in lists
    ]


async def view(booklist: Booklist) -> BooklistView:
    return (await views([booklist]))[0]


# ---- staff ----


async def _audience_libraries(staff: StaffUser, codes: list[str], owner: Library) -> list[Library]:
    scope = authority_scope(staff)
    chosen = [await library_in_scope(code, scope) for code in dict.fromkeys(codes)]
    return chosen or [owner]


async def create(staff: StaffUser, owner_code: str | None, draft: BooklistDraft, now: datetime) -> BooklistView:
    """A draft list owned by one of my libraries (mine by default), for audience libraries of my scope."""
    draft.check()
    owner = await library_in_scope(owner_code or staff.library.code, authority_scope(staff))
    libraries = await _audience_libraries(staff, draft.library_codes, owner)
    async with in_transaction():
        booklist = await Booklist.create(
            library=owner,
            staff=staff,
            title=draft.title,
            description=draft.description,
            cover_url=draft.cover_url,
            audience=draft.audience,
            min_age_months=draft.min_age_months,
            max_age_months=draft.max_age_months,
            created_at=now,
            updated_at=now,
        )
        await BooklistLibrary.bulk_create([BooklistLibrary(booklist=booklist, library=lib) for lib in libraries])
    return await view(await staff_booklist(staff, booklist.id))


async def staff_booklist(staff: StaffUser, booklist_id: int) -> Booklist:
    """A list (any status) owned by a library in my scope."""
    booklist = await Booklist.get_or_none(id=booklist_id).select_related("library")
    if booklist is None:
        raise BooklistNotFound()
    if not in_scope(booklist.library, authority_scope(staff)):
        raise OutsideScope()
    return booklist


async def _changeable(staff: StaffUser, booklist_id: int) -> Booklist:
    """The list, locked for the rest of the transaction (edits of one list queue), unless it is retired."""
    await staff_booklist(staff, booklist_id)
    booklist = await Booklist.select_for_update().get(id=booklist_id)
    if booklist.status is BooklistStatus.RETIRED:
        raise BooklistRetired()
    return booklist


async def update(staff: StaffUser, booklist_id: int, draft: BooklistDraft, now: datetime) -> BooklistView:
    """Change a list's words, cover and audience (its owning library stays); a published list changes for readers
    at once."""
    draft.check()
    current = await staff_booklist(staff, booklist_id)
    libraries = await _audience_libraries(staff, draft.library_codes, current.library)
    async with in_transaction():
        booklist = await _changeable(staff, booklist_id)
        booklist.title, booklist.description, booklist.cover_url = draft.title, draft.description, draft.cover_url
        booklist.audience = draft.audience
        booklist.min_age_months, booklist.max_age_months = draft.min_age_months, draft.max_age_months
        booklist.updated_at = now
        await booklist.save()
        await BooklistLibrary.filter(booklist_id=booklist_id).delete()
        await BooklistLibrary.bulk_create([BooklistLibrary(booklist_id=booklist_id, library=lib) for lib in libraries])
    return await view(await staff_booklist(staff, booklist_id))


async def set_records(staff: StaffUser, booklist_id: int, chosen: list[tuple[int, str]], now: datetime) -> BooklistView:
    """Make the list exactly these records, in this order, each with its note: adding, removing and reordering in one
    step."""
    record_ids = [record_id for record_id, _ in chosen]
    if len(chosen) > MAX_RECORDS:
        raise BooklistTooLong(most=MAX_RECORDS)
    if len(set(record_ids)) != len(record_ids):
        raise BooklistRecordRepeated()
    if len(await Record.filter(id__in=record_ids).values_list("id", flat=True)) != len(record_ids):
        raise RecordNotFound()
    async with in_transaction():
        booklist = await _changeable(staff, booklist_id)
        if not chosen and booklist.status is BooklistStatus.PUBLISHED:
            raise BooklistEmpty()
        await BooklistEntry.filter(booklist_id=booklist_id).delete()
        await BooklistEntry.bulk_create(
            [
                BooklistEntry(booklist_id=booklist_id, record_id=record_id, position=n, note=note)
                for n, (record_id, note) in enumerate(chosen, start=1)
            ]
        )
        await Booklist.filter(id=booklist_id).update(updated_at=now)
    return await view(await staff_booklist(staff, booklist_id))


async def add_record(staff: StaffUser, booklist_id: int, record_id: int, note: str, now: datetime) -> BooklistView:
    """Put a record at the end of the list, or change its note when it is on the list already."""
    if not await Record.exists(id=record_id):
        raise RecordNotFound()
    async with in_transaction():
        await _changeable(staff, booklist_id)
        entry = await BooklistEntry.get_or_none(booklist_id=booklist_id, record_id=record_id)
        if entry is not None:
            entry.note = note
            await entry.save(update_fields=["note"])
        else:
            positions = await BooklistEntry.filter(booklist_id=booklist_id).values_list("position", flat=True)
            if len(positions) >= MAX_RECORDS:
                raise BooklistTooLong(most=MAX_RECORDS)
            last = max((int(p) for p in positions), default=0)  # type: ignore[call-overload]
            await BooklistEntry.create(booklist_id=booklist_id, record_id=record_id, position=last + 1, note=note)
        await Booklist.filter(id=booklist_id).update(updated_at=now)
    return await view(await staff_booklist(staff, booklist_id))


async def remove_record(staff: StaffUser, booklist_id: int, record_id: int, now: datetime) -> BooklistView:
    """Take a record off the list (a published list keeps at least one)."""
    async with in_transaction():
        booklist = await _changeable(staff, booklist_id)
        entries = await BooklistEntry.filter(booklist_id=booklist_id).count()
        if not await BooklistEntry.filter(booklist_id=booklist_id, record_id=record_id).delete():
            raise BooklistEntryNotFound()
        if entries == 1 and booklist.status is BooklistStatus.PUBLISHED:
            raise BooklistEmpty()
        await Booklist.filter(id=booklist_id).update(updated_at=now)
    return await view(await staff_booklist(staff, booklist_id))


async def publish(staff: StaffUser, booklist_id: int, now: datetime) -> BooklistView:
    """Show the list to readers (again: publishing a published list changes nothing)."""
    async with in_transaction():
        booklist = await _changeable(staff, booklist_id)
        if booklist.status is BooklistStatus.DRAFT:
            if not await BooklistEntry.exists(booklist_id=booklist_id):
                raise BooklistEmpty()
            await Booklist.filter(id=booklist_id).update(
                status=BooklistStatus.PUBLISHED, published_at=now, updated_at=now
            )
    return await view(await staff_booklist(staff, booklist_id))


async def retire(staff: StaffUser, booklist_id: int, now: datetime) -> BooklistView:
    """Take the list away from readers for good; its pushes and their reports stay."""
    await staff_booklist(staff, booklist_id)
    await (
        Booklist.filter(id=booklist_id)
        .exclude(status=BooklistStatus.RETIRED)
        .update(status=BooklistStatus.RETIRED, retired_at=now, updated_at=now)
    )
    return await view(await staff_booklist(staff, booklist_id))


async def staff_view(staff: StaffUser, booklist_id: int) -> BooklistView:
    return await view(await staff_booklist(staff, booklist_id))


async def staff_lists(
    staff: StaffUser, status: BooklistStatus | None, *, limit: int, offset: int
) -> tuple[list[BooklistView], int]:
    """The lists owned by my libraries and below, most recently changed first."""
    lists = Booklist.filter(library__path__startswith=authority_scope(staff))
    if status is not None:
        lists = lists.filter(status=status)
    found, total = await paging.page(lists.order_by("-updated_at", "-id").select_related("library"), limit, offset)
    return await views(found), total


@dataclass(frozen=True, slots=True)
class Listed:
    """A record on a list, with its note and what a search result shows of it (copies on the shelf, the nearest)."""

    entry: BooklistEntry
    hit: Hit


async def _listed(
    booklist_id: int, latitude: float | None, longitude: float | None, *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    found = BooklistEntry.filter(booklist_id=booklist_id).order_by("position", "id").select_related("record")
    page, total = await paging.page(found, limit, offset)
    hits = await availability([entry.record for entry in page], latitude, longitude)
    return [Listed(entry, hit) for entry, hit in zip(page, hits, strict=True)], total


async def staff_entries(staff: StaffUser, booklist_id: int, *, limit: int, offset: int) -> tuple[list[Listed], int]:
    """A list's records (any status) in the curator's order, with their notes."""
    await staff_booklist(staff, booklist_id)
    return await _listed(booklist_id, None, None, limit=limit, offset=offset)


# ---- readers ----


@dataclass(frozen=True, slots=True)
class BrowseQuery:
    library_code: str | None = None  # lists meant for readers of this library
    near: tuple[float, float] | None = None  # (latitude, longitude): lists meant for the libraries nearby
    radius_m: float = 5000
    age_months: int | None = None  # lists for a child this old (or for everyone)
    audience: BooklistAudience | None = None
    limit: int = 20
    offset: int = 0


def _ancestry(library: Library) -> list[int]:
    """The library and every library above it: their lists are meant for its readers too."""
    return [int(part) for part in library.path.strip("/").split("/") if part]


async def browse(query: BrowseQuery) -> tuple[list[BooklistView], int]:
    """Published lists, newest first: meant for a library's readers or for those of the libraries near a point, for
    an audience, or for a child of an age."""
    lists = Booklist.filter(status=BooklistStatus.PUBLISHED)
    places: list[Library] = []
    if query.library_code is not None:
        places.append(await get_library(query.library_code))
    if query.near is not None:
        nearby, _ = await nearest_libraries(*query.near, limit=20, radius_m=query.radius_m)
        places.extend(library for library, _ in nearby)
    if query.library_code is not None or query.near is not None:
        covering = {library_id for place in places for library_id in _ancestry(place)}
        meant = BooklistLibrary.filter(library_id__in=covering).values("booklist_id")
        lists = lists.filter(id__in=Subquery(meant))
    if query.audience is not None:
        lists = lists.filter(audience=query.audience)
    if query.age_months is not None:
        lists = lists.filter(
            Q(audience__not=BooklistAudience.ADULTS),
            Q(min_age_months__isnull=True) | Q(min_age_months__lte=query.age_months),
            Q(max_age_months__isnull=True) | Q(max_age_months__gt=query.age_months),
        )
    found, total = await paging.page(
        lists.order_by("-published_at", "-id").select_related("library"), query.limit, query.offset
    )
    return await views(found), total


async def published(booklist_id: int) -> Booklist:
    booklist = await Booklist.get_or_none(id=booklist_id, status=BooklistStatus.PUBLISHED).select_related("library")
    if booklist is None:
        raise BooklistNotFound()
    return booklist


async def listed(
    booklist_id: int, latitude: float | None, longitude: float | None, *, limit: int, offset: int
) -> tuple[list[Listed], int]:
    """A published list's records in the curator's order, with their notes and availability (and the nearest library
    with a copy on the shelf, given the reader's position)."""
    await published(booklist_id)
    return await _listed(booklist_id, latitude, longitude, limit=limit, offset=offset)


async def open_list(booklist_id: int, viewer: Reader | None, now: datetime) -> BooklistView:
    """A published list; no login needed (a shared link). A logged-in reader's first opening (within the report's
    window) is recorded, and so is their opening of each push that told them of it within the window."""
    booklist = await published(booklist_id)
    if viewer is not None:
        await BooklistOpen.bulk_create(
            [BooklistOpen(booklist_id=booklist_id, reader_id=viewer.id, opened_at=now)], ignore_conflicts=True
        )
        pushes = BooklistPush.filter(
            booklist_id=booklist_id, pushed_at__lte=now, pushed_at__gt=now - timedelta(days=REPORT_DAYS)
        ).values("id")
        await BooklistPushReader.filter(
            push_id__in=Subquery(pushes), recipient_id=viewer.id, opened_at__isnull=True
        ).update(opened_at=now)
    return await view(booklist)


# ---- pushes ----

LIST_REPORT = reports.PushReport(
    BooklistPush, BooklistPushReader, records="p.record_ids", opened="pr.opened_at IS NOT NULL"
)
"""A list's push: every card was pushed the records listed then; opening is opening the list (`open_list`)."""


def _month(today: date, months_back: int) -> str:
    """The birth month (YYYY-MM) of a child who is `months_back` months old on `today` (`ages.age_in_months`)."""
    index = today.year * 12 + today.month - 1 - months_back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


async def push_audience(staff: StaffUser, booklist_id: int, today: date) -> tuple[Booklist, dict[int, int]]:
    """A published list and the cards a push of it reaches, each with whom to tell (a child's guardian): readers whose
    home library (a child's, else the guardian's) is under one of the list's audience libraries and in the pusher's
    scope, of the list's audience, children's ages counted on `today` (the network's calendar)."""
    booklist = await Booklist.get_or_none(id=booklist_id).select_related("library")
    if booklist is None:
        raise BooklistNotFound()
    if booklist.status is not BooklistStatus.PUBLISHED:
        raise BooklistNotPublished()
    scope = authority_scope(staff)
    prefixes = set()
    for meant in await BooklistLibrary.filter(booklist_id=booklist_id).select_related("library"):
        if meant.library.path.startswith(scope):
            prefixes.add(meant.library.path)
        elif scope.startswith(meant.library.path):
            prefixes.add(scope)  # a list for a wider audience: only the readers the pusher serves
    if not prefixes:
        raise OutsideScope()
    conditions: list[str] = []
    values: list[object] = []  # $2 on: $1 is the libraries' paths
    if booklist.audience is BooklistAudience.ADULTS:
        conditions.append("AND r.reader_type = 'adult'")
    elif booklist.audience is BooklistAudience.CHILDREN:
        conditions.append("AND r.reader_type = 'child'")
        if booklist.min_age_months is not None:
            values.append(_month(today, booklist.min_age_months))
            conditions.append(f"AND r.birth_month <= ${len(values) + 1}")
        if booklist.max_age_months is not None:
            values.append(_month(today, booklist.max_age_months))
            conditions.append(f"AND r.birth_month > ${len(values) + 1}")
    return booklist, await cards_under(prefixes, conditions, values)


_CARDS_UNDER = (
    "SELECT r.id, COALESCE(r.guardian_id, r.id) AS recipient FROM reader r "
    "LEFT JOIN library home ON home.id = r.home_library_id "
    "LEFT JOIN reader g ON g.id = r.guardian_id "
    "LEFT JOIN library guardian_home ON guardian_home.id = g.home_library_id "
    "WHERE COALESCE(home.path, guardian_home.path) LIKE ANY($1::text[])"
)


async def cards_under(
    paths: Iterable[str], conditions: Sequence[str] = (), values: Sequence[object] = ()
) -> dict[int, int]:
    """The cards whose library (a child's card: its own home library, else its guardian's) is one of `paths` or below
    it, each with whom to tell of it (a child's guardian); `conditions` narrow them (SQL on the card `r`, their values
    numbered from `$2`)."""
    patterns = [f"{path}%" for path in sorted(set(paths))]  # paths are digits and slashes
    rows = await connections.get("default").execute_query_dict(
        " ".join([_CARDS_UNDER, *conditions]), [patterns, *values]
    )
    return {int(row["id"]): int(row["recipient"]) for row in rows}


async def record_push(
    staff: StaffUser, booklist: Booklist, message_id: int, cards: dict[int, int], now: datetime
) -> BooklistPush:
    """Keep what a push reached (inside the transaction that sends its message): the cards, who was told, and the
    records listed then."""
    record_ids = (
        await BooklistEntry.filter(booklist_id=booklist.id).order_by("position").values_list("record_id", flat=True)
    )
    push = await BooklistPush.create(
        booklist=booklist,
        library=staff.library,
        staff=staff,
        message_id=message_id,
        record_ids=[int(r) for r in record_ids],  # type: ignore[call-overload]
        recipients=len(set(cards.values())),
        pushed_at=now,
    )
    told = sorted(cards.items())
    for start in range(0, len(told), _BATCH):
        await BooklistPushReader.bulk_create(
            [
                BooklistPushReader(push_id=push.id, reader_id=card, recipient_id=recipient)
                for card, recipient in told[start : start + _BATCH]
            ]
        )
    return push


async def loan_opened(event: LoanOpened) -> None:
    """A checkout of a listed book within the window of a push that reached the card (or the guardian holding it)."""
    await reports.mark_loan(LIST_REPORT, event)


async def pushes(staff: StaffUser, booklist_id: int, *, limit: int, offset: int) -> tuple[list[BooklistPush], int]:
    """A list's pushes made by my libraries and below, newest first."""
    if not await Booklist.exists(id=booklist_id):
        raise BooklistNotFound()
    found = BooklistPush.filter(booklist_id=booklist_id, library__path__startswith=authority_scope(staff))
    return await paging.page(found.order_by("-pushed_at", "-id"), limit, offset)


async def staff_push(staff: StaffUser, booklist_id: int, push_id: int) -> BooklistPush:
    """A push of the list by one of my libraries or below."""
    push = await BooklistPush.get_or_none(id=push_id, booklist_id=booklist_id).select_related("library")
    if push is None:
        raise BooklistPushNotFound()
    if not in_scope(push.library, authority_scope(staff)):
        raise OutsideScope()
    return push


async def outcome(push: BooklistPush) -> PushOutcome:
    """What a push achieved: as kept when its window closed, or counted now while it is open."""
    return await reports.outcome(LIST_REPORT, push)


async def settle_reports(now: datetime) -> int:
    """The pushes whose window has closed keep their counts, and their rows naming readers (who opened the list, who
    borrowed a listed book, and when) are deleted (`reports.settle`). Returns the pushes settled."""
    return await reports.settle(LIST_REPORT, now)


async def purge_opens(now: datetime) -> int:
    """Openings older than the report's window lose their row, which names the reader, and are only counted on their
    list; no push's report reads them (a push marks its own readers' openings). One statement, so a run stopped half
    way counts nothing twice. Returns the rows purged."""
    rows = await connections.get("default").execute_query_dict(
        "WITH gone AS (DELETE FROM booklist_open WHERE opened_at <= $1 RETURNING booklist_id), "
        "counted AS (SELECT booklist_id, count(*) AS n FROM gone GROUP BY booklist_id), "
        "kept AS (UPDATE booklist b SET opened_earlier = b.opened_earlier + counted.n FROM counted "
        "WHERE b.id = counted.booklist_id RETURNING counted.n) "
        "SELECT COALESCE(sum(n), 0)::int AS purged FROM kept",
        [now - timedelta(days=REPORT_DAYS)],
    )
    return int(rows[0]["purged"])
