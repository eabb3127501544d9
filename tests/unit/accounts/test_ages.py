from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from backend.accounts.ages import age_in_months, birth_month
from backend.clock import NetworkTime

CHINA = NetworkTime(ZoneInfo("Asia/Shanghai"))


def test_a_birth_month_counts_from_its_first_day() -> None:
    assert age_in_months("2020-06", date(2026, 5, 31)) == 71
    assert age_in_months("2020-06", date(2026, 6, 1)) == 72
    assert age_in_months("2020-06", date(2020, 6, 1)) == 0
    assert age_in_months("2020-06", date(2020, 5, 31)) == -1


def test_a_date_of_birth_counts_to_the_day() -> None:
    assert age_in_months(date(2020, 6, 15), date(2026, 6, 14)) == 71
    assert age_in_months(date(2020, 6, 15), date(2026, 6, 15)) == 72


def test_a_birth_month_and_the_first_day_of_that_month_are_the_same_age() -> None:
    for today in (date(2026, 1, 1), date(2026, 6, 30), date(2027, 12, 31)):
        assert age_in_months("2020-06", today) == age_in_months(date(2020, 6, 1), today)


def test_on_the_first_of_december_in_china_a_november_child_is_a_month_older_while_utc_is_still_in_november() -> None:
    moment = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 01:00 on 1 December in China
    assert CHINA.day(moment) == date(2026, 12, 1)
    assert age_in_months("2020-12", CHINA.day(moment)) == 72  # six today, in China
    assert age_in_months("2020-12", moment.date()) == 71  # what the UTC calendar would have said


@pytest.mark.parametrize("text", ["2020-13", "2020-6", "20-06", "2020/06", "", "2020-06-01"])
def test_a_birth_month_is_written_yyyy_mm(text: str) -> None:
    assert birth_month(text) is None
    with pytest.raises(ValueError, match="birth month"):
        age_in_months(text, date(2026, 1, 1))
