"""The entries read cut into batches, one transaction each, their copies checked against the network's libraries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from backend.catalog.cataloguing import RecordDraft, refusal_to_change
from backend.catalog.importer.entries import ImportProblem, _CopyDraft, _Entry, _Item
from backend.catalog.importer.values import _BARCODE_MAX
from backend.catalog.models import Copy
from backend.network.models import Library

BATCH_SIZE = 500


class _Libraries:
    """The libraries of the network by code; a code of the file in other letter case still finds its library.
    `in_scope` are the ids of the libraries the importing staff manage (None: the whole network, as from the shell).
    The paths, and the scope's path, are the writer's, to judge the copies the file finds again (the reading
    process only needs the codes)."""

    def __init__(
        self,
        ids: dict[str, int],
        in_scope: frozenset[int] | None = None,
        *,
        paths: dict[int, str] | None = None,
        scope_path: str | None = None,
    ) -> None:
        self.ids = ids
        self.in_scope = in_scope
        self._folded = {code.casefold(): library_id for code, library_id in ids.items()}
        self._codes = {library_id: code for code, library_id in ids.items()}
        self._paths = paths or {}
        self._scope_path = scope_path

    @classmethod
    async def load(cls, scope_path: str | None = None) -> _Libraries:
        # A network has hundreds of libraries at most: one query, then every code of the file is a dictionary lookup.
        rows = await Library.all().values_list("code", "id", "path")
        ids = {code: library_id for code, library_id, _ in rows}
        paths = {library_id: path for _, library_id, path in rows}
        in_scope = (
            None if scope_path is None else frozenset(i for i, path in paths.items() if path.startswith(scope_path))
        )
        return cls(ids, in_scope, paths=paths, scope_path=scope_path)

    def id_of(self, code: str) -> int | None:
        found = self.ids.get(code)
        return found if found is not None else self._folded.get(code.casefold())

    def manages(self, library_id: int) -> bool:
        return self.in_scope is None or library_id in self.in_scope

    def refusal_to_change(self, copy: Copy) -> str | None:
        """Why the file may not change this existing copy, as a problem's words, or None when it may: the counter's
        rule (cataloguing.refusal_to_change), with the counter's message and code."""
        # A library made since the import began has no path here: outside any scope but the whole network's.
        path = self._paths.get(copy.current_library_id, "")
        refusal = refusal_to_change(copy.status, path, self._scope_path)
        if refusal is None:
            return None
        where = self._codes.get(copy.current_library_id, str(copy.current_library_id))
        return f"barcode {copy.barcode!r} is at library {where!r}: {refusal.message('en')} ({refusal.code})"

    def check(self, entry: _Entry) -> None:
        """Drop the copies that cannot be placed, each with a note, in the order of the file."""
        kept = []
        for draft in entry.copies:
            reason = self._problem(draft)
            if reason is None:
                kept.append(draft)
            else:
                entry.notes.append(ImportProblem(draft.position, f"{draft.label} skipped: {reason}"))
        entry.copies = kept

    def _problem(self, draft: _CopyDraft) -> str | None:
        if not draft.barcode:
            return "it has no barcode"
        if len(draft.barcode) > _BARCODE_MAX:
            return f"its barcode {draft.barcode!r} is longer than {_BARCODE_MAX} characters"
        if not draft.home_library:
            return "it names no library"
        for code in (draft.home_library, draft.current_library):
            if not code:
                continue
            library_id = self.id_of(code)
            if library_id is None:
                return f"library code {code!r} is not a library of the network"
            if not self.manages(library_id):
                # As at the counter (cataloguing.add_copy): staff place copies only in the libraries they manage.
                return f"library {code!r} is outside the libraries you manage"
        draft.home_library_id = self.id_of(draft.home_library) or 0
        draft.current_library_id = self.id_of(draft.current_library) if draft.current_library else None
        return None


@dataclass(slots=True)
class _Batch:
    entries: list[_Entry]
    skipped: list[ImportProblem]
    read: int = 0  # entries and skipped records read from the start of the file to the end of this batch
    groups: dict[tuple[str, ...], _Group] = field(default_factory=dict)


class _Batches:
    """Cuts the stream of entries into batches, never between consecutive entries of one record (CSV rows of its
    copies), so that a record is written, and counted, once."""

    def __init__(self, items: Iterator[_Item], libraries: _Libraries) -> None:
        self._items = items
        self._libraries = libraries
        self._held: _Item | None = None
        self.read = 0

    def next(self) -> _Batch | None:
        batch = _Batch([], [])
        while True:
            item = self._held if self._held is not None else next(self._items, None)
            self._held = None
            if item is None:
                break
            if len(batch.entries) >= BATCH_SIZE and isinstance(item, _Entry) and item.key != batch.entries[-1].key:
                self._held = item
                break
            self.read += 1
            if isinstance(item, _Entry):
                self._libraries.check(item)
                batch.entries.append(item)
            else:
                batch.skipped.append(item)
            if len(batch.skipped) + len(batch.entries) >= 4 * BATCH_SIZE:  # a long run of unreadable records
                break
        batch.read = self.read
        batch.groups = _groups(batch.entries)
        return batch if batch.entries or batch.skipped else None


@dataclass(slots=True)
class _Group:
    """The entries of one record within a batch."""

    draft: RecordDraft
    copies: list[_CopyDraft]
    record_id: int | None = None  # once matched or created


def _groups(entries: list[_Entry]) -> dict[tuple[str, ...], _Group]:
    """The entries of each record, their drafts merged in the order of the file."""
    groups: dict[tuple[str, ...], _Group] = {}
    for entry in entries:
        group = groups.get(entry.key)
        if group is None:
            # A copy to merge into: should the batch fail and be retried entry by entry, each still has its own.
            groups[entry.key] = _Group(replace(entry.record), list(entry.copies))
        else:
            group.draft.merge(entry.record)
            group.copies += entry.copies
    return groups
