"""The couriers the network hands parcels to, and the check of their signed reports.

A courier signs each report to `POST /couriers/{code}/reports` with the secret it shares with the network:
`X-Courier-Timestamp` (unix seconds) and `X-Courier-Signature`, the lowercase hex HMAC-SHA256 of
`f"{timestamp}.".encode() + body` under the secret. A report more than `REPORT_MAX_AGE` from our clock either way is
refused, so a captured report cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from backend import paging
from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.crypto import Keys
from backend.shipping.errors import CourierCodeTaken, CourierInvalid, CourierNotFound, CourierSignatureInvalid
from backend.shipping.models import Courier

REPORT_MAX_AGE = timedelta(seconds=300)
_SECRET = "courier.secret"
CODE = "[a-z0-9][a-z0-9-]{0,19}"  # a path segment of the webhook
_CODE = re.compile(CODE)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
SECRET_LENGTH = (32, 128)
NAME_LENGTH = (1, 100)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What a courier sends as `X-Courier-Signature` for `body` sent at `timestamp`."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def verify_report(
    keys: Keys, code: str, *, timestamp: str | None, signature_hex: str | None, body: bytes, now: datetime
) -> Courier:
    """The active courier whose secret signed `body` at `timestamp`, no more than five minutes from `now`. Anything
    else (no such courier, a missing, stale or wrong signature) is `CourierSignatureInvalid`, alike."""
    if timestamp is None or signature_hex is None or not _TIMESTAMP.fullmatch(timestamp):
        raise CourierSignatureInvalid()
    if abs(now.timestamp() - int(timestamp)) > REPORT_MAX_AGE.total_seconds():
        raise CourierSignatureInvalid()
    courier = await Courier.get_or_none(code=code, active=True) if _CODE.fullmatch(code) else None
    if courier is None:
        raise CourierSignatureInvalid()
    expected = signature(keys.decrypt(courier.secret_encrypted, _SECRET), timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature_hex.encode()):
        raise CourierSignatureInvalid()
    return courier


async def create_courier(keys: Keys, actor: StaffUser, *, code: str, name: str, secret: str, now: datetime) -> Courier:
    """A network administrator adds a courier and the secret it signs its reports with (stored encrypted)."""
    require_role(actor, StaffRole.NETWORK_ADMIN)
    if not _CODE.fullmatch(code):
        raise CourierInvalid(reason="代码为 1 至 20 位小写字母、数字或连字符")
    courier = Courier(code=code, name=_name(name), active=True, created_at=now)
    _set_secret(keys, courier, secret)
    try:
        await courier.save()
    except IntegrityError as exc:
        raise CourierCodeTaken(code=code) from exc
    return courier


async def list_couriers(actor: StaffUser, *, limit: int, offset: int) -> tuple[list[Courier], int]:
    require_role(actor, StaffRole.NETWORK_ADMIN)
    return await paging.page(Courier.all().order_by("code", "id"), limit, offset)


async def update_courier(
    keys: Keys,
    actor: StaffUser,
    code: str,
    *,
    name: str | None = None,
    secret: str | None = None,
    active: bool | None = None,
) -> Courier:
    """Rename a courier, rotate its secret (reports signed with the old one are refused from now on), or retire it
    (its reports are refused; parcels it already carries keep their steps)."""
    require_role(actor, StaffRole.NETWORK_ADMIN)
    courier = await Courier.get_or_none(code=code)
    if courier is None:
        raise CourierNotFound()
    if name is not None:
        courier.name = _name(name)
    if secret is not None:
        _set_secret(keys, courier, secret)
    if active is not None:
        courier.active = active
    await courier.save(update_fields=["name", "secret_encrypted", "active"])
    return courier


def _name(name: str) -> str:
    cleaned = name.strip()
    if not NAME_LENGTH[0] <= len(cleaned) <= NAME_LENGTH[1]:
        raise CourierInvalid(reason="名称 1 至 100 个字")
    return cleaned


def _set_secret(keys: Keys, courier: Courier, secret: str) -> None:
    if not SECRET_LENGTH[0] <= len(secret) <= SECRET_LENGTH[1]:
        raise CourierInvalid(reason="密钥 32 至 128 个字符")
    courier.secret_encrypted = keys.encrypt(secret, _SECRET)
