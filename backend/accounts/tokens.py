"""Access tokens (short-lived, signed) and refresh tokens (opaque, stored hashed, rotated, revocable)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import jwt
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from backend.accounts.errors import RefreshTokenInvalid, TokenExpired, TokenInvalid
from backend.accounts.models import AuthSession, Reader, StaffUser
from backend.crypto import Keys, token_digest

_ALGORITHM = "HS256"


class PrincipalKind(StrEnum):
    READER = "reader"
    STAFF = "staff"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    id: int
    generation: int = 0
    """A reader's session generation the token was issued in (`Reader.session_generation`); 0 for staff."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    keys: Keys
    access_ttl: timedelta
    refresh_ttl: timedelta


def decode_access_token(policy: TokenPolicy, token: str, now: datetime) -> Principal:
    try:
        claims = jwt.decode(
            token,
            policy.keys.token_key,
            algorithms=[_ALGORITHM],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp"]},
        )
        kind, _, ident = str(claims["sub"]).partition(":")
        principal = Principal(PrincipalKind(kind), int(ident), int(claims.get("gen", 0)))
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise TokenInvalid() from exc
    # Expiry is judged by the service's clock, not the library's (which would also refuse an `iat` ahead of the
    # machine's time), so every rule shares one notion of "now".
    if claims["exp"] <= now.timestamp():
        raise TokenExpired()
    return principal


async def open_session(policy: TokenPolicy, principal: Principal, now: datetime) -> TokenPair:
    """Start a new login: a fresh refresh-token family."""
    if principal.kind is PrincipalKind.STAFF:
        return await _issue(policy, principal, uuid.uuid4(), now)
    async with in_transaction():
        # The reader's row lock, as in `refresh_session`: a login racing the end of the reader's sessions either
        # comes after it (the new generation, a login of its own) or before it (its token is deleted with the
        # others), never reads the old generation and stores its token after the deletion.
        reader = await Reader.select_for_update().get_or_none(id=principal.id).only("id", "session_generation")
        current = Principal(principal.kind, principal.id, reader.session_generation if reader is not None else 0)
        return await _issue(policy, current, uuid.uuid4(), now)


async def refresh_session(policy: TokenPolicy, refresh_token: str, now: datetime) -> TokenPair:
    """Trade a refresh token for a new pair. Each token works once; presenting a spent one again means it was
    copied, so the whole family is revoked and both holders must log in again."""
    digest = token_digest(refresh_token)
    # The conditional UPDATE is the single point where a token is spent: two concurrent refreshes with the same
    # token cannot both succeed. No transaction around it: the family revocation below must stick.
    spent = await AuthSession.filter(token_digest=digest, revoked_at__isnull=True, expires_at__gt=now).update(
        revoked_at=now
    )
    session = await AuthSession.get_or_none(token_digest=digest)
    if session is None:
        raise RefreshTokenInvalid()
    if not spent:
        if session.expires_at > now:  # a spent token shown again, not merely an old one
            await AuthSession.filter(family=session.family, revoked_at__isnull=True).update(revoked_at=now)
        raise RefreshTokenInvalid()
    principal = _principal_of(session)
    if principal.kind is PrincipalKind.STAFF:
        if not await StaffUser.exists(id=principal.id, active=True):
            raise RefreshTokenInvalid()
        return await _issue(policy, principal, session.family, now)
    async with in_transaction():
        # The reader's row lock, which ending their sessions holds too: either those sessions are ended after this
        # refresh and take its new token with them, or this refresh waits and finds its token gone with them.
        reader = await Reader.select_for_update().get_or_none(id=principal.id)
        if reader is None or not await AuthSession.exists(id=session.id):
            raise RefreshTokenInvalid()
        current = Principal(principal.kind, principal.id, reader.session_generation)
        return await _issue(policy, current, session.family, now)


async def end_reader_sessions(reader_id: int, now: datetime) -> int:
    """End every login of a reader (a lost phone): their refresh tokens are deleted and their session generation
    moves on, so access tokens already issued stop at their next request, not 15 minutes later. Call inside a
    transaction that holds the reader's row lock (see `refresh_session`). Returns how many logins were live."""
    live = await AuthSession.filter(reader_id=reader_id, revoked_at__isnull=True, expires_at__gt=now).values_list(
        "family", flat=True
    )
    await AuthSession.filter(reader_id=reader_id).delete()
    await Reader.filter(id=reader_id).update(session_generation=F("session_generation") + 1)
    return len(set(live))


async def close_session(refresh_token: str, now: datetime) -> None:
    """Log out: revoke every token of this login. Unknown tokens are ignored (logging out twice is fine)."""
    session = await AuthSession.get_or_none(token_digest=token_digest(refresh_token))
    if session is not None:
        await AuthSession.filter(family=session.family, revoked_at__isnull=True).update(revoked_at=now)


async def purge_expired_sessions(now: datetime) -> int:
    """Delete refresh tokens past their expiry: they are refused anyway, and spent ones no longer need to be kept
    for replay detection once they could not be used at all."""
    return await AuthSession.filter(expires_at__lte=now).delete()


async def _issue(policy: TokenPolicy, principal: Principal, family: uuid.UUID, now: datetime) -> TokenPair:
    access_expires = now + policy.access_ttl
    claims: dict[str, object] = {
        "sub": f"{principal.kind}:{principal.id}",
        "iat": int(now.timestamp()),
        "exp": int(access_expires.timestamp()),
    }
    if principal.kind is PrincipalKind.READER:
        claims["gen"] = principal.generation
    access = jwt.encode(claims, policy.keys.token_key, algorithm=_ALGORITHM)
    refresh = secrets.token_urlsafe(32)
    refresh_expires = now + policy.refresh_ttl
    await AuthSession.create(
        family=family,
        token_digest=token_digest(refresh),
        reader_id=principal.id if principal.kind is PrincipalKind.READER else None,
        staff_id=principal.id if principal.kind is PrincipalKind.STAFF else None,
        expires_at=refresh_expires,
    )
    return TokenPair(access, access_expires, refresh, refresh_expires)


def _principal_of(session: AuthSession) -> Principal:
    if session.reader_id is not None:  # type: ignore[attr-defined]
        return Principal(PrincipalKind.READER, session.reader_id)  # type: ignore[attr-defined]
    return Principal(PrincipalKind.STAFF, session.staff_id)  # type: ignore[attr-defined]
