"""Staff cataloguing: adding and correcting records, adding copies, moving them between libraries, withdrawing."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from backend.catalog.barcodes import normalise_barcode
from backend.catalog.errors import (
    BarcodeTaken,
    CopyInCirculation,
    CopyNotFound,
    RecordIsbnTaken,
    RecordNotFound,
    RecordTitleRequired,
)
from backend.catalog.isbn import normalise_isbn
from backend.catalog.models import Copy, CopyStatus, ItemType, Record
from backend.catalog.search import index_records, refresh_holdings
from backend.errors import DomainError
from backend.network.errors import OutsideScope
from backend.network.services import get_library, library_in_scope

# A copy out with a reader or on its way somewhere belongs to circulation until it is back on a shelf.
CIRCULATING = frozenset(
    {CopyStatus.ON_LOAN, CopyStatus.IN_TRANSIT, CopyStatus.ON_HOLD_SHELF, CopyStatus.IN_DELIVERY}
)


def refusal_to_change(status: CopyStatus, current_library_path: str, scope_path: str | None) -> DomainError | None:
    """Why staff whose scope is `scope_path` may not change an existing copy (move, withdraw, or catalogue it again
    from a file), or None when they may: the one rule of the counter and of the import. Staff change the copies
    at their own libraries, by where a copy is now, not its home (a copy another library holds is in that library's
    hands), and none in circulation, which alone moves it until it is back on a shelf. A scope of None is the
    operator's shell: the whole network, yet circulating copies are still refused."""
    if scope_path is not None and not current_library_path.startswith(scope_path):  # network.services.in_scope
        return OutsideScope()
    if status in CIRCULATING:
        return CopyInCirculation(status=status.value)
    return None


@dataclass(slots=True)
class RecordDraft:
    """A record's bibliographic fields; None leaves a field as it is: in a correction, and in an import that finds
    the record again (an empty value of the file does not erase what the catalogue has)."""

    isbn: str | None = None
    title: str | None = None
    subtitle: str | None = None
    authors: list[dict[str, str]] | None = None
    publisher: str | None = None
    year: int | None = None
    clc_class: str | None = None
    subjects: list[str] | None = None
    language: str | None = None
    summary: str | None = None
    cover_url: str | None = None
    audience_min_age: int | None = None
    audience_max_age: int | None = None

    def fields(self) -> dict[str, object]:
        """The model fields to set: ISBN normalised to ISBN-13 (an empty one removes it), the rest as given."""
        values: dict[str, object] = {
            name: value for name in _DRAFT_FIELDS if (value := getattr(self, name)) is not None
        }
        if (isbn := values.pop("isbn", None)) is not None:
            values["isbn13"] = normalise_isbn(str(isbn)) if isbn else None
        return values

    def identity(self) -> tuple[str, ...]:
        """How the union catalogue recognises the title again: by its ISBN-13, else by its exact title and first
        author. Raises InvalidIsbn for an ISBN that is not valid."""
        if self.isbn:
            return ("isbn", normalise_isbn(self.isbn))
        return ("title", self.title or "", self.authors[0].get("name", "") if self.authors else "")

    def merge(self, later: RecordDraft) -> None:
        """The same record described again (another CSV row, a duplicate MARC record): what `later` gives wins,
        what it leaves out does not erase."""
        for name in _DRAFT_FIELDS:
            value = getattr(later, name)
            if value is not None:
                setattr(self, name, value)


_DRAFT_FIELDS = tuple(f.name for f in dataclasses.fields(RecordDraft))


async def add_record(draft: RecordDraft) -> Record:
    """Catalogue a new title; an ISBN already in the union catalogue is refused (add copies to that record)."""
    if not draft.title:
        raise RecordTitleRequired()
    record = await _saved(Record(**draft.fields()))
    await index_records([record.id])
    return record


async def correct_record(record_id: int, draft: RecordDraft) -> Record:
    record = await Record.get_or_none(id=record_id)
    if record is None:
        raise RecordNotFound()
    record.update_from_dict(draft.fields())
    await _saved(record)
    await index_records([record.id])
    return record


async def _saved(record: Record) -> Record:
    try:
        await record.save()
    except IntegrityError as exc:  # the unique ISBN: concurrent or repeated cataloguing of one title
        existing = await Record.get(isbn13=record.isbn13)
        raise RecordIsbnTaken(isbn=record.isbn13, record_id=existing.id) from exc
    return record


async def add_copy(
    record_id: int,
    *,
    barcode: str,
    library_code: str,
    shelf_location: str,
    item_type: ItemType,
    floating: bool,
    scope_path: str,
) -> Copy:
    """A new item at a library in the staff member's scope, ready on the shelf."""
    barcode = normalise_barcode(barcode)
    library = await library_in_scope(library_code, scope_path)
    if not await Record.exists(id=record_id):
        raise RecordNotFound()
    try:
        copy = await Copy.create(
            barcode=barcode,
            record_id=record_id,
            home_library=library,
            current_library=library,
            shelf_location=shelf_location,
            item_type=item_type,
            floating=floating,
        )
    except IntegrityError as exc:
        raise BarcodeTaken(barcode=barcode) from exc
    await refresh_holdings([record_id])
    return await Copy.get(id=copy.id).select_related("current_library", "home_library")


async def _copy(barcode: str) -> Copy:
    barcode = normalise_barcode(barcode)
    copy = await Copy.get_or_none(barcode=barcode).select_related("current_library", "home_library")
    if copy is None:
        raise CopyNotFound(barcode=barcode)
    return copy


async def _changeable_copy(barcode: str, scope_path: str) -> Copy:
    copy = await _copy(barcode)
    if (refusal := refusal_to_change(copy.status, copy.current_library.path, scope_path)) is not None:
        raise refusal
    return copy


async def move_copy(barcode: str, library_code: str, *, scope_path: str) -> Copy:
    """Transfer a copy to another library of the network (it becomes that library's stock). Only staff of the
    library that has it may send it; the destination may be any library."""
    copy = await _changeable_copy(barcode, scope_path)
    destination = await get_library(library_code)
    await _update_unless_circulating(copy, home_library_id=destination.id, current_library_id=destination.id)
    return await _copy(barcode)


async def withdraw_copy(barcode: str, *, scope_path: str) -> Copy:
    """Take a copy out of the collection (worn, lost for good, weeded); readers stop seeing it."""
    copy = await _changeable_copy(barcode, scope_path)
    await _update_unless_circulating(copy, status=CopyStatus.WITHDRAWN)
    return await _copy(barcode)


async def _update_unless_circulating(copy: Copy, **changes: object) -> None:
    # One conditional UPDATE: a checkout racing with the move or the withdrawal cannot be overwritten.
    if not await Copy.filter(id=copy.id).exclude(status__in=list(CIRCULATING)).update(**changes):
        current = await Copy.get(id=copy.id)
        raise CopyInCirculation(status=current.status.value)
    await refresh_holdings([copy.record_id])  # where readers find it, or whether they still do
