from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from backend.events.errors import EventTimesInvalid
from backend.events.models import Audience, EventCategory
from backend.events.services import EventDraft

STARTS = datetime(2026, 12, 12, 2, 0, tzinfo=UTC)
DRAFT = EventDraft(
    title="绘本共读",
    description="",
    category=EventCategory.SHARED_READING,
    online=False,
    place="少儿阅览室",
    cover_url="",
    starts_at=STARTS,
    ends_at=STARTS + timedelta(hours=1),
    audience=Audience.EVERYONE,
    min_age_months=None,
    max_age_months=None,
    max_companions=0,
    capacity=30,
    waitlist_limit=None,
    booking_opens_at=STARTS - timedelta(days=7),
    booking_closes_at=STARTS - timedelta(hours=1),
    cancel_until=STARTS - timedelta(hours=2),
)


def test_the_waiting_list_has_as_many_places_as_seats_unless_staff_choose() -> None:
    assert DRAFT.columns()["waitlist_limit"] == 30
    assert replace(DRAFT, waitlist_limit=5).columns()["waitlist_limit"] == 5
    assert replace(DRAFT, waitlist_limit=0).columns()["waitlist_limit"] == 0  # no waiting list at all


@pytest.mark.parametrize(
    "change",
    [
        {"ends_at": STARTS},
        {"booking_closes_at": STARTS + timedelta(minutes=1)},
        {"cancel_until": STARTS + timedelta(minutes=1)},
        {"min_age_months": 36, "max_age_months": 36},
    ],
)
def test_a_draft_with_impossible_times_or_ages_is_refused(change: dict[str, object]) -> None:
    with pytest.raises(EventTimesInvalid):
        replace(DRAFT, **change).check()  # type: ignore[arg-type]
