"""An import from end to end: the file read, and its words segmented, in a process of its own while this one writes."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import queue
import traceback
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any, Literal

from backend.catalog import terms
from backend.catalog.errors import ImportFileUnreadable
from backend.catalog.importer.batches import _Batch, _Batches, _Libraries
from backend.catalog.importer.csv_rows import _read_csv
from backend.catalog.importer.entries import _Item
from backend.catalog.importer.iso2709 import _count_iso2709_records, _read_iso2709
from backend.catalog.importer.marcxml import _read_marcxml
from backend.catalog.importer.writer import ImportProgress, ImportSummary, _Writer
from backend.errors import DomainError

FORMATS = ("marc", "marcxml", "csv")
_EXTENSIONS = {".mrc": "marc", ".marc": "marc", ".iso": "marc", ".xml": "marcxml", ".csv": "csv"}


async def import_records(
    path: Path,
    *,
    format: str | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    on_batch: Callable[[ImportProgress], Awaitable[None]] | None = None,
    scope_path: str | None = None,
) -> ImportSummary:
    """Import the records and copies of a MARC (ISO 2709 or MARCXML, MARC21 or CNMARC) or CSV file.

    `format` is "marc", "marcxml" or "csv"; None infers it from the extension (.mrc/.marc/.iso, .xml, .csv).
    `progress(done, total)` is called after each batch with the records (CSV: rows) read so far and, when it is
    cheap to know, their total; `on_batch` is awaited after each batch with the counts so far and the problems the
    batch found (an import job keeps them where staff can read them while it runs). Records that cannot be read, and
    copies at unknown libraries or without a barcode, are skipped and reported in the summary with their position;
    everything else is imported. With `scope_path` (the importing staff member's library path) copies are placed only
    at the libraries under it, and existing copies changed only where they are now under it; with or without it, a
    copy in circulation is not changed (cataloguing.refusal_to_change, the counter's rule); those are reported.

    A large file is read in a process of its own (started with multiprocessing's spawn method): a script calling
    this must keep its top level behind `if __name__ == "__main__":`.
    """
    kind = format_of(path, format)
    if not await asyncio.to_thread(path.is_file):
        raise ImportFileUnreadable(path=str(path), reason="no such file")
    total = await asyncio.to_thread(_count_iso2709_records, path) if kind == "marc" else None
    libraries = await _Libraries.load(scope_path)
    size = (await asyncio.to_thread(path.stat)).st_size
    reader = (
        _ReaderProcess(path, kind, libraries) if size >= READER_PROCESS_MIN_BYTES else _Reader(path, kind, libraries)
    )
    writer = _Writer(libraries)
    # What the process holds already lives on (pypinyin's dictionaries above all): set aside for the import, it is not
    # walked again at every full collection of the garbage the batches leave, a third of this process's work.
    gc.freeze()
    try:
        while (read := await reader.next()) is not None:
            batch, documents = read
            await writer.write(batch, documents)
            if progress is not None:
                progress(batch.read, total)
            if on_batch is not None:
                await on_batch(writer.progress(batch.read, total))
    finally:
        gc.unfreeze()
        await reader.close()
    return writer.summary("line" if kind == "csv" else "record")


# Reading a file (parsing MARC or CSV, segmenting the records' words for search with jieba and pypinyin) costs more
# CPU than writing it, and both need the GIL. From this size on, the start of a process of its own
# (about a second: imports and jieba's dictionary) is repaid: the reading runs on another core, the writing here.
READER_PROCESS_MIN_BYTES = 256 * 1024
# Batches the reading process may be ahead of the writing: enough to keep both busy, few enough to bound memory.
_BATCHES_AHEAD = 4

# A batch read, and the search tokens of its records (in the order of batch.groups), once segmented.
_Read = tuple[_Batch, Awaitable[list[terms.SearchDocument]]]


class _Reader:
    """Reads the file in a thread, a batch ahead of the writing (the thread has the GIL while the database works),
    and segments each batch's words in another."""

    def __init__(self, path: Path, kind: str, libraries: _Libraries) -> None:
        self._items = _READERS[kind](path)
        self._batches = _Batches(self._items, libraries)
        self._ahead: asyncio.Task[_Read | None] | None = None

    async def next(self) -> _Read | None:
        read = await (self._ahead or self._read())
        self._ahead = asyncio.create_task(self._read()) if read is not None else None
        return read

    async def _read(self) -> _Read | None:
        batch = await asyncio.to_thread(self._batches.next)
        if batch is None:
            return None
        return batch, asyncio.ensure_future(asyncio.to_thread(_search_documents, batch))

    async def close(self) -> None:
        if self._ahead is not None:
            await asyncio.wait([self._ahead])  # the thread must be done with the file before it is closed
            if not self._ahead.cancelled():
                self._ahead.exception()  # the writing's error is the one to report
        self._items.close()


class _ReaderProcess:
    """Reads the file, and segments each batch's words, in a process of its own, up to _BATCHES_AHEAD batches ahead
    of the writing."""

    def __init__(self, path: Path, kind: str, libraries: _Libraries) -> None:
        # spawn, not fork: this process has threads (the database driver's, asyncio's) a fork would copy in the
        # middle of whatever they hold.
        context = multiprocessing.get_context("spawn")
        self._queue: multiprocessing.Queue[_Message] = context.Queue(maxsize=_BATCHES_AHEAD)
        self._process = context.Process(
            target=_read_in_process,
            args=(path, kind, libraries.ids, libraries.in_scope, self._queue),
            name="shuxiang-import-reader",
        )
        self._process.start()

    async def next(self) -> _Read | None:
        message = await asyncio.to_thread(self._receive)
        if message[0] == "batch":
            batch, documents = message[1], message[2]
            done: asyncio.Future[list[terms.SearchDocument]] = asyncio.get_running_loop().create_future()
            done.set_result(documents)
            return batch, done
        if message[0] == "end":
            return None
        if message[0] == "refused":  # a domain error (the file cannot be read): raised here as it would have been
            raise message[1](**message[2])
        raise RuntimeError(f"reading the file failed:\n{message[1]}")

    def _receive(self) -> _Message:
        while True:
            try:
                return self._queue.get(timeout=1.0)
            except queue.Empty:
                if not self._process.is_alive():
                    raise RuntimeError(
                        f"the process reading the file ended unexpectedly (exit code {self._process.exitcode})"
                    ) from None

    async def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()  # the writing stopped early: what it read ahead is not wanted
        await asyncio.to_thread(self._process.join)
        self._queue.close()


# What the reading process sends: a batch with its search tokens, the end, a domain error (its class and
# parameters: domain errors are made from keywords, which pickle cannot do), or any other error's traceback.
_Message = (
    tuple[Literal["batch"], _Batch, list[terms.SearchDocument]]
    | tuple[Literal["end"]]
    | tuple[Literal["refused"], type[DomainError], dict[str, Any]]
    | tuple[Literal["failed"], str]
)


def _read_in_process(
    path: Path,
    kind: str,
    libraries: dict[str, int],
    in_scope: frozenset[int] | None,
    out: multiprocessing.Queue[_Message],
) -> None:
    """The reading process: the batches of the file, each with its search tokens, then the end."""
    try:
        batches = _Batches(_READERS[kind](path), _Libraries(libraries, in_scope))
        while (batch := batches.next()) is not None:
            out.put(("batch", batch, _search_documents(batch)))
        out.put(("end",))
    except DomainError as exc:
        out.put(("refused", type(exc), exc.params))
    except BaseException as exc:
        out.put(("failed", "".join(traceback.format_exception(exc))))
    out.close()
    out.join_thread()  # everything put is sent before the process ends


def _search_documents(batch: _Batch) -> list[terms.SearchDocument]:
    """The search tokens of the batch's records, in the order of batch.groups, made from the fields
    backend.catalog.search makes them from."""
    return [
        terms.document_of(
            title=draft.title or "",
            subtitle=draft.subtitle or "",
            authors=[author["name"] for author in draft.authors or []],
            subjects=draft.subjects or [],
            summary=draft.summary or "",
        )
        for draft in (group.draft for group in batch.groups.values())
    ]


def format_of(path: Path, format: str | None) -> str:
    """The format to read the file as: `format` when given, else the one its extension names; raises
    ImportFileUnreadable for neither."""
    if format is None:
        kind = _EXTENSIONS.get(path.suffix.lower())
        if kind is None:
            reason = f"unknown extension {path.suffix!r}; name the format ({', '.join(FORMATS)})"
            raise ImportFileUnreadable(path=str(path), reason=reason)
        return kind
    if format not in FORMATS:
        raise ImportFileUnreadable(path=str(path), reason=f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    return format


_READERS: dict[str, Callable[[Path], Generator[_Item, None, None]]] = {
    "marc": _read_iso2709,
    "marcxml": _read_marcxml,
    "csv": _read_csv,
}
