import asyncio
import io
import json
import zipfile
from datetime import date, timedelta

from arq import create_pool
from arq.connections import RedisSettings
from arq.jobs import Job
from PIL import Image
from tortoise import Tortoise, connections

from backend.accounts.ages import age_in_months
from backend.accounts.models import Reader
from backend.newborn import privacy
from backend.newborn.models import Consent, ConsentEnd, Enrolment, ReadingLogEntry
from entrypoints.worker import QUEUE
from notifications.models import Notice
from tests.integration.factories import staff_headers
from tests.integration.newborn.enrolling import CONSENT, born_days_ago, set_up, today
from tests.integration.newborn.recording import (
    catalogue,
    enrolled_family,
    lend_to_child,
    log_book,
    log_books,
    tla_desk,
)
from tests.integration.service import BUS, NETWORK_TIME, Service
from tests.integration.test_worker import run_worker_process

# A child 35 months old: the default stages end at 36.
NEARLY_THREE = 1075


def last_stage_ends(born: date) -> date:
    """The day the child turns 36 months old by the age rule, found by walking the rule itself."""
    day = born
    while age_in_months(born, day) < 36:
        day += timedelta(days=1)
    return day


async def test_a_guardian_downloads_the_childs_whole_record_with_its_certificates(service: Service) -> None:
    service.clock.freeze_at(service.clock.now())  # the record and the archive made at one moment read the same
    family = await enrolled_family(service, "openid-downloads")
    await catalogue()
    desk = await tla_desk(service)
    await lend_to_child(service, desk, family.parent, family.child_id, "9787533258931-1")
    await log_books(service, family, 9)
    stranger = await enrolled_family(service, "openid-stranger", setup=family.setup, child_name="别家宝宝")

    record = await service.client.get(f"{family.record}/record", headers=family.parent.headers)
    archive = await service.client.get(f"{family.record}/record.zip", headers=family.parent.headers)
    theirs = [
        await service.client.get(f"{family.record}/{path}", headers=stranger.parent.headers)
        for path in ("record", "record.zip")
    ]

    assert record.status_code == 200, record.text
    body = record.json()
    assert body["enrolment"]["id"] == family.enrolment_id
    assert (body["enrolment"]["child"]["name"], body["enrolment"]["child"]["date_of_birth"]) == (
        "小宝",
        born_days_ago(service, 10),
    )
    assert body["consent"]["text"]["text"] == CONSENT["text"]
    assert body["consent"]["text"]["person_responsible"] == CONSENT["person_responsible"]
    assert [e["title"] for e in body["reading_log"]] == ["好饿的毛毛虫"] + [f"睡前故事 {n}" for n in range(9)]
    assert [(m["books"], m["certificate"]) for m in body["milestones"]] == [
        (10, f"{family.record}/milestones/10/certificate.png")
    ]
    assert [(p["stage"], p["library"]["code"], p["status"]) for p in body["packs"]] == [("0-6个月", "TL-A", "reserved")]
    assert archive.status_code == 200, archive.text
    assert archive.headers["content-type"] == "application/zip"
    assert "attachment" in archive.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        assert bundle.namelist() == ["record.json", "certificate-10.png"]
        assert json.loads(bundle.read("record.json")) == body
        certificate = Image.open(io.BytesIO(bundle.read("certificate-10.png")))
        assert (certificate.format, certificate.size) == ("PNG", (1000, 800))
    assert [(answer.status_code, answer.json()["code"]) for answer in theirs] == [(404, "child_not_found")] * 2


async def test_withdrawn_consent_leaves_no_personal_data_of_the_child_in_any_programme_table(service: Service) -> None:
    family = await enrolled_family(service, "openid-leaves")
    await catalogue()
    desk = await tla_desk(service)
    await lend_to_child(service, desk, family.parent, family.child_id, "9787533258931-1")
    await log_books(service, family, 9)  # the tenth book: a milestone, and its notice naming the child
    child = await Reader.get(id=family.child_id)
    guardian = await Reader.get(openid="openid-leaves")
    assert await Notice.filter(reader_id=guardian.id, body__contains="小宝").exists()

    withdrawn = await service.client.delete(
        f"/readers/me/newborn/enrolments/{family.enrolment_id}", headers=family.parent.headers
    )

    assert withdrawn.status_code == 204, withdrawn.text
    programme_models = [m for m in Tortoise.apps["models"].values() if m.__module__ == "backend.newborn.models"]
    assert len(programme_models) == 14
    traces = []
    for model in programme_models:
        meta = model._meta
        pointers = {
            name: meta.fields_map[name].related_model  # type: ignore[attr-defined]
            for name in (*meta.fk_fields, *meta.o2o_fields)
        }
        for row in await model.all().values():
            for name, related in pointers.items():
                if (related, row[f"{name}_id"]) in {(Reader, child.id), (Enrolment, family.enrolment_id)}:
                    traces.append((meta.db_table, name))
            for value in row.values():
                if value == child.date_of_birth or any(t in str(value) for t in (child.name, child.card_number)):
                    traces.append((meta.db_table, value))
    assert traces == []
    assert not await Notice.filter(reader_id=guardian.id, body__contains="小宝").exists()
    tally = await connections.get("default").execute_query_dict(
        "SELECT enrolled, withdrawn FROM newborn_enrolment_tally"
    )
    assert tally == [{"enrolled": 1, "withdrawn": 1}]


async def test_the_retention_job_deletes_a_record_the_configured_time_after_the_last_stage_and_not_before(
    service: Service,
) -> None:
    setup = await set_up(service)
    programme = f"/staff/newborn/programmes/{setup.programme_id}"
    kept = await service.client.put(programme, json={"name": "阅享宝贝", "retention_days": 30}, headers=setup.admin)
    older = await enrolled_family(
        service, "openid-nearly-three", setup, date_of_birth=born_days_ago(service, NEARLY_THREE)
    )
    younger = await enrolled_family(service, "openid-newborn", setup, child_name="小妹")
    await log_book(service, older, title="三岁前最后一本")
    deadline = last_stage_ends(today(service) - timedelta(days=NEARLY_THREE)) + timedelta(days=30)

    the_day_before = await privacy.end_expired(
        NETWORK_TIME.midnight(deadline) - timedelta(seconds=1), NETWORK_TIME, BUS
    )
    still_there = await Enrolment.filter(id=older.enrolment_id).exists()
    on_the_day = await privacy.end_expired(NETWORK_TIME.midnight(deadline), NETWORK_TIME, BUS)
    again = await privacy.end_expired(NETWORK_TIME.midnight(deadline) + timedelta(days=1), NETWORK_TIME, BUS)

    assert kept.status_code == 200, kept.text
    assert (the_day_before, still_there, on_the_day, again) == (0, True, 1, 0)
    assert not await Enrolment.filter(id=older.enrolment_id).exists()
    assert not await ReadingLogEntry.filter(enrolment_id=older.enrolment_id).exists()
    assert await Enrolment.filter(id=younger.enrolment_id).exists()
    ended = await Consent.get(guardian__openid="openid-nearly-three")
    assert ended.ended_by is ConsentEnd.RETENTION
    tally = await connections.get("default").execute_query_dict(
        "SELECT sum(enrolled) AS enrolled, sum(withdrawn) AS withdrawn FROM newborn_enrolment_tally"
    )
    assert tally == [{"enrolled": 2, "withdrawn": 0}]  # the record ended at its time: no family withdrew


async def test_the_worker_runs_the_retention_job(service: Service) -> None:
    setup = await set_up(service)
    programme = f"/staff/newborn/programmes/{setup.programme_id}"
    await service.client.put(programme, json={"name": "阅享宝贝", "retention_days": 0}, headers=setup.admin)
    family = await enrolled_family(
        service, "openid-grown-up", setup, date_of_birth=born_days_ago(service, NEARLY_THREE)
    )
    # Three years on: the worker runs on the real clock, so the child's birth moves back instead.
    await Reader.filter(id=family.child_id).update(date_of_birth=today(service) - timedelta(days=NEARLY_THREE + 60))
    pool = await create_pool(RedisSettings.from_dsn(service.settings.redis.url), default_queue_name=QUEUE)
    try:
        job = await pool.enqueue_job("end_newborn_records")
        assert job is not None
        finished = await asyncio.to_thread(run_worker_process, service)
        assert finished.returncode == 0, finished.stderr[-2000:]
        assert await Job(job.job_id, pool, _queue_name=QUEUE).result(timeout=5) == 1
    finally:
        await pool.aclose()

    assert not await Enrolment.filter(id=family.enrolment_id).exists()


async def test_staff_reads_of_childrens_records_are_logged_for_administrators_and_figures_are_not(
    service: Service,
) -> None:
    family = await enrolled_family(service, "openid-looked-at")
    desk = await tla_desk(service)
    child = await Reader.get(id=family.child_id)

    listed = await service.client.get("/staff/newborn/enrolments", headers=desk)
    shown = await service.client.get(f"/staff/newborn/enrolments/{family.enrolment_id}", headers=desk)
    counted = await service.client.get(
        f"/staff/newborn/programmes/{family.setup.programme_id}/figures/families", headers=desk
    )
    log = await service.client.get("/staff/reader-lookups", headers=await staff_headers(service.client, "admin"))
    librarian_reads_the_log = await service.client.get("/staff/reader-lookups", headers=desk)

    assert [r.status_code for r in (listed, shown, counted, log)] == [200] * 4, log.text
    entries = [
        (e["staff_username"], e["library_code"], e["action"], e["looked_up_by"], e["card_numbers"], e["children_shown"])
        for e in log.json()["items"]
    ]
    assert entries == [("tla-librarian", "TL-A", "newborn", "enrolment", [child.card_number], True)] * 2
    assert (librarian_reads_the_log.status_code, librarian_reads_the_log.json()["code"]) == (
        403,
        "staff_role_insufficient",
    )
