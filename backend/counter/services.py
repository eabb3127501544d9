"""Staff look-ups of readers at a desk: by card number anywhere in the network, by phone or name within the staff
member's scope, and what a desk sees or does with one reader's card. Every look-up is logged by the service that makes
it, so no client can look a reader up without leaving a line in the log, and every read by card number of a reader the
staff member may not browse spends their budget of such look-ups (`reader_at_desk`)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from backend import paging
from backend.accounts import cards
from backend.accounts.cards import Replacement
from backend.accounts.models import Reader, ReaderType, StaffRole, StaffUser
from backend.accounts.services import identify_at_desk, reader_by_card_number
from backend.accounts.staff import require_role
from backend.circulation import holds, services
from backend.circulation.credit import may_lift
from backend.circulation.holds import QueuePlace
from backend.circulation.models import ACTIVE_HOLD, CreditEvent, Hold, Loan, Suspension
from backend.circulation.services import LoanState
from backend.circulation.standing import Standing, standing, suspensions_in_force
from backend.clock import NetworkTime
from backend.counter.errors import LookupQueryRequired, PhoneInvalid
from backend.counter.models import LookupAction, LookupBy, ReaderLookup
from backend.crypto import Keys
from backend.network.models import Library
from backend.passes import SignedPasses
from backend.ratelimits import Kind, RateLimits

# A reader has at most what the most generous credit tier allows (tiers cap loans and holds at 100): the staff view
# shows them all in one answer.
MOST_ON_A_CARD = 100
_PHONE_SEPARATORS = re.compile(r"[\s\-()]+")
_PHONE = re.compile(r"\+[1-9][0-9]{5,14}")  # E.164
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def browsable_by(staff: StaffUser) -> Q | None:
    """The readers a staff member may find by phone or name (None: every reader).

    Readers are the network's, not a library's: one card borrows everywhere, so any desk serves any reader whose card
    it is shown, and a card number finds anyone (`reader_at_desk`), on a budget for readers outside this scope.
    Browsing by phone or name is another thing: it finds people who are not at the desk. So it finds only readers tied
    to the libraries the staff member works for: their home library is there, or they have a book on loan from there
    or a hold to collect there. A network administrator's scope is the whole network, readers tied to no library
    included."""
    if staff.role is StaffRole.NETWORK_ADMIN:
        return None
    scope = staff.library.path
    borrowing_here = Loan.filter(returned_at__isnull=True, library__path__startswith=scope).values("reader_id")
    collecting_here = Hold.filter(status__in=ACTIVE_HOLD, pickup_library__path__startswith=scope).values("reader_id")
    return (
        Q(home_library__path__startswith=scope)
        | Q(id__in=Subquery(borrowing_here))
        | Q(id__in=Subquery(collecting_here))
    )


def normalise_phone(typed: str) -> str:
    """A phone number as WeChat gives it and the blind index was made of (`+<country code><number>`), from what a
    librarian types: spaces, dashes and brackets dropped, full-width digits read, a mainland mobile without +86."""
    number = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", typed))
    if number.startswith("00"):
        number = "+" + number[2:]
    elif _MAINLAND_MOBILE.fullmatch(number):
        number = "+86" + number
    if not _PHONE.fullmatch(number):
        raise PhoneInvalid()
    return number


@dataclass(frozen=True, slots=True)
class Query:
    by: LookupBy
    value: str
    """As normalised: what is matched, and what the log keeps a keyed hash of."""


def _one_query(card_number: str | None, phone: str | None, name: str | None) -> Query:
    given = [
        (by, text)
        for by, text in ((LookupBy.CARD_NUMBER, card_number), (LookupBy.PHONE, phone), (LookupBy.NAME, name))
        if text is not None and text.strip()
    ]
    if len(given) != 1:
        raise LookupQueryRequired()
    by, text = given[0]
    if by is LookupBy.CARD_NUMBER:
        return Query(by, cards.normalise_card_number(text))
    if by is LookupBy.PHONE:
        return Query(by, normalise_phone(text))
    return Query(by, text.strip())


def _matching(query: Query, keys: Keys, staff: StaffUser) -> QuerySet[Reader]:
    if query.by is LookupBy.CARD_NUMBER:
        return Reader.filter(card_number=query.value)  # exact, and anyone's: the card is at the desk
    # A phone is matched on its blind index, never by decrypting rows; a name from its start (names are written
    # surname first, so that is how staff type them), which an index on the upper-cased name serves.
    found = (
        Reader.filter(phone_index=keys.blind_index(query.value))
        if query.by is LookupBy.PHONE
        else Reader.filter(name__istartswith=query.value)
    )
    scope = browsable_by(staff)
    return found if scope is None else found.filter(scope)


async def search_readers(
    staff: StaffUser,
    keys: Keys,
    rate_limits: RateLimits,
    now: datetime,
    *,
    card_number: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Reader], int]:
    """Readers by exactly one of: card number (exact, anyone's, on the budget of `reader_at_desk`; a number reported
    lost is `CardReportedLost`, as at every desk), phone (exact) or the start of the name (readers in the staff
    member's scope, `browsable_by`). Logged, with the readers shown."""
    query = _one_query(card_number, phone, name)
    matching = _matching(query, keys, staff).prefetch_related("guardian", "home_library").order_by("name", "id")
    async with in_transaction() as tx:
        # A generic plan of a prepared statement cannot use the name's index for LIKE $1: plan with the value.
        await tx.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
        found, total = await paging.page(matching, limit, offset)
    outside = False
    if query.by is LookupBy.CARD_NUMBER:
        if total == 0:
            await cards.refuse_if_reported_lost(query.value)
        for reader in found:  # one at most: card numbers are unique
            outside = await _spend_if_outside(staff, reader, rate_limits) or outside
    await _log(staff, keys, now, LookupAction.SEARCH, query, found, outside_scope=outside)
    return found, total


@dataclass(frozen=True, slots=True)
class AtDesk:
    card_number: str
    """The number looked up, as normalised (for a replacement, perhaps one already reported lost)."""
    reader: Reader  # with guardian and home library, but for a replacement
    children: list[Reader]
    """A guardian's children's cards, shown with them in the staff view (`LookupAction.VIEW`); empty otherwise."""


async def reader_at_desk(
    staff: StaffUser, typed_number: str, action: LookupAction, *, keys: Keys, rate_limits: RateLimits, now: datetime
) -> AtDesk:
    """The reader whose card number a desk typed or scanned, for what `action` shows of them: every staff read of one
    reader by card number comes through here (the view, the credit, a verification, a replacement), so each is
    logged. Any reader of the network is found (their card is at the desk), but one outside the readers the staff
    member may browse (`browsable_by`) spends one of their `desk_out_of_scope` look-ups first (`RateLimited` past
    the budget, and nothing is shown or logged), and the log marks it `outside_scope`: card numbers are a sequence, and
    a desk counting through them would otherwise read the whole network. A replacement also finds the holder by a
    number already reported lost (its answer is then that report); every other action refuses one as reported lost."""
    card_number = cards.normalise_card_number(typed_number)
    if action is LookupAction.REPLACE:
        reader = await cards.holder_of_card(card_number)
    else:
        reader = await reader_by_card_number(card_number)
    outside = await _spend_if_outside(staff, reader, rate_limits)
    children = await _children(reader) if action is LookupAction.VIEW else []
    query = Query(LookupBy.CARD_NUMBER, card_number)
    await _log(staff, keys, now, action, query, [reader, *children], outside_scope=outside)
    return AtDesk(card_number, reader, children)


async def _spend_if_outside(staff: StaffUser, reader: Reader, rate_limits: RateLimits) -> bool:
    """Whether `reader` is outside what `staff` may browse; if so, one of their look-ups of such readers is spent."""
    scope = browsable_by(staff)
    if scope is None or await Reader.filter(scope, id=reader.id).exists():
        return False
    await rate_limits.spend(Kind.DESK_OUT_OF_SCOPE, f"staff:{staff.id}")
    return True


async def _children(guardian: Reader) -> list[Reader]:
    return await Reader.filter(guardian_id=guardian.id).prefetch_related("guardian", "home_library").order_by("id")


async def identify(
    staff: StaffUser,
    keys: Keys,
    rate_limits: RateLimits,
    card_passes: SignedPasses,
    now: datetime,
    *,
    payload: str | None,
    card_number: str | None,
) -> Reader:
    """Whose card is at the desk: a scanned phone card, or a typed card number, which is a look-up (`reader_at_desk`:
    the reader did not show it on their own phone)."""
    if card_number is None or payload is not None:  # the phone's code, or both or neither (refused)
        return await identify_at_desk(card_passes, now, payload=payload, card_number=card_number)
    at = await reader_at_desk(staff, card_number, LookupAction.VERIFY, keys=keys, rate_limits=rate_limits, now=now)
    return at.reader


@dataclass(frozen=True, slots=True)
class SuspensionSeen:
    suspension: Suspension  # with the staff member who set it
    level: Library | None
    """The library whose scope it was set at; None: the whole network."""
    liftable: bool
    """Whether the staff member looking may lift it."""


@dataclass(frozen=True, slots=True)
class ReaderView:
    reader: Reader  # with guardian and home library
    loans: tuple[list[tuple[Loan, LoanState]], int]
    """The first `MOST_ON_A_CARD` and how many in all."""
    holds: tuple[list[tuple[Hold, QueuePlace]], int]
    standing: Standing
    ledger: list[CreditEvent]
    suspensions: list[SuspensionSeen]
    children: list[Reader]


async def reader_view(
    staff: StaffUser, keys: Keys, rate_limits: RateLimits, card_number: str, now: datetime
) -> ReaderView:
    """What a desk sees of one reader, any reader of the network (their card is in front of it): the profile, loans,
    holds, credit, suspensions in force and, for a guardian, the children's cards. A look-up (`reader_at_desk`)."""
    at = await reader_at_desk(staff, card_number, LookupAction.VIEW, keys=keys, rate_limits=rate_limits, now=now)
    reader = at.reader
    return ReaderView(
        reader=reader,
        loans=await services.open_loans(reader.id, now, limit=MOST_ON_A_CARD, offset=0),
        holds=await holds.my_holds(reader.id, limit=MOST_ON_A_CARD, offset=0),
        standing=await standing(reader.id, now),
        ledger=await services.credit_ledger(reader.id),
        suspensions=await _suspensions(staff, reader.id, now),
        children=at.children,
    )


@dataclass(frozen=True, slots=True)
class CreditSeen:
    standing: Standing
    ledger: list[CreditEvent]


async def reader_credit(
    staff: StaffUser, keys: Keys, rate_limits: RateLimits, card_number: str, now: datetime
) -> CreditSeen:
    """A reader's credit and its ledger (staff notes included), to explain a refusal at the desk. A look-up
    (`reader_at_desk`)."""
    at = await reader_at_desk(staff, card_number, LookupAction.CREDIT, keys=keys, rate_limits=rate_limits, now=now)
    return CreditSeen(await standing(at.reader.id, now), await services.credit_ledger(at.reader.id))


async def replace_card(
    staff: StaffUser,
    keys: Keys,
    rate_limits: RateLimits,
    card_number: str,
    *,
    end_sessions: bool,
    card_prefix: str,
    now: datetime,
    network_time: NetworkTime,
) -> Replacement:
    """Replace the card of the reader at the desk (`cards.replace_card_at_desk`), found by the number of the card
    reported lost: a look-up (`reader_at_desk`), since the answer names the holder."""
    at = await reader_at_desk(staff, card_number, LookupAction.REPLACE, keys=keys, rate_limits=rate_limits, now=now)
    return await cards.replace_card_at_desk(
        staff,
        at.reader,
        at.card_number,
        end_sessions=end_sessions,
        card_prefix=card_prefix,
        now=now,
        network_time=network_time,
    )


async def _suspensions(staff: StaffUser, reader_id: int, now: datetime) -> list[SuspensionSeen]:
    in_force = await suspensions_in_force(reader_id, now).prefetch_related("staff")
    levels = {lib.path: lib for lib in await Library.filter(path__in={s.scope_path for s in in_force})}
    return [SuspensionSeen(s, levels.get(s.scope_path), may_lift(staff, s)) for s in in_force]


async def _log(
    staff: StaffUser,
    keys: Keys,
    now: datetime,
    action: LookupAction,
    query: Query,
    shown: list[Reader],
    *,
    outside_scope: bool = False,
) -> None:
    await ReaderLookup.create(
        staff=staff,
        library_id=staff.library.id,
        action=action,
        looked_up_by=query.by,
        query_digest=keys.blind_index(query.value),
        reader_ids=[reader.id for reader in shown],
        children_shown=any(reader.reader_type is ReaderType.CHILD for reader in shown),
        outside_scope=outside_scope,
        at=now,
    )


@dataclass(frozen=True, slots=True)
class LookupSeen:
    lookup: ReaderLookup  # with its staff member and library
    card_numbers: list[str]
    """The cards of the readers shown that still exist."""


async def lookup_log(
    staff: StaffUser, *, outside_scope: bool | None = None, limit: int, offset: int
) -> tuple[list[LookupSeen], int]:
    """The look-ups made at the libraries in an administrator's scope, newest first; `outside_scope`: only those of
    readers outside the looker's scope (True), or only the others (False)."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    rows = ReaderLookup.filter(library__path__startswith=staff.library.path)
    if outside_scope is not None:
        rows = rows.filter(outside_scope=outside_scope)
    page, total = await paging.page(
        rows.prefetch_related("staff", "library").order_by("-at", "-id"),
        limit,
        offset,
    )
    ids = {reader_id for row in page for reader_id in row.reader_ids}
    card_of: dict[int, str] = dict(await Reader.filter(id__in=ids).values_list("id", "card_number"))
    return [LookupSeen(row, [card_of[i] for i in row.reader_ids if i in card_of]) for row in page], total
