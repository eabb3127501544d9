"""The daily stage change: children whose age entered another stage are moved into it and its pack is reserved.

Set-based: a child's age in whole months (`ages.age_in_months`, the one rule) is within a stage exactly when the day
of birth falls in a range of days worked out here once per stage, so the database finds and moves a batch of children
in one statement, however many are enrolled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise import connections

from backend.accounts.ages import age_in_months
from backend.clock import NetworkTime
from backend.eventbus import EventBus
from backend.newborn.models import Stage
from backend.newborn.packs import Wanted, lapses_at, reserve

# Children moved (and packs reserved, and families told) per transaction.
BATCH = 2000

# A batch of children whose stage is not the one their date of birth puts them in today (`bounds`: per stage, the days
# of birth it takes), locked, in id order after the last batch, and moved; None when they are past the last stage (or
# before the first). A child whose enrolment is being ended waits for that and is then gone. Every enrolment records
# the day of birth (the stages count from it), so a card without one is none of the programme's.
_MOVE = """
WITH bounds AS (
    SELECT * FROM unnest($3::int[], $4::int[], $5::date[], $6::date[]) AS b(stage_id, programme_id, born_after, born_by)
), due AS (
    SELECT e.id, target.stage_id
    FROM newborn_enrolment e
    JOIN reader r ON r.id = e.child_id
    LEFT JOIN LATERAL (
        SELECT b.stage_id FROM bounds b
        WHERE b.programme_id = e.programme_id AND r.date_of_birth > b.born_after AND r.date_of_birth <= b.born_by
    ) target ON true
    WHERE e.id > $1 AND r.date_of_birth IS NOT NULL AND e.stage_id IS DISTINCT FROM target.stage_id
    ORDER BY e.id
    LIMIT $2
    FOR UPDATE OF e
)
UPDATE newborn_enrolment e SET stage_id = due.stage_id FROM due WHERE e.id = due.id
RETURNING e.id, e.stage_id, e.library_id, e.guardian_id
"""


@dataclass(frozen=True, slots=True)
class Bounds:
    """The days of birth of the children in a stage today: after `born_after`, up to `born_by`."""

    stage_id: int
    programme_id: int
    born_after: date
    born_by: date
    until: datetime
    """When a pack reserved today for this stage lapses (the programme's `reservation_days`)."""


def born_by(months: int, today: date) -> date:
    """The latest day of birth of a child `months` old or more today: the age rule is monotonic in the day of birth,
    so it is found by bisection over the rule itself rather than restated."""
    earliest, latest = today - timedelta(days=31 * (months + 1)), today  # old enough / not (before birth: too young)
    while (latest - earliest).days > 1:
        middle = earliest + timedelta(days=(latest - earliest).days // 2)
        if age_in_months(middle, today) >= months:
            earliest = middle
        else:
            latest = middle
    return latest if age_in_months(latest, today) >= months else earliest


async def stage_bounds(now: datetime, network_time: NetworkTime) -> list[Bounds]:
    """Every programme's stages as days of birth, on the network's calendar today."""
    today = network_time.day(now)
    return [
        Bounds(
            stage.id,
            stage.programme_id,
            born_by(stage.max_age_months, today),
            born_by(stage.min_age_months, today),
            lapses_at(network_time, now, stage.programme.reservation_days),
        )
        for stage in await Stage.all().select_related("programme")
    ]


async def move_children(now: datetime, network_time: NetworkTime, bus: EventBus, batch: int = BATCH) -> int:
    """Daily, after midnight of the network's calendar: move every enrolled child into the stage their age is in now
    (none past the last) and reserve the new stage's pack, telling the family; a stage's pack reserved before is not
    reserved again. Safe to run again and at once. Returns how many children moved."""
    bounds = await stage_bounds(now, network_time)
    until = {b.stage_id: b.until for b in bounds}
    arrays = [
        [b.stage_id for b in bounds],
        [b.programme_id for b in bounds],
        [b.born_after for b in bounds],
        [b.born_by for b in bounds],
    ]
    moved, after = 0, 0
    while True:
        async with bus.transaction():
            rows = await connections.get("default").execute_query_dict(_MOVE, [after, batch, *arrays])
            entering = [
                Wanted(row["id"], row["stage_id"], row["library_id"], row["guardian_id"], until[row["stage_id"]])
                for row in rows
                if row["stage_id"] is not None
            ]
            await reserve(entering, now, network_time)
        moved += len(rows)
        if len(rows) < batch:
            return moved
        after = max(row["id"] for row in rows)
