"""Catalogue files staff upload, imported by the worker as a job whose counts and problems can be read while it runs."""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts.models import StaffUser
from backend.catalog.errors import (
    ImportFailed,
    ImportFileEmpty,
    ImportFileNameInvalid,
    ImportFileUnreadable,
    ImportInterrupted,
    ImportNotFound,
    ImportTimedOut,
)
from backend.catalog.importer import ImportProgress, format_of, import_records
from backend.catalog.models import ImportJob, ImportJobProblem, ImportStatus, ImportUploadChunk
from backend.errors import DomainError
from backend.outages import is_outage
from backend.spreadsheets import csv_document

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""An upload is stored in rows of this many bytes: neither the API nor the worker holds more of it at a time."""
KEPT_PROBLEMS = 10_000
"""The problems of an import kept for staff to read (all are counted): a file whose every line is wrong says so in
its first ten thousand."""
FILE_NAME_MAX = 200
REASON_MAX = 1000
SILENT_FOR = timedelta(minutes=10)
"""A running import that has written nothing for this long (a batch takes seconds) has lost its run: the worker was
killed, or arq ended it at the timeout without its run saying so. arq would run a killed worker's job again only once
the timeout has passed (an hour by default): the librarian is told sooner, and uploads the file again."""
_TIMEOUT_SLACK = timedelta(seconds=5)
"""arq's timeout counts from the moment it starts the job, a little before its run is recorded as started."""
REQUEUE_AFTER = timedelta(minutes=2)
"""A queued import not started after this long is queued again (its enqueue may have met a Redis outage)."""
_REQUEUED_AT_ONCE = 100

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_OVER = (ImportStatus.FINISHED, ImportStatus.FAILED)


class ImportQueue(Protocol):
    """Where an accepted upload is queued for the worker."""

    async def enqueue_import(self, import_id: int) -> None:
        """Queue the import; queueing one already queued, running or just done queues nothing."""


class Upload(Protocol):
    """The uploaded file, read a piece at a time (Litestar's UploadFile)."""

    async def read(self, size: int = -1) -> bytes: ...


async def accept_upload(
    staff: StaffUser, *, file_name: str, format: str | None, upload: Upload, queue: ImportQueue, now: datetime
) -> ImportJob:
    """Store an uploaded catalogue file in the database, where every worker machine can read it, and queue its
    import. The format is the one given, else the one the file name's extension says (refused when neither)."""
    name = _file_name(file_name)
    kind = format_of(Path(name), format)
    async with in_transaction():
        job = await ImportJob.create(
            staff=staff, library=staff.library, file_name=name, format=kind, size_bytes=0, created_at=now
        )
        size = sequence = 0
        while data := await upload.read(CHUNK_BYTES):
            await ImportUploadChunk.create(job=job, sequence=sequence, data=data)
            sequence, size = sequence + 1, size + len(data)
        if not size:
            raise ImportFileEmpty()
        job.size_bytes = size
        await job.save(update_fields=["size_bytes"])
    await enqueue(queue, job.id)
    return job


async def enqueue(queue: ImportQueue, import_id: int) -> None:
    try:
        await queue.enqueue_import(import_id)
    except Exception as exc:
        if not is_outage(exc):
            raise
        # The upload is stored: the worker's sweep (look_after) queues it once Redis answers again.
        log.warning("import %d stored but not queued (%s); the sweep will queue it", import_id, type(exc).__name__)


def _file_name(given: str) -> str:
    name = re.split(r"[\\/]", given)[-1].strip()  # some browsers send the whole path
    if not name or len(name) > FILE_NAME_MAX or _CONTROL.search(name):
        raise ImportFileNameInvalid(max_length=FILE_NAME_MAX)
    return name


async def get_import(staff: StaffUser, import_id: int) -> ImportJob:
    """An import of a library in the staff member's scope; anyone else's is not found."""
    job = (
        await ImportJob.filter(id=import_id, library__path__startswith=staff.library.path)
        .select_related("library", "staff")
        .first()
    )
    if job is None:
        raise ImportNotFound()
    return job


async def list_imports(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[ImportJob], int]:
    """The imports of the libraries in the staff member's scope, newest first, and how many there are."""
    jobs = ImportJob.filter(library__path__startswith=staff.library.path)
    return await paging.page(jobs.order_by("-id").select_related("library", "staff"), limit, offset)


async def list_problems(
    staff: StaffUser, import_id: int, *, limit: int, offset: int
) -> tuple[list[ImportJobProblem], int]:
    """The problems kept of an import so far, in the order of the file, and how many are kept."""
    job = await get_import(staff, import_id)
    return await paging.page(ImportJobProblem.filter(job_id=job.id).order_by("position", "id"), limit, offset)


async def problems_csv(staff: StaffUser, import_id: int) -> str:
    """The problems kept of an import so far as a CSV file, for the librarian to correct the file from."""
    job = await get_import(staff, import_id)
    rows = await ImportJobProblem.filter(job_id=job.id).order_by("position", "id").values_list("position", "reason")
    position_name = "line" if job.format == "csv" else "record"
    return csv_document([position_name, "problem"], rows)


async def run_import(import_id: int, now: Callable[[], datetime], run_limit: timedelta) -> ImportJob | None:
    """Import a stored upload (the worker's job, which arq ends at `run_limit`), writing its counts and new problems
    after every batch. A run after a worker died, or after an outage, starts the file again: records are found again
    by ISBN and copies by barcode, so nothing is duplicated, and the counts and problems are the new run's. An import
    already over is left as it is; None when there is nothing to run."""
    began = now()
    job = await _start(import_id, began)
    if job is None:
        return None
    run = _Run(job, now)
    try:
        with tempfile.TemporaryDirectory(prefix="shuxiang-import-") as directory:
            # The format was settled at upload: the name on this machine need not tell it.
            path = Path(directory) / f"upload.{job.format}"
            await _write_upload(job.id, path)
            await import_records(path, format=job.format, scope_path=job.library.path, on_batch=run.record)
    except _Superseded:
        log.warning("import %d: run %d stopped, the job is no longer its own", job.id, run.attempt)
        return None
    except asyncio.CancelledError:
        # arq ends a run at its timeout by cancelling it (asyncio.wait_for, which waits for this to finish), and
        # does not run it again: the same file would time out again. A run cancelled sooner is a worker stopping,
        # and arq runs it again: it stays running.
        if now() - began >= run_limit - _TIMEOUT_SLACK:
            await run.end_quietly(ImportStatus.FAILED, _timed_out(run_limit))
        raise
    except ImportFileUnreadable as exc:
        # Its reason names the copy on this machine; the librarian knows the file by the name they uploaded.
        await run.end(ImportStatus.FAILED, ImportFileUnreadable(path=job.file_name, reason=exc.params["reason"]))
    except Exception as exc:
        if not is_outage(exc):  # an outage: left running, the job is tried again (worker._outlasting)
            await run.end(ImportStatus.FAILED, exc if isinstance(exc, DomainError) else ImportFailed())
        raise
    else:
        await run.end(ImportStatus.FINISHED)
    return await ImportJob.get(id=job.id)


async def _start(import_id: int, now: datetime) -> ImportJob | None:
    async with in_transaction():
        job = await ImportJob.filter(id=import_id).select_for_update().first()
        if job is None or job.status in _OVER:
            return None
        await ImportJobProblem.filter(job_id=job.id).delete()
        await ImportJob.filter(id=job.id).update(
            status=ImportStatus.RUNNING,
            attempts=job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            records_read=0,
            records_total=None,
            records_created=0,
            records_updated=0,
            copies_created=0,
            copies_updated=0,
            problem_count=0,
        )
    return await ImportJob.get(id=import_id).select_related("library")


async def _write_upload(import_id: int, path: Path) -> None:
    """The stored upload into a file of this machine, a piece at a time."""
    pieces = await ImportUploadChunk.filter(job_id=import_id).order_by("sequence").values_list("id", flat=True)
    with await asyncio.to_thread(path.open, "wb") as out:
        for piece in pieces:
            data = await ImportUploadChunk.filter(id=piece).values_list("data", flat=True)
            await asyncio.to_thread(out.write, bytes(data[0]))


class _Superseded(Exception):
    """The job was declared over, or another run took it, while this run was still writing."""


class _Run:
    """One run of an import: its writes apply only while the job is still this run's."""

    def __init__(self, job: ImportJob, now: Callable[[], datetime]) -> None:
        self.job_id = job.id
        self.attempt = job.attempts
        self._now = now
        self._kept = 0

    def _mine(self) -> dict[str, object]:
        return {"id": self.job_id, "attempts": self.attempt, "status": ImportStatus.RUNNING}

    async def record(self, progress: ImportProgress) -> None:
        """After each batch, in one transaction: the counts so far and the problems the batch found."""
        room = max(KEPT_PROBLEMS - self._kept, 0)
        kept = progress.new_problems[:room]
        async with in_transaction():
            changed = await ImportJob.filter(**self._mine()).update(
                records_read=progress.read,
                records_total=progress.total,
                records_created=progress.records_created,
                records_updated=progress.records_updated,
                copies_created=progress.copies_created,
                copies_updated=progress.copies_updated,
                problem_count=progress.problems,
                heartbeat_at=self._now(),
            )
            if not changed:
                raise _Superseded()
            if kept:
                rows = [
                    ImportJobProblem(job_id=self.job_id, position=p.position, reason=p.reason[:REASON_MAX])
                    for p in kept
                ]
                await ImportJobProblem.bulk_create(rows)
        self._kept += len(kept)

    async def end(self, status: ImportStatus, failure: DomainError | None = None) -> None:
        now = self._now()
        async with in_transaction():
            ended = await ImportJob.filter(**self._mine()).update(
                status=status, finished_at=now, heartbeat_at=now, failure=_failure(failure)
            )
            if ended:  # else the job is a newer run's, which may still be reading the file, or was declared over
                await _drop_upload(self.job_id)

    async def end_quietly(self, status: ImportStatus, failure: DomainError) -> None:
        """End the run on the way out of a cancellation: an error here must not stand in for it (the sweep tells the
        job's end instead)."""
        try:
            await self.end(status, failure)
        except Exception:
            log.exception("import %d: run %d could not record its end", self.job_id, self.attempt)


async def _drop_upload(import_id: int) -> None:
    # Over, the file serves nothing: its problems are kept, and importing it again is a new upload. Until then it
    # is kept, so that a run after a worker died can start it again.
    await ImportUploadChunk.filter(job_id=import_id).delete()


def _timed_out(run_limit: timedelta) -> ImportTimedOut:
    return ImportTimedOut(minutes=round(run_limit.total_seconds() / 60))


def _failure(error: DomainError | None) -> dict[str, str] | None:
    if error is None:
        return None
    return {"code": error.code, "zh": error.message("zh"), "en": error.message("en")}


async def look_after(now: datetime, run_limit: timedelta, queue: ImportQueue) -> int:
    """The worker's sweep: an import running but silent (no batch written) for SILENT_FOR has lost its run. It fails
    as timed out when it was still writing close to its `run_limit` (the job's timeout: arq ended it, and its run
    could not say so), else as interrupted (its worker stopped). An import queued for a while is queued again (a
    double enqueue is one job). Returns how many it changed."""
    stalled = 0
    silent_since = now - SILENT_FOR
    silent = ImportJob.filter(status=ImportStatus.RUNNING, heartbeat_at__lt=silent_since)
    for job in await silent.only("id", "started_at", "heartbeat_at"):
        assert job.started_at is not None and job.heartbeat_at is not None  # a run records both as it starts
        near_its_end = job.heartbeat_at >= job.started_at + run_limit - SILENT_FOR
        failure = _timed_out(run_limit) if near_its_end else ImportInterrupted()
        async with in_transaction():
            # Still silent: a run that wrote a batch meanwhile is alive.
            ended = await ImportJob.filter(
                id=job.id, status=ImportStatus.RUNNING, heartbeat_at__lt=silent_since
            ).update(status=ImportStatus.FAILED, finished_at=now, failure=_failure(failure))
            if ended:
                await _drop_upload(job.id)
            stalled += ended
    waiting = ImportJob.filter(status=ImportStatus.QUEUED, created_at__lt=now - REQUEUE_AFTER)
    requeued = 0
    for job in await waiting.order_by("id").limit(_REQUEUED_AT_ONCE).only("id"):
        await enqueue(queue, job.id)
        requeued += 1
    return stalled + requeued
