"""What the input tests share: a valid event to spoil one field of, and the refusal that names a field."""

from datetime import datetime, timedelta
from typing import Any

import httpx

PROBLEM = "application/problem+json"


def event_body(now: datetime, **fields: Any) -> dict[str, Any]:
    """A valid new event at TL-A, booking open from `now`; `fields` replace any of it."""
    times = {
        "booking_opens_at": now,
        "booking_closes_at": now + timedelta(days=5),
        "cancel_until": now + timedelta(days=4),
        "starts_at": now + timedelta(days=6),
        "ends_at": now + timedelta(days=6, hours=2),
    }
    body: dict[str, Any] = {"library_code": "TL-A", "title": "故事会", "category": "lecture", "capacity": 10}
    return body | {name: moment.isoformat() for name, moment in times.items()} | fields


def names_field(response: httpx.Response, field: str) -> bool:
    """Whether the response is a 400 or 422 problem that names `field` among its errors."""
    return (
        response.status_code in (400, 422)
        and response.headers["content-type"].startswith(PROBLEM)
        and any(field in (error.get("key") or "") for error in response.json().get("errors", []))
    )
