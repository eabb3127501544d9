"""Weekly opening hours: validation and "open now" in the library's own time zone."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend.network.errors import InvalidOpeningHours, UnknownTimezone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")  # [0-9], not \d: no full-width digits

WeeklyHours = dict[str, list[list[str]]]


def validate(hours: WeeklyHours) -> WeeklyHours:
    """Check the shape and order of every interval; return the hours with days in week order."""
    unknown = set(hours) - set(WEEKDAYS)
    if unknown:
        raise InvalidOpeningHours(reason=f"unknown day {sorted(unknown)[0]!r}")
    cleaned: WeeklyHours = {}
    for day in WEEKDAYS:
        intervals = hours.get(day) or []
        previous_close = "00:00"
        for interval in intervals:
            if len(interval) != 2 or not all(isinstance(t, str) and _HHMM.fullmatch(t) for t in interval):
                raise InvalidOpeningHours(reason=f"{day}: {interval!r} is not [HH:MM, HH:MM]")
            opens, closes = interval
            if not previous_close <= opens < closes:
                raise InvalidOpeningHours(reason=f"{day}: intervals must be ordered and not overlap")
            previous_close = closes
        if intervals:
            cleaned[day] = [list(i) for i in intervals]
    return cleaned


def hours_on(hours: WeeklyHours, moment: datetime, timezone: str) -> list[list[str]]:
    local = moment.astimezone(ZoneInfo(timezone))
    return hours.get(WEEKDAYS[local.weekday()], [])


def is_open(hours: WeeklyHours, moment: datetime, timezone: str) -> bool:
    """Whether the library is open at `moment` (an aware datetime), judged by its local wall clock."""
    now = moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M")
    return any(opens <= now < closes for opens, closes in hours_on(hours, moment, timezone))


def validate_timezone(timezone: str) -> str:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "Asia" is a directory of tzdata
        raise UnknownTimezone(timezone=timezone) from exc
    return timezone
