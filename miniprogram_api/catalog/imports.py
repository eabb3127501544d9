"""Staff catalogue imports: a file uploaded, imported by the worker, its progress and problems read as it runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from backend.accounts.models import StaffUser
from backend.catalog import imports
from backend.catalog.errors import ImportFileEmpty, ImportFileNameInvalid, ImportFileUnreadable, ImportNotFound
from backend.catalog.models import ImportJob, ImportJobProblem, ImportStatus
from backend.settings import ImportSettings
from entrypoints.bootstrap import Dependencies
from miniprogram_api.deps import BEARER, STAFF_PROBLEMS
from miniprogram_api.errors import language_of, problems
from miniprogram_api.schemas import Offset, Page, RowId, StaffLimit, named


@dataclass
class ImportUpload:
    """A catalogue file: MARC (ISO 2709: .mrc, .marc, .iso), MARCXML (.xml) or CSV (.csv, a header line naming its
    columns); `format` names the format when the file's extension does not."""

    file: UploadFile
    format: Literal["marc", "marcxml", "csv"] | None = None


class ImportFailureOut(msgspec.Struct):
    code: str
    message: str


class ImportOut(msgspec.Struct):
    """An import and how far it has got: the counts grow after every batch of 500 records while it runs."""

    id: int
    file_name: str
    format: str
    size_bytes: int
    status: ImportStatus
    library_code: str
    """Copies were placed only at this library and those under it."""
    uploaded_by: str
    records_read: int
    """Records (CSV: lines) read so far."""
    records_total: int | None
    """Records in the file, when known before the end (MARC)."""
    records_created: int
    records_updated: int
    copies_created: int
    copies_updated: int
    problem_count: int
    """Records or copies skipped or changed so far; the first 10,000 are listed."""
    attempts: int
    """Runs started: a run after a worker stopped starts the file again (nothing is duplicated)."""
    failure: ImportFailureOut | None
    created_at: datetime
    started_at: datetime | None
    last_progress_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: ImportJob, language: str) -> ImportOut:
        failure = job.failure
        return cls(
            id=job.id,
            file_name=job.file_name,
            format=job.format,
            size_bytes=job.size_bytes,
            status=job.status,
            library_code=job.library.code,
            uploaded_by=job.staff.username,
            records_read=job.records_read,
            records_total=job.records_total,
            records_created=job.records_created,
            records_updated=job.records_updated,
            copies_created=job.copies_created,
            copies_updated=job.copies_updated,
            problem_count=job.problem_count,
            attempts=job.attempts,
            failure=ImportFailureOut(failure["code"], failure[language]) if failure else None,
            created_at=job.created_at,
            started_at=job.started_at,
            last_progress_at=job.heartbeat_at,
            finished_at=job.finished_at,
        )


class ImportProblemOut(msgspec.Struct):
    position: int
    """The line (CSV) or the record's number from 1 (MARC)."""
    reason: str

    @classmethod
    def of(cls, problem: ImportJobProblem) -> ImportProblemOut:
        return cls(problem.position, problem.reason)


ImportPage = Annotated[Page[ImportOut], named("ImportPage")]
ImportProblemPage = Annotated[Page[ImportProblemOut], named("ImportProblemPage")]


class StaffImportController(Controller):
    path = "/staff/catalogue/imports"
    tags = ["Staff: catalogue"]
    security = BEARER

    @post(
        "/",
        status_code=202,
        responses=problems(*STAFF_PROBLEMS, ImportFileUnreadable, ImportFileEmpty, ImportFileNameInvalid),
    )
    async def upload(
        self,
        deps: Dependencies,
        staff: StaffUser,
        request: Request[Any, Any, Any],
        data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> ImportOut:
        """Upload a catalogue file (multipart/form-data: `file`, and `format` if its extension does not say) to be
        imported by the worker: records are matched by ISBN and copies by barcode, so a file may be loaded again.
        Copies are placed only at libraries in the caller's scope, and existing copies changed only when they are at
        one now and not in circulation (as `/staff/copies/{barcode}/move`); other rows are listed as problems.
        Answers at once with the queued import; read its progress at `GET .../imports/{id}`. An upload larger than
        the configured bound (50 MiB by default) is refused with 413."""
        try:
            job = await imports.accept_upload(
                staff,
                file_name=data.file.filename,
                format=data.format,
                upload=data.file,
                queue=deps.jobs,
                now=deps.clock.now(),
            )
        finally:
            await data.file.close()
        return ImportOut.of(await imports.get_import(staff, job.id), language_of(request))

    @get("/", responses=problems(*STAFF_PROBLEMS))
    async def list_imports(
        self, staff: StaffUser, request: Request[Any, Any, Any], limit: StaffLimit = 50, offset: Offset = 0
    ) -> ImportPage:
        """Imports of the libraries in the caller's scope, newest first."""
        jobs, total = await imports.list_imports(staff, limit=limit, offset=offset)
        language = language_of(request)
        return Page.of([ImportOut.of(job, language) for job in jobs], total, limit, offset)

    @get("/{import_id:int}", responses=problems(*STAFF_PROBLEMS, ImportNotFound))
    async def detail(self, staff: StaffUser, request: Request[Any, Any, Any], import_id: RowId) -> ImportOut:
        """An import and its counts so far (while it runs too); imports of libraries outside the caller's scope are
        not found."""
        return ImportOut.of(await imports.get_import(staff, import_id), language_of(request))

    @get("/{import_id:int}/problems", responses=problems(*STAFF_PROBLEMS, ImportNotFound))
    async def list_problems(
        self, staff: StaffUser, import_id: RowId, limit: StaffLimit = 50, offset: Offset = 0
    ) -> ImportProblemPage:
        """The records or copies of the file skipped or changed: in the order of the file, as found so far."""
        found, total = await imports.list_problems(staff, import_id, limit=limit, offset=offset)
        return Page.of([ImportProblemOut.of(problem) for problem in found], total, limit, offset)

    @get("/{import_id:int}/problems.csv", media_type="text/csv", responses=problems(*STAFF_PROBLEMS, ImportNotFound))
    async def problems_csv(self, staff: StaffUser, import_id: RowId) -> Response[str]:
        """The problems found so far as a CSV file to correct the catalogue file from (line or record, problem)."""
        return Response(
            await imports.problems_csv(staff, import_id),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="import-{import_id}-problems.csv"'},
        )


def import_routes(settings: ImportSettings) -> Router:
    """The import endpoints, their request bodies bounded by the settings: the app's own bound (64 KiB) is for
    JSON, far below a catalogue file."""
    return Router(path="/", route_handlers=[StaffImportController], request_max_body_size=settings.max_bytes)
