from datetime import date

import pytest

from backend.accounts.ages import birth_month


def test_a_birth_month_is_the_first_day_of_that_month() -> None:
    assert birth_month("2020-01") == date(2020, 1, 1)
    assert birth_month("0001-12") == date(1, 12, 1)


@pytest.mark.parametrize("text", ["0000-01", "2020-01\n", "2020-1", "2020-13", "2020-00", "٢٠٢٠-٠١", " 2020-01", ""])
def test_what_is_not_a_month_of_a_year_is_no_birth_month(text: str) -> None:
    assert birth_month(text) is None
