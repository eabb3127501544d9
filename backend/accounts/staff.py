"""Staff accounts: password login with lockout, roles, and the library sub-tree each one manages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from redis.asyncio import Redis
from tortoise.exceptions import IntegrityError

from backend import paging
from backend.accounts.errors import (
    BookstoreClerksOnly,
    CannotDeactivateSelf,
    ClerkNeedsBookstore,
    EnrollerNeedsPartner,
    EnrollersOnly,
    LoginFailed,
    LoginLocked,
    NetworkAdminOutsideCentral,
    RoleTooLow,
    StaffNotFound,
    StaffOnly,
    TokenInvalid,
    UsernameTaken,
    WeakPassword,
)
from backend.accounts.models import AuthSession, StaffRole, StaffUser
from backend.accounts.tokens import Principal, PrincipalKind, TokenPair, TokenPolicy, open_session
from backend.network.models import Library, LibraryLevel
from backend.network.services import NETWORK_ROOT, in_scope, library_in_scope
from backend.ratelimits import count

# Argon2id with the library's defaults (RFC 9106 second recommended option).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so a failed login takes the same time either way.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10

# An enroller or a bookstore clerk ranks below a librarian: every `require_role` refuses them, and any administrator
# of their library may deactivate them.
RANK = {
    StaffRole.ENROLLER: 0,
    StaffRole.BOOKSTORE_CLERK: 0,
    StaffRole.LIBRARIAN: 1,
    StaffRole.LIBRARY_ADMIN: 2,
    StaffRole.NETWORK_ADMIN: 3,
}
# Partners' accounts: each scoped to its partner, and closed to everything library staff do.
_PARTNER_ROLES = frozenset({StaffRole.ENROLLER, StaffRole.BOOKSTORE_CLERK})


@dataclass(frozen=True, slots=True)
class LoginLimits:
    max_failures: int
    lockout_seconds: int


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword()
    return _hasher.hash(password)


async def staff_login(
    redis: Redis, policy: TokenPolicy, limits: LoginLimits, username: str, password: str, now: datetime
) -> TokenPair:
    """Password login. Attempts are counted per username in Redis before the password is checked (INCR is atomic
    across workers), and a success clears the count: no flood of parallel guesses gets past the limit."""
    attempts_key = f"staff:login-attempts:{username.lower()}"
    attempts = await count(redis, attempts_key, limits.lockout_seconds)  # the window starts at the first attempt
    if attempts.requests > limits.max_failures:
        raise LoginLocked(attempts.seconds_left)
    staff = await StaffUser.get_or_none(username=username, active=True)
    valid = await asyncio.to_thread(_verify, staff.password_hash if staff else _DUMMY_HASH, password)
    if staff is None or not valid:
        raise LoginFailed()
    await redis.delete(attempts_key)
    return await open_session(policy, Principal(PrincipalKind.STAFF, staff.id), now)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except VerificationError:
        return False


async def staff_for(principal: Principal) -> StaffUser:
    """The active library staff member behind an access token, with their library (which fixes their scope). A
    partner's enroller or a bookstore's clerk is not library staff: the desk, the catalogue and the rest are closed
    to them."""
    staff = await _active_staff(principal)
    if staff.role in _PARTNER_ROLES:
        raise StaffOnly()
    return staff


async def enroller_for(principal: Principal) -> StaffUser:
    """The active enroller behind an access token, with their library; their partner is `staff.partner_id`."""
    staff = await _active_staff(principal)
    if staff.role is not StaffRole.ENROLLER:
        raise EnrollersOnly()
    return staff


async def clerk_for(principal: Principal) -> StaffUser:
    """The active bookstore clerk behind an access token, with their library; their shop is `staff.bookstore_id`."""
    staff = await _active_staff(principal)
    if staff.role is not StaffRole.BOOKSTORE_CLERK:
        raise BookstoreClerksOnly()
    return staff


async def _active_staff(principal: Principal) -> StaffUser:
    if principal.kind is not PrincipalKind.STAFF:
        raise StaffOnly()
    staff = await StaffUser.get_or_none(id=principal.id, active=True).select_related("library")
    if staff is None:
        raise TokenInvalid()
    return staff


def require_role(staff: StaffUser, minimum: StaffRole) -> None:
    if RANK[staff.role] < RANK[minimum]:
        raise RoleTooLow()


def authority_scope(staff: StaffUser) -> str:
    """The sub-tree a staff member acts on for the network's readers (a suspension, a reading list and its pushes):
    the whole network for a network admin, else their library and what is below it (the central library's own
    admin is not the network's)."""
    return NETWORK_ROOT if staff.role is StaffRole.NETWORK_ADMIN else staff.library.path


def managed_scope(staff: StaffUser) -> str:
    """The sub-tree an administrator may change (libraries, staff): their library's path."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    return staff.library.path


async def create_staff(
    actor: StaffUser, *, username: str, password: str, display_name: str, role: StaffRole, library_code: str
) -> StaffUser:
    """Administrators add staff to libraries inside their scope, with a role no higher than their own."""
    require_role(actor, StaffRole.LIBRARY_ADMIN)
    if RANK[role] > RANK[actor.role]:
        raise RoleTooLow()
    if role is StaffRole.ENROLLER:
        raise EnrollerNeedsPartner()
    if role is StaffRole.BOOKSTORE_CLERK:
        raise ClerkNeedsBookstore()
    library = await library_in_scope(library_code, actor.library.path)
    if role is StaffRole.NETWORK_ADMIN and library.level is not LibraryLevel.CENTRAL:
        raise NetworkAdminOutsideCentral()
    return await _create(username, password, display_name, role, library)


async def create_enroller(
    *, username: str, password: str, display_name: str, library: Library, partner_id: int
) -> StaffUser:
    """An enroller account of a partner organisation, at the partner's library. The newborn programme's service
    decides who may add one (administrators of the partner's library); accounts knows nothing of partners."""
    return await _create(username, password, display_name, StaffRole.ENROLLER, library, partner_id=partner_id)


async def create_bookstore_clerk(
    *, username: str, password: str, display_name: str, library: Library, bookstore_id: int
) -> StaffUser:
    """A clerk account of a partner bookstore, at the bookstore's main library. The purchases service decides who may
    add one (administrators over that library); accounts knows nothing of bookstores."""
    return await _create(
        username, password, display_name, StaffRole.BOOKSTORE_CLERK, library, bookstore_id=bookstore_id
    )


async def _create(
    username: str,
    password: str,
    display_name: str,
    role: StaffRole,
    library: Library,
    *,
    partner_id: int | None = None,
    bookstore_id: int | None = None,
) -> StaffUser:
    password_hash = await asyncio.to_thread(hash_password, password)  # Argon2 takes ~100 ms of CPU
    try:
        return await StaffUser.create(
            username=username,
            password_hash=password_hash,
            display_name=display_name,
            role=role,
            library=library,
            partner_id=partner_id,
            bookstore_id=bookstore_id,
        )
    except IntegrityError as exc:
        raise UsernameTaken(username=username) from exc


async def create_first_admin(username: str, password: str, central: Library) -> StaffUser:
    """The network administrator an installation starts with (from `shuxiang bootstrap`, not the API)."""
    return await _create(username, password, username, StaffRole.NETWORK_ADMIN, central)


async def list_staff(
    actor: StaffUser, library_code: str | None, *, limit: int, offset: int
) -> tuple[list[StaffUser], int]:
    require_role(actor, StaffRole.LIBRARY_ADMIN)
    root = await library_in_scope(library_code, actor.library.path) if library_code else actor.library
    staff = StaffUser.filter(library__path__startswith=root.path).prefetch_related("library").order_by("id")
    return await paging.page(staff, limit, offset)


async def deactivate_staff(actor: StaffUser, staff_id: int, now: datetime) -> StaffUser:
    """Disable a staff account at once: its refresh tokens are revoked with it. Administrators disable staff of a
    lower role in their scope; a network administrator anyone but themselves (someone must remain)."""
    require_role(actor, StaffRole.LIBRARY_ADMIN)
    staff = await StaffUser.get_or_none(id=staff_id).select_related("library")
    if staff is None or not in_scope(staff.library, actor.library.path):
        raise StaffNotFound()
    if staff.id == actor.id:
        raise CannotDeactivateSelf()
    if RANK[staff.role] >= RANK[actor.role] and actor.role is not StaffRole.NETWORK_ADMIN:
        raise RoleTooLow()
    staff.active = False
    await staff.save(update_fields=["active"])
    await AuthSession.filter(staff=staff, revoked_at__isnull=True).update(revoked_at=now)
    return staff
