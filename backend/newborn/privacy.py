"""The children's data of the newborn programme under PIPL (art. 28, 31, 45, 47): the guardian's copy of a child's
whole programme record with its certificates, and the retention job that ends a record a programme's
`retention_days` after the child's last stage ends, the one way consent ends (`enrolment.end_enrolment`), so the packs
go back to stock and only the anonymous counts stay.

Staff reads of children's records are logged where they are made (`enrolment`, the look-up log's action `newborn`)
and read by administrators with the other look-ups (`GET /staff/reader-lookups`)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise import connections

from backend.accounts.models import Reader
from backend.clock import NetworkTime
from backend.eventbus import EventBus
from backend.newborn import enrolment as enrolments
from backend.newborn import reading
from backend.newborn.certificates import certificate_png
from backend.newborn.errors import EnrolmentNotFound
from backend.newborn.models import ConsentEnd, Enrolment, Milestone, PackReservation, Programme, ReadingLogEntry
from backend.newborn.stages import born_by

# The enrolments whose child was born by their programme's day (`kept`): a card without the day of birth counts from the
# first of its month, as the age rule does.
_EXPIRED = (
    "SELECT e.id FROM newborn_enrolment e JOIN reader c ON c.id = e.child_id "
    "JOIN unnest($1::int[], $2::date[]) AS kept(programme_id, born_by) ON kept.programme_id = e.programme_id "
    "WHERE COALESCE(c.date_of_birth, to_date(c.birth_month, 'YYYY-MM')) <= kept.born_by ORDER BY e.id"
)


@dataclass(frozen=True, slots=True)
class ChildRecord:
    """Everything the programme holds of one child, as the guardian downloads it."""

    enrolment: Enrolment
    """With the child, the programme and its library, the family's library, the partner, the ward, the stage, and
    the consent with the text it was given to."""
    reading_log: list[ReadingLogEntry]  # in the order read
    milestones: list[Milestone]  # smallest first
    reservations: list[PackReservation]  # with the stage, the pack type and the libraries, in the order reserved
    exported_at: datetime


async def child_record(guardian: Reader, child_id: int, now: datetime) -> ChildRecord:
    """The child's whole programme record (PIPL art. 45): the enrolment and the consent it rests on, the reading
    record, the milestones and the packs reserved. Only the child's guardian gets it."""
    enrolment = await reading.enrolment_of(guardian, child_id)
    await enrolment.fetch_related("partner", "ward", "consent__text")
    entries = await ReadingLogEntry.filter(enrolment_id=enrolment.id).order_by("read_on", "id")
    milestones = await Milestone.filter(enrolment_id=enrolment.id).order_by("books")
    reservations = (
        await PackReservation.filter(enrolment_id=enrolment.id)
        .select_related("stage", "pack_type", "library", "claimed_library")
        .order_by("reserved_at", "id")
    )
    return ChildRecord(enrolment, entries, milestones, reservations, now)


async def archive(record: ChildRecord, document: bytes, network_time: NetworkTime) -> bytes:
    """The record as a ZIP file: `document` (the record in JSON, as the API shapes it) as `record.json`, and the
    certificate of each milestone as `certificate-<books>.png`. Drawn and zipped in threads, off the event loop."""
    certificates = [reading.certificate_of(record.enrolment, m, network_time) for m in record.milestones]
    pngs = await asyncio.gather(*(certificate_png(certificate) for certificate in certificates))
    return await asyncio.to_thread(
        _zip, document, [(m.books, png) for m, png in zip(record.milestones, pngs, strict=True)]
    )


def _zip(document: bytes, certificates: list[tuple[int, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("record.json", document, compress_type=zipfile.ZIP_DEFLATED)
        for books, png in certificates:
            bundle.writestr(f"certificate-{books}.png", png)  # stored: a PNG is compressed already
    return buffer.getvalue()


async def end_expired(now: datetime, network_time: NetworkTime, bus: EventBus) -> int:
    """Daily: end the enrolments whose retention period after the child's last stage has run out (reason `retention`),
    each in its own transaction. Returns how many were ended."""
    today = network_time.day(now)
    programmes = await Programme.filter(stages__id__isnull=False).distinct().prefetch_related("stages")
    # A child's last stage ended `retention_days` ago or more exactly when the child had reached the last stage's end
    # age on that day: when born by the day the age rule gives for it (`born_by`, the rule inverted, not restated).
    kept = {
        p.id: born_by(max(stage.max_age_months for stage in p.stages), today - timedelta(days=p.retention_days))
        for p in programmes
    }
    rows = await connections.get("default").execute_query_dict(_EXPIRED, [list(kept), list(kept.values())])
    ended = 0
    for row in rows:
        try:
            await enrolments.end_enrolment(row["id"], ConsentEnd.RETENTION, now, network_time, bus)
        except EnrolmentNotFound:
            continue  # the guardian withdrew meanwhile: it is gone already
        ended += 1
    return ended
