"""Demo events, shaped like Tongling's programme: the 铜都讲坛 lectures, 阳光周末 parent-child weekends and the
monthly 月读公社 shared-reading club, open for booking from the moment the demo loads."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from backend.events.models import Audience, Event, EventCategory, EventSeries, EventStatus
from backend.network.models import Library, LibraryLevel


def _saturday_after(now: datetime, weeks: int, at: time, timezone: str) -> datetime:
    local = now.astimezone(ZoneInfo(timezone))
    days = (5 - local.weekday()) % 7 or 7
    return datetime.combine(local.date() + timedelta(days=days + 7 * weeks), at, ZoneInfo(timezone))


async def seed_events(now: datetime) -> int:
    """Events at the central library and the first main library; returns how many."""
    central = await Library.get(level=LibraryLevel.CENTRAL)
    main = await Library.filter(level=LibraryLevel.MAIN, events=True).order_by("code").first()
    assert main is not None, "the demo network has main libraries that hold events"
    club = await EventSeries.create(library=central, name="月读公社", max_active_bookings=2)
    plans = [
        (central, "铜都讲坛：徽州书院与江南藏书", EventCategory.LECTURE, Audience.ADULTS, 120, 0, None, 0, time(9, 30)),
        (main, "阳光周末·亲子绘本故事会", EventCategory.PARENT_CHILD, Audience.CHILDREN, 40, 1, (36, 72), 0, time(10)),
        (main, "阳光周末·宝宝爬爬阅读会", EventCategory.PARENT_CHILD, Audience.CHILDREN, 20, 1, (12, 36), 1, time(10)),
        *(
            (central, f"月读公社·第{n}期共读", EventCategory.SHARED_READING, Audience.ADULTS, 30, 0, None, w, time(14))
            for n, w in ((1, 0), (2, 4), (3, 8))
        ),
    ]
    for library, title, category, audience, capacity, companions, ages, weeks, at in plans:
        starts = _saturday_after(now, weeks, at, library.timezone)
        await Event.create(
            library=library,
            series=club if category is EventCategory.SHARED_READING else None,
            title=title,
            category=category,
            place="多功能厅" if category is EventCategory.LECTURE else "少儿阅览室" if ages else "读者沙龙室",
            starts_at=starts,
            ends_at=starts + timedelta(hours=2),
            audience=audience,
            min_age_months=ages[0] if ages else None,
            max_age_months=ages[1] if ages else None,
            max_companions=companions,
            capacity=capacity,
            waitlist_limit=capacity,
            booking_opens_at=now,
            booking_closes_at=starts - timedelta(hours=2),
            cancel_until=starts - timedelta(days=1),
            status=EventStatus.PUBLISHED,
        )
    return len(plans)
