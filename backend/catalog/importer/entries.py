"""What a reader of a file yields: each record read, with its copies, or a problem standing for one it skipped."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.catalog.cataloguing import RecordDraft
from backend.catalog.models import ItemType

# Bytes a reader takes from the file at a time.
_READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """Something of the file that was skipped or changed; `position` is the 1-based record number (MARC) or the line
    number (CSV)."""

    position: int
    reason: str


@dataclass(slots=True)
class _CopyDraft:
    barcode: str
    home_library: str
    current_library: str  # "": the file does not say where the copy is now
    shelf_location: str
    item_type: ItemType
    position: int
    label: str  # how the problem report names this copy, e.g. "copy 2 (952)"
    home_library_id: int = 0  # the codes resolved, once checked
    current_library_id: int | None = None


@dataclass(slots=True)
class _Entry:
    """One record read from the file, with its copies and the notes (ISBN ignored, copy skipped) about it."""

    position: int
    record: RecordDraft
    copies: list[_CopyDraft]
    notes: list[ImportProblem] = field(default_factory=list)
    key: tuple[str, ...] = field(init=False)  # the record's identity, worked out once

    def __post_init__(self) -> None:
        self.key = self.record.identity()


# A reader yields entries, and problems standing for records it had to skip.
_Item = _Entry | ImportProblem
