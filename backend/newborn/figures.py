"""A programme's figures for its staff, over the libraries in their scope: enrolments by partner and month, packs
reserved, claimed, lapsed and given back by stage and library, and the families active lately. (The packs in stock are
the packs' own list, `packs.stock`.)

Counts only, from what names no child: enrolments from the anonymous tally, so those withdrawn since still count;
packs from the pack ledger, whose lines keep the stage and library when their family is gone. Reading them is not a
look-up of children's records, so it is not logged as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from tortoise import connections

from backend.accounts.models import StaffUser
from backend.accounts.staff import authority_scope
from backend.clock import NetworkTime
from backend.newborn import programmes
from backend.newborn.reading_errors import FiguresPeriodInvalid

ACTIVE_DAYS = 90
"""A family is active when it borrowed on the child's card, logged a book or attended an event within this many
days."""
MAX_MONTHS = 36
"""The longest period asked for at once: three years of a programme, the ages it follows a child through."""

_ENROLMENTS = (
    "SELECT t.month, t.partner_id, pa.name AS partner, sum(t.enrolled) AS enrolled, sum(t.withdrawn) AS withdrawn "
    "FROM newborn_enrolment_tally t JOIN library l ON l.id = t.library_id "
    "LEFT JOIN newborn_partner pa ON pa.id = t.partner_id "
    "WHERE t.programme_id = $1 AND l.path LIKE $2 AND t.month BETWEEN $3 AND $4 "
    "GROUP BY t.month, t.partner_id, pa.name"
)
# A claim at another library writes a line in each ledger (on hand there, reserved at the family's library): it is
# counted once, by its reserved line, at the family's library, like the pack's reservation, lapse and cancellation.
_PACKS = (
    "SELECT m.stage_id, st.name AS stage, st.min_age_months, l.code, l.name AS library, "
    "count(*) FILTER (WHERE m.kind = 'reserve') AS reserved, count(*) FILTER (WHERE m.kind = 'claim') AS claimed, "
    "count(*) FILTER (WHERE m.kind = 'lapse') AS lapsed, count(*) FILTER (WHERE m.kind = 'cancel') AS cancelled "
    "FROM pack_movement m JOIN newborn_stage st ON st.id = m.stage_id JOIN library l ON l.id = m.library_id "
    "WHERE st.programme_id = $1 AND l.path LIKE $2 AND m.at >= $3 AND m.at < $4 "
    "AND m.kind IN ('reserve', 'claim', 'lapse', 'cancel') AND (m.kind <> 'claim' OR m.reserved_change < 0) "
    "GROUP BY m.stage_id, st.name, st.min_age_months, l.code, l.name"
)
# A family is its guardian: twins enrolled are one family. Borrowing on the child's card is in the reading record (a
# loan is logged when it opens), which outlives the loan's link to its reader.
_FAMILIES = (
    "SELECT l.code, l.name AS library, count(DISTINCT e.guardian_id) AS families, "
    "count(DISTINCT e.guardian_id) FILTER (WHERE "
    "EXISTS (SELECT 1 FROM newborn_reading r WHERE r.enrolment_id = e.id AND r.created_at >= $3) "
    "OR EXISTS (SELECT 1 FROM booking b WHERE b.attendee_id IN (e.child_id, e.guardian_id) AND b.checked_in_at >= $3)"
    ") AS active "
    "FROM newborn_enrolment e JOIN library l ON l.id = e.library_id "
    "WHERE e.programme_id = $1 AND l.path LIKE $2 "
    "GROUP BY l.code, l.name"
)


@dataclass(frozen=True, slots=True)
class Months:
    """A period of whole months of the network's calendar, each named by its first day."""

    first: date
    last: date

    def starts(self, network_time: NetworkTime) -> datetime:
        return network_time.midnight(self.first)

    def ends(self, network_time: NetworkTime) -> datetime:
        """The moment the period is over: the start of the month after its last."""
        following = (self.last.replace(day=28) + timedelta(days=4)).replace(day=1)
        return network_time.midnight(following)


@dataclass(frozen=True, slots=True)
class EnrolmentFigure:
    month: date
    partner_id: int | None
    partner: str | None
    """None: enrolled by the family in the app."""
    enrolled: int
    withdrawn: int
    """Of those enrolled that month, how many have withdrawn since."""


@dataclass(frozen=True, slots=True)
class PackFigure:
    stage_id: int
    stage: str
    library_code: str
    library: str
    reserved: int
    claimed: int
    """Of the packs reserved at this library, how many were handed out (here or at another library's desk)."""
    lapsed: int
    cancelled: int
    """Given back as consent ended (withdrawn, the card closed, the retention period over)."""


@dataclass(frozen=True, slots=True)
class FamilyFigure:
    library_code: str
    library: str
    families: int
    """Families enrolled now that collect their packs there."""
    active: int


def months(first: date | None, last: date | None, today: date) -> Months:
    """The months from `first` to `last` (first days); left out, the twelve months to this one."""
    last = (last or today).replace(day=1)
    first = (first or _months_before(last, 11)).replace(day=1)
    if first > last or first < _months_before(last, MAX_MONTHS - 1):
        raise FiguresPeriodInvalid(months=MAX_MONTHS)
    return Months(first, last)


def _months_before(month: date, count: int) -> date:
    year, index = divmod(month.year * 12 + month.month - 1 - count, 12)
    return date(year, index + 1, 1)


async def enrolments(
    staff: StaffUser, programme_id: int, period: Months, *, limit: int, offset: int
) -> tuple[list[EnrolmentFigure], int]:
    """Enrolments at my libraries by month and partner (the app as none), the latest month first: how many enrolled
    and how many of them have withdrawn since."""
    order = "month DESC, partner NULLS FIRST, partner_id"
    rows, total = await _page(staff, programme_id, _ENROLMENTS, order, [period.first, period.last], limit, offset)
    figures = [
        EnrolmentFigure(r["month"], r["partner_id"], r["partner"], int(r["enrolled"]), int(r["withdrawn"]))
        for r in rows
    ]
    return figures, total


async def packs(
    staff: StaffUser, programme_id: int, period: Months, network_time: NetworkTime, *, limit: int, offset: int
) -> tuple[list[PackFigure], int]:
    """Packs of the programme's stages reserved, claimed, lapsed and given back at my libraries within the period, by
    library and stage (youngest first)."""
    window = [period.starts(network_time), period.ends(network_time)]
    rows, total = await _page(staff, programme_id, _PACKS, "code, min_age_months, stage_id", window, limit, offset)
    figures = [
        PackFigure(
            r["stage_id"],
            r["stage"],
            r["code"],
            r["library"],
            int(r["reserved"]),
            int(r["claimed"]),
            int(r["lapsed"]),
            int(r["cancelled"]),
        )
        for r in rows
    ]
    return figures, total


async def families(
    staff: StaffUser, programme_id: int, now: datetime, *, limit: int, offset: int
) -> tuple[list[FamilyFigure], int]:
    """The families enrolled at each of my libraries, and how many were active in the last `ACTIVE_DAYS` days:
    borrowed on the child's card, logged a book read, or attended an event (the child or the guardian)."""
    since = [now - timedelta(days=ACTIVE_DAYS)]
    rows, total = await _page(staff, programme_id, _FAMILIES, "code", since, limit, offset)
    figures = [FamilyFigure(r["code"], r["library"], int(r["families"]), int(r["active"])) for r in rows]
    return figures, total


async def _page(
    staff: StaffUser, programme_id: int, grouped: str, order: str, values: Sequence[Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of `grouped` (SQL taking the programme as $1, the staff member's scope as $2 and `values` from $3) in
    `order`, and how many rows it has in all, for a programme the staff member sees."""
    await programmes.staff_programme(staff, programme_id)  # library staff, and a programme my libraries take part in
    params = [programme_id, f"{authority_scope(staff)}%", *values]  # paths are digits and slashes: no LIKE escapes
    conn = connections.get("default")
    rows = await conn.execute_query_dict(
        f"SELECT * FROM ({grouped}) g ORDER BY {order} LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}",
        [*params, limit, offset],
    )
    counted = await conn.execute_query_dict(f"SELECT count(*) AS n FROM ({grouped}) g", params)
    return rows, int(counted[0]["n"])
