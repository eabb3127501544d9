"""A reader's age in whole months, on the network's calendar: the one rule behind the little readers' lending
category, an event's age range and the age limit of a child's card."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.accounts.models import Reader

_BIRTH_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


def birth_month(text: str) -> date | None:
    """The first day of a birth month written YYYY-MM, or None when the text is not one (year 0000 is none)."""
    match = _BIRTH_MONTH.fullmatch(text)  # whole: `$` would let "2020-01\n" through
    if match is None or match[1] == "0000":
        return None
    return date(int(match[1]), int(match[2]), 1)


def month_of(born: date) -> str:
    """A day of birth's month as `birth_month` keeps it (YYYY-MM)."""
    return f"{born.year:04d}-{born.month:02d}"


def birth_of(reader: Reader) -> date | str | None:
    """What a card records of its holder's birth, finest first: the date of birth when known (a newborn programme's
    child), else the birth month (YYYY-MM), else nothing (an adult)."""
    return reader.date_of_birth or reader.birth_month


def age_in_months(born: date | str, today: date) -> int:
    """Whole months from birth to `today`, a day of the network's calendar (`NetworkTime.day(now)`): how old a
    reader is there, wherever the server or the library is. `born` is a date of birth or a birth month (YYYY-MM, all a
    child's card records): counted from the month's first day, a reader is a month older on the first of each month.
    Negative before birth."""
    if isinstance(born, str):
        parsed = birth_month(born)
        if parsed is None:
            raise ValueError(f"{born!r} is not a birth month (YYYY-MM)")
        born = parsed
    months = (today.year - born.year) * 12 + today.month - born.month
    return months - 1 if today.day < born.day else months
