"""A courier's side of the report webhook: it signs each report with its secret and posts it, as a courier company's
push service does. Used by the tests, the benchmark and the demo against the real app."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import httpx


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CourierClient:
    """Posts reports for courier `code` through `http` (the app's client, or one with the server's base URL).
    `clock` gives the moment a report is signed at: the service's clock in tests that move time."""

    def __init__(
        self, http: httpx.AsyncClient, code: str, secret: str, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self.http = http
        self.code = code
        self._secret = secret.encode()
        self._clock = clock

    async def report(
        self,
        tracking_no: str,
        status: str,
        occurred_at: datetime,
        *,
        report_id: str | None = None,
        note: str = "",
    ) -> httpx.Response:
        """One step of a parcel, signed now; a fresh report id unless one is given (give the same one to retry)."""
        body = {
            "report_id": report_id or uuid.uuid4().hex,
            "tracking_no": tracking_no,
            "status": status,
            "occurred_at": occurred_at.isoformat(),
        }
        if note:
            body["note"] = note
        return await self.send(json.dumps(body, ensure_ascii=False).encode())

    async def send(self, body: bytes, *, timestamp: int | None = None, secret: str | None = None) -> httpx.Response:
        """`body` as it is, signed at `timestamp` (default now) with `secret` (default the courier's): how a stale or
        forged report is made."""
        signed_at = str(timestamp if timestamp is not None else int(self._clock().timestamp()))
        # Written from the protocol as a courier reads it, not imported from the server, so a change to either side
        # that breaks the other shows.
        key = secret.encode() if secret is not None else self._secret
        digest = hmac.new(key, f"{signed_at}.".encode() + body, hashlib.sha256).hexdigest()
        return await self.http.post(
            f"/couriers/{self.code}/reports",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Courier-Timestamp": signed_at,
                "X-Courier-Signature": digest,
            },
        )
