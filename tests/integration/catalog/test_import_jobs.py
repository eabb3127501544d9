import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pymarc
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job
from pymarc import Field, Indicators, Subfield
from tortoise.transactions import in_transaction

from backend.accounts.models import StaffRole
from backend.catalog import imports
from backend.catalog.importer import BATCH_SIZE, CSV_COLUMNS
from backend.catalog.models import Copy, CopyStatus, ImportJob, ImportStatus, ImportUploadChunk, Record
from backend.network.models import Library
from entrypoints.queue import QUEUE, ArqJobs, import_job_id
from tests.integration.factories import build_network, make_staff, staff_headers
from tests.integration.service import Service
from tests.integration.test_worker import run_worker_process

IMPORTS = "/staff/catalogue/imports"
RUN_LIMIT = timedelta(hours=1)  # the worker's import timeout, by default


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def marc_bytes(*records: pymarc.Record) -> bytes:
    return b"".join(record.as_marc() for record in records)


def marc21(isbn: str, title: str, author: str, items: list[tuple[str, str]]) -> pymarc.Record:
    record = pymarc.Record(leader="00000nam a2200000 a 4500", force_utf8=True)
    record.add_field(Field(tag="020", indicators=Indicators(" ", " "), subfields=[Subfield("a", isbn)]))
    record.add_field(Field(tag="100", indicators=Indicators("1", " "), subfields=[Subfield("a", author)]))
    record.add_field(Field(tag="245", indicators=Indicators("1", "0"), subfields=[Subfield("a", title)]))
    for library, barcode in items:
        subfields = [Subfield("a", library), Subfield("b", library), Subfield("p", barcode), Subfield("y", "BK")]
        record.add_field(Field(tag="952", indicators=Indicators(" ", " "), subfields=subfields))
    return record


async def upload(service: Service, headers: dict[str, str], name: str, content: bytes, **form: str) -> httpx.Response:
    return await service.client.post(IMPORTS, files={"file": (name, content)}, data=form, headers=headers)


async def run_worker_until_done(service: Service, import_id: int) -> Any:
    """The real worker process, in burst mode, until the import's job is done; the job's result."""
    finished = await asyncio.to_thread(run_worker_process, service)
    assert finished.returncode == 0, finished.stderr[-2000:]
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        return await Job(import_job_id(import_id), pool, _queue_name=QUEUE).result(timeout=5)
    finally:
        await pool.aclose()


async def import_status(
    service: Service, headers: dict[str, str], import_id: int, until: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The import as staff see it, read again until `until` holds (a minute at most)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        response = await service.client.get(f"{IMPORTS}/{import_id}", headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if until(body):
            return body
        assert loop.time() < deadline, body
        await asyncio.sleep(0.05)


async def a_librarian_at(service: Service, username: str, library: str) -> dict[str, str]:
    await make_staff(username, StaffRole.LIBRARIAN, library)
    return await staff_headers(service.client, username)


async def test_a_csv_upload_is_imported_by_the_worker_with_its_bad_and_out_of_scope_rows_listed(
    service: Service,
) -> None:
    await build_network()
    desk = await a_librarian_at(service, "import-desk", "TL-A")
    content = csv_bytes(
        [
            {
                "isbn": "978-7-5366-9293-0",
                "title": "三体",
                "authors": "刘慈欣",
                "library": "TL-A-1",
                "barcode": "IMP001",
            },
            {"title": "", "authors": "无名氏", "library": "TL-A", "barcode": "IMP002"},
            {"title": "百年孤独", "authors": "加西亚·马尔克斯", "library": "TL-B", "barcode": "IMP003"},
        ]
    )

    accepted = await upload(service, desk, "馆藏.csv", content)
    assert accepted.status_code == 202, accepted.text
    queued = accepted.json()
    assert (queued["status"], queued["file_name"], queued["format"]) == ("queued", "馆藏.csv", "csv")
    assert queued["size_bytes"] == len(content)
    assert await run_worker_until_done(service, queued["id"]) == 3  # rows read

    done = (await service.client.get(f"{IMPORTS}/{queued['id']}", headers=desk)).json()
    problems = (await service.client.get(f"{IMPORTS}/{queued['id']}/problems", headers=desk)).json()
    report = await service.client.get(f"{IMPORTS}/{queued['id']}/problems.csv", headers=desk)
    found = (await service.client.get("/records", params={"q": "三体"})).json()

    assert done["status"] == "finished" and done["failure"] is None
    assert (done["records_created"], done["copies_created"], done["problem_count"]) == (2, 1, 2)
    assert [(p["position"], p["reason"]) for p in problems["items"]] == [
        (3, "row skipped: it has no title"),
        (4, "copy skipped: library 'TL-B' is outside the libraries you manage"),
    ]
    assert problems["total"] == 2
    assert report.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(report.text.lstrip("\ufeff")))) == [
        ["line", "problem"],
        ["3", "row skipped: it has no title"],
        ["4", "copy skipped: library 'TL-B' is outside the libraries you manage"],
    ]
    assert [item["title"] for item in found["items"]] == ["三体"]
    assert not await Copy.exists(barcode="IMP003")  # TL-B's shelves are not TL-A's to fill
    assert not await ImportUploadChunk.exists()  # the stored file is dropped once the import is over


async def test_a_marc_upload_is_imported_and_its_copies_are_found_where_the_file_puts_them(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "marc-desk", "TL-B")
    content = marc_bytes(
        marc21("9787020002207", "红楼梦", "曹雪芹", [("TL-B", "MARC01"), ("TL-B-1", "MARC02")]),
        marc21("9787544253994", "百年孤独", "加西亚·马尔克斯", [("TL-B-1", "MARC03")]),
    )

    accepted = await upload(service, desk, "export.mrc", content)
    assert accepted.status_code == 202, accepted.text
    await run_worker_until_done(service, accepted.json()["id"])

    done = (await service.client.get(f"{IMPORTS}/{accepted.json()['id']}", headers=desk)).json()
    found = (await service.client.get("/records", params={"q": "红楼梦", "library": "TL-B-1"})).json()
    assert (done["status"], done["format"], done["records_total"], done["records_read"]) == ("finished", "marc", 2, 2)
    assert (done["records_created"], done["copies_created"], done["problem_count"]) == (2, 3, 0)
    assert [item["title"] for item in found["items"]] == ["红楼梦"]


async def test_an_upload_over_the_bound_is_refused_with_413_and_nothing_is_stored(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "big-desk", "TL-A")
    too_large = b"x" * (service.settings.imports.max_bytes + 1)

    refused = await upload(service, desk, "huge.csv", too_large)
    listed = (await service.client.get(IMPORTS, headers=desk)).json()

    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "request_too_large"
    assert listed["total"] == 0 and not await ImportJob.exists()


async def test_a_file_the_importer_cannot_read_is_refused_at_upload_or_fails_the_job_with_the_reason(
    service: Service,
) -> None:
    await build_network()
    desk = await a_librarian_at(service, "odd-desk", "TL-A")

    unknown = await upload(service, desk, "catalogue.xlsx", b"PK\x03\x04")
    empty = await upload(service, desk, "empty.csv", b"")
    headless = await upload(service, desk, "rows.txt", b"a,b\n1,2\n", format="csv")
    await run_worker_until_done(service, headless.json()["id"])
    failed = await service.client.get(f"{IMPORTS}/{headless.json()['id']}", headers={**desk, "Accept-Language": "en"})

    assert (unknown.status_code, unknown.json()["code"]) == (422, "import_file_unreadable")
    assert (empty.status_code, empty.json()["code"]) == (422, "import_file_empty")
    assert failed.json()["status"] == "failed"
    assert failed.json()["failure"]["code"] == "import_file_unreadable"
    assert (
        "rows.txt" in failed.json()["failure"]["message"]
        and "'title' is missing" in failed.json()["failure"]["message"]
    )


async def test_staff_see_the_imports_of_their_scope_only(service: Service) -> None:
    await build_network()
    desk_a = await a_librarian_at(service, "desk-a", "TL-A")
    desk_b = await a_librarian_at(service, "desk-b", "TL-B")
    await make_staff("network-admin", StaffRole.NETWORK_ADMIN, "TL")
    admin = await staff_headers(service.client, "network-admin")
    content = csv_bytes([{"title": "边城", "authors": "沈从文", "library": "TL-A", "barcode": "SCOPE1"}])
    import_id = (await upload(service, desk_a, "a.csv", content)).json()["id"]

    other_library = await service.client.get(f"{IMPORTS}/{import_id}", headers=desk_b)
    other_problems = await service.client.get(f"{IMPORTS}/{import_id}/problems", headers=desk_b)
    other_report = await service.client.get(f"{IMPORTS}/{import_id}/problems.csv", headers=desk_b)
    listed_b = (await service.client.get(IMPORTS, headers=desk_b)).json()
    listed_a = (await service.client.get(IMPORTS, headers=desk_a)).json()
    listed_admin = (await service.client.get(IMPORTS, headers=admin)).json()

    for response in (other_library, other_problems, other_report):
        assert response.status_code == 404
        assert response.json()["code"] == "import_not_found"
    assert listed_b["total"] == 0 and listed_b["items"] == []
    assert [item["id"] for item in listed_a["items"]] == [import_id]
    assert [(item["id"], item["uploaded_by"], item["library_code"]) for item in listed_admin["items"]] == [
        (import_id, "desk-a", "TL-A")
    ]


async def test_progress_and_problems_are_readable_while_the_worker_is_between_batches(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "batch-desk", "TL-A")
    branch = await Library.get(code="TL-A")
    held = await Record.create(title="被锁住的书")
    await Copy.create(barcode="PAUSE01", record=held, home_library=branch, current_library=branch, shelf_location="旧")
    rows = [{"title": "", "authors": "无题"}]  # line 2: a problem of the first batch
    rows += [
        {"title": f"第{n}本", "authors": "作者", "library": "TL-A", "barcode": f"BATCH{n:04d}"}
        for n in range(1, BATCH_SIZE + 1)
    ]
    # The second batch moves a copy whose row this test keeps locked: that batch cannot commit until it lets go.
    rows += [{"title": "第二批", "authors": "作者", "library": "TL-A", "barcode": "PAUSE01", "shelf": "新"}]
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold_the_copy() -> None:
        async with in_transaction() as connection:
            await connection.execute_query("SELECT id FROM \"copy\" WHERE barcode = 'PAUSE01' FOR UPDATE")
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold_the_copy())
    await locked.wait()
    import_id = (await upload(service, desk, "two-batches.csv", csv_bytes(rows))).json()["id"]
    worker = asyncio.create_task(asyncio.to_thread(run_worker_process, service))
    try:
        between = await import_status(service, desk, import_id, lambda job: job["records_read"] > 0)
        problems_so_far = (await service.client.get(f"{IMPORTS}/{import_id}/problems", headers=desk)).json()
    finally:
        release.set()
        await holder
    finished = await worker
    assert finished.returncode == 0, finished.stderr[-2000:]
    done = await import_status(service, desk, import_id, lambda job: job["status"] != "running")

    assert between["status"] == "running" and between["finished_at"] is None
    assert between["last_progress_at"] is not None
    assert (between["records_read"], between["records_created"], between["copies_created"]) == (
        BATCH_SIZE + 1,
        BATCH_SIZE,
        BATCH_SIZE,
    )
    assert [(p["position"], p["reason"]) for p in problems_so_far["items"]] == [(2, "row skipped: it has no title")]
    assert done["status"] == "finished"
    assert (done["records_read"], done["records_created"], done["copies_created"], done["copies_updated"]) == (
        BATCH_SIZE + 2,
        BATCH_SIZE + 1,
        BATCH_SIZE,
        1,
    )
    assert (await Copy.get(barcode="PAUSE01")).shelf_location == "新"


class QueueKeeper:
    def __init__(self) -> None:
        self.queued: list[int] = []

    async def enqueue_import(self, import_id: int) -> None:
        self.queued.append(import_id)


async def test_a_run_that_died_is_restarted_from_the_top_and_one_nobody_runs_fails_as_interrupted(
    service: Service,
) -> None:
    await build_network()
    desk = await a_librarian_at(service, "crash-desk", "TL-A")
    content = csv_bytes([{"title": "围城", "authors": "钱钟书", "library": "TL-A", "barcode": "CRASH1"}])
    died = (await upload(service, desk, "died.csv", content)).json()["id"]
    lost = (await upload(service, desk, "lost.csv", content)).json()["id"]
    queue = QueueKeeper()
    now = service.clock.now()
    # As a worker killed mid-import leaves them: running, a problem half written, the file still stored.
    await ImportJob.filter(id__in=[died, lost]).update(
        status=ImportStatus.RUNNING, attempts=1, started_at=now, heartbeat_at=now, records_read=7, problem_count=3
    )

    rerun = await imports.run_import(died, service.clock.now, RUN_LIMIT)
    restarted = (await service.client.get(f"{IMPORTS}/{died}", headers=desk)).json()
    service.clock.advance(imports.SILENT_FOR.total_seconds() + 60)  # silent that long, well within the time limit
    swept = await imports.look_after(service.clock.now(), RUN_LIMIT, queue)

    desk = await staff_headers(service.client, "crash-desk")  # the earlier token has expired meanwhile
    interrupted = (await service.client.get(f"{IMPORTS}/{lost}", headers={**desk, "Accept-Language": "en"})).json()
    assert rerun is not None
    assert restarted["status"] == "finished" and restarted["attempts"] == 2
    assert (restarted["records_read"], restarted["records_created"], restarted["problem_count"]) == (1, 1, 0)
    assert swept == 1
    assert interrupted["status"] == "failed" and interrupted["failure"]["code"] == "import_interrupted"
    assert "Upload the file again" in interrupted["failure"]["message"]
    assert not await ImportUploadChunk.exists()
    assert await imports.run_import(lost, service.clock.now, RUN_LIMIT) is None  # arq's late retry changes nothing


async def test_an_import_left_queued_is_queued_again_and_one_queued_twice_runs_once(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "queue-desk", "TL-A")
    content = csv_bytes([{"title": "家", "authors": "巴金", "library": "TL-A", "barcode": "TWICE1"}])
    import_id = (await upload(service, desk, "twice.csv", content)).json()["id"]
    queue = QueueKeeper()

    early = await imports.look_after(service.clock.now(), timedelta(hours=1), queue)
    service.clock.advance(3 * 60)
    late = await imports.look_after(service.clock.now(), timedelta(hours=1), queue)
    await ArqJobs(service.redis).enqueue_import(import_id)  # as the API queues it: the upload did already
    queued_jobs = await service.redis.zcard(QUEUE)
    await run_worker_until_done(service, import_id)

    done = (await service.client.get(f"{IMPORTS}/{import_id}", headers=desk)).json()
    assert (early, late, queue.queued) == (0, 1, [import_id])
    assert queued_jobs == 1
    assert (done["status"], done["attempts"], done["copies_created"]) == ("finished", 1, 1)


async def test_a_re_upload_moves_no_copy_in_circulation_nor_one_another_library_holds_now(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "again-desk", "TL-A")
    a, b = await Library.get(code="TL-A"), await Library.get(code="TL-B")
    record = await Record.create(title="活着", isbn13="9787506365437")
    # Where last week's export put them all (TL-A), and where they are now.
    for barcode, current, status in [
        ("LOAN01", a, CopyStatus.ON_LOAN),  # the file would move it to TL-A-1
        ("HOLD01", b, CopyStatus.ON_HOLD_SHELF),  # on TL-B's hold shelf for a reader there
        ("AWAY01", b, CopyStatus.AVAILABLE),  # returned at TL-B, and TL-B's to lend now
        ("LOAN02", a, CopyStatus.ON_LOAN),  # on loan, and the file says what it is already
        ("SHELF1", a, CopyStatus.AVAILABLE),  # on TL-A's shelf, moved by the file to TL-A-1
    ]:
        await Copy.create(barcode=barcode, record=record, home_library=a, current_library=current, status=status)
    content = marc_bytes(
        marc21(
            "9787506365437",
            "活着",
            "余华",
            [("TL-A-1", "LOAN01"), ("TL-A", "HOLD01"), ("TL-A", "AWAY01"), ("TL-A", "LOAN02"), ("TL-A-1", "SHELF1")],
        )
    )

    accepted = await upload(service, desk, "last-week.mrc", content)
    await run_worker_until_done(service, accepted.json()["id"])

    done = (await service.client.get(f"{IMPORTS}/{accepted.json()['id']}", headers=desk)).json()
    problems = (await service.client.get(f"{IMPORTS}/{accepted.json()['id']}/problems", headers=desk)).json()
    where = {
        copy.barcode: (copy.home_library.code, copy.current_library.code, copy.status)
        for copy in await Copy.all().select_related("home_library", "current_library")
    }
    assert done["status"] == "finished"
    assert (done["copies_updated"], done["problem_count"]) == (2, 3)
    assert [p["reason"] for p in problems["items"]] == [
        "copy 1 (952) skipped: barcode 'LOAN01' is at library 'TL-A': The copy is on_loan; check it in first "
        "(copy_in_circulation)",
        "copy 2 (952) skipped: barcode 'HOLD01' is at library 'TL-B': That library is outside the libraries you "
        "manage (outside_staff_scope)",
        "copy 3 (952) skipped: barcode 'AWAY01' is at library 'TL-B': That library is outside the libraries you "
        "manage (outside_staff_scope)",
    ]
    assert where == {
        "LOAN01": ("TL-A", "TL-A", CopyStatus.ON_LOAN),
        "HOLD01": ("TL-A", "TL-B", CopyStatus.ON_HOLD_SHELF),
        "AWAY01": ("TL-A", "TL-B", CopyStatus.AVAILABLE),
        "LOAN02": ("TL-A", "TL-A", CopyStatus.ON_LOAN),
        "SHELF1": ("TL-A-1", "TL-A-1", CopyStatus.AVAILABLE),
    }


@contextlib.asynccontextmanager
async def stored_files_locked() -> AsyncIterator[None]:
    """The stored uploads locked by a transaction of another task: a run waits where it copies its file."""
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with in_transaction() as connection:
            await connection.execute_script("LOCK TABLE import_upload_chunk IN ACCESS EXCLUSIVE MODE")
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await locked.wait()
    try:
        yield
    finally:
        release.set()
        await holder


async def started(import_id: int, attempts: int = 1) -> None:
    """Until a run of the import has started (a minute at most)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while not await ImportJob.exists(id=import_id, status=ImportStatus.RUNNING, attempts=attempts):
        assert loop.time() < deadline
        await asyncio.sleep(0.05)


async def cancelled_after(service: Service, import_id: int, seconds: float) -> None:
    """A run of the import cancelled, as arq's timeout or a worker's shutdown cancels it, `seconds` after it began."""
    async with stored_files_locked():
        run = asyncio.create_task(imports.run_import(import_id, service.clock.now, RUN_LIMIT))
        await started(import_id)
        service.clock.advance(seconds)
        run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_a_run_cancelled_at_its_time_limit_fails_as_timed_out_and_one_cancelled_sooner_runs_again(
    service: Service,
) -> None:
    await build_network()
    desk = await a_librarian_at(service, "slow-desk", "TL-A")
    content = csv_bytes([{"title": "平凡的世界", "authors": "路遥", "library": "TL-A", "barcode": "SLOW01"}])
    too_long = (await upload(service, desk, "huge.csv", content)).json()["id"]
    shut_down = (await upload(service, desk, "deploy.csv", content)).json()["id"]

    await cancelled_after(service, too_long, RUN_LIMIT.total_seconds())
    await cancelled_after(service, shut_down, 60)
    left_running = await ImportJob.get(id=shut_down)
    again = await imports.run_import(shut_down, service.clock.now, RUN_LIMIT)

    desk = await staff_headers(service.client, "slow-desk")  # the earlier token has expired meanwhile
    timed_out = (await service.client.get(f"{IMPORTS}/{too_long}", headers={**desk, "Accept-Language": "en"})).json()
    assert timed_out["status"] == "failed" and timed_out["failure"]["code"] == "import_timed_out"
    assert "time limit of 60 minutes" in timed_out["failure"]["message"]
    assert "SHUXIANG_IMPORT_TIMEOUT_SECONDS" in timed_out["failure"]["message"]
    assert left_running.status == ImportStatus.RUNNING
    assert again is not None and (again.status, again.attempts, again.copies_created) == (ImportStatus.FINISHED, 2, 1)
    assert not await ImportUploadChunk.exists()


async def test_the_sweep_fails_a_silent_run_as_timed_out_near_its_limit_else_as_interrupted(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "sweep-desk", "TL-A")
    content = csv_bytes([{"title": "茶馆", "authors": "老舍", "library": "TL-A", "barcode": "SWEEP1"}])
    near_limit, died_early, alive = [
        (await upload(service, desk, f"{name}.csv", content)).json()["id"] for name in ("near", "early", "alive")
    ]
    now = service.clock.now()
    for import_id, started, last_batch in [
        (near_limit, now - timedelta(minutes=70), now - timedelta(minutes=12)),  # wrote until its limit, then silent
        (died_early, now - timedelta(minutes=15), now - timedelta(minutes=14)),  # its worker died: silent since
        (alive, now - timedelta(minutes=15), now - timedelta(minutes=1)),
    ]:
        await ImportJob.filter(id=import_id).update(
            status=ImportStatus.RUNNING, attempts=1, started_at=started, heartbeat_at=last_batch
        )

    swept = await imports.look_after(now, RUN_LIMIT, QueueKeeper())

    failures = {job.id: (job.status, job.failure and job.failure["code"]) for job in await ImportJob.all()}
    assert swept == 2
    assert failures == {
        near_limit: (ImportStatus.FAILED, "import_timed_out"),
        died_early: (ImportStatus.FAILED, "import_interrupted"),
        alive: (ImportStatus.RUNNING, None),
    }
    assert await ImportUploadChunk.filter(job_id=alive).exists()


async def test_a_run_whose_job_a_newer_run_took_leaves_the_stored_file_to_it(service: Service) -> None:
    await build_network()
    desk = await a_librarian_at(service, "late-desk", "TL-A")
    import_id = (await upload(service, desk, "rows.txt", b"a,b\n1,2\n", format="csv")).json()["id"]

    async with stored_files_locked():
        first = asyncio.create_task(imports.run_import(import_id, service.clock.now, RUN_LIMIT))
        await started(import_id)
        await ImportJob.filter(id=import_id).update(attempts=2)  # as a newer run's start leaves it
    await first  # it cannot read the file, and ends

    job = await ImportJob.get(id=import_id)
    assert (job.status, job.attempts, job.failure) == (ImportStatus.RUNNING, 2, None)
    assert await ImportUploadChunk.filter(job_id=import_id).exists()


async def test_an_upload_is_dated_by_the_service_clock(service: Service) -> None:
    await build_network()
    service.clock.advance(2 * 24 * 3600)
    desk = await a_librarian_at(service, "dated-desk", "TL-A")
    content = csv_bytes([{"title": "骆驼祥子", "authors": "老舍", "library": "TL-A", "barcode": "DATED1"}])

    accepted = (await upload(service, desk, "dated.csv", content)).json()

    assert abs(datetime.fromisoformat(accepted["created_at"]) - service.clock.now()) < timedelta(minutes=1)
