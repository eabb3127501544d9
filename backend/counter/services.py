"""Staff look-ups of readers at a desk: by card number anywhere in the network, by phone or name within the staff
member's scope, and the staff view of one reader. Every look-up is logged by the service that makes it, so no client
can look a reader up without leaving a line in the log."""

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
from backend.accounts.models import Reader, ReaderType, StaffRole, StaffUser
from backend.accounts.services import identify_at_desk, reader_by_card_number
from backend.accounts.staff import require_role
from backend.circulation import holds, services
from backend.circulation.credit import may_lift
from backend.circulation.holds import QueuePlace
from backend.circulation.models import ACTIVE_HOLD, CreditEvent, Hold, Loan, Suspension
from backend.circulation.services import LoanState
from backend.circulation.standing import Standing, standing, suspensions_in_force
from backend.counter.errors import LookupQueryRequired, PhoneInvalid
from backend.counter.models import LookupAction, LookupBy, ReaderLookup
from backend.crypto import Keys
from backend.network.models import Library
from backend.passes import SignedPasses

# A reader has at most what the most generous credit tier allows (tiers cap loans and holds at 100): the staff view
# shows them all in one answer.
MOST_ON_A_CARD = 100
_PHONE_SEPARATORS = re.compile(r"[\s\-()]+")
_PHONE = re.compile(r"\+[1-9][0-9]{5,14}")  # E.164
_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def browsable_by(staff: StaffUser) -> Q | None:
    """The readers a staff member may find by phone or name (None: every reader).

    Readers are the network's, not a library's: one card borrows everywhere, so any desk serves any reader whose card
    it is shown, and a card number finds anyone (`search_readers`, `reader_view`). Browsing by phone or name is another
    thing: it finds people who are not at the desk. So it finds only readers tied to the libraries the staff member
    works for: their home library is there, or they have a book on loan from there or a hold to collect there. A
    network administrator's scope is the whole network, readers tied to no library included."""
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
    now: datetime,
    *,
    card_number: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Reader], int]:
    """Readers by exactly one of: card number (exact, anyone's), phone (exact) or the start of the name (readers in
    the staff member's scope, `browsable_by`). Logged, with the readers shown."""
    query = _one_query(card_number, phone, name)
    matching = _matching(query, keys, staff).prefetch_related("guardian", "home_library").order_by("name", "id")
    async with in_transaction() as tx:
        # A generic plan of a prepared statement cannot use the name's index for LIKE $1: plan with the value.
        await tx.execute_script("SET LOCAL plan_cache_mode = force_custom_plan")
        found, total = await paging.page(matching, limit, offset)
    await _log(staff, keys, now, LookupAction.SEARCH, query, found)
    return found, total


async def identify(
    staff: StaffUser,
    keys: Keys,
    card_passes: SignedPasses,
    now: datetime,
    *,
    payload: str | None,
    card_number: str | None,
) -> Reader:
    """Whose card is at the desk: a scanned phone card, or a typed card number, which is logged as a look-up (the
    reader did not show it on their own phone)."""
    reader = await identify_at_desk(card_passes, now, payload=payload, card_number=card_number)
    if card_number is not None:
        await _log(staff, keys, now, LookupAction.VERIFY, Query(LookupBy.CARD_NUMBER, reader.card_number), [reader])
    return reader


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


async def reader_view(staff: StaffUser, keys: Keys, card_number: str, now: datetime) -> ReaderView:
    """What a desk sees of one reader, any reader of the network (their card is in front of it): the profile, loans,
    holds, credit, suspensions in force and, for a guardian, the children's cards. Logged."""
    reader = await reader_by_card_number(card_number)
    children = await Reader.filter(guardian_id=reader.id).prefetch_related("guardian", "home_library").order_by("id")
    view = ReaderView(
        reader=reader,
        loans=await services.open_loans(reader.id, now, limit=MOST_ON_A_CARD, offset=0),
        holds=await holds.my_holds(reader.id, limit=MOST_ON_A_CARD, offset=0),
        standing=await standing(reader.id, now),
        ledger=await services.credit_ledger(reader.id),
        suspensions=await _suspensions(staff, reader.id, now),
        children=children,
    )
    await _log(
        staff, keys, now, LookupAction.VIEW, Query(LookupBy.CARD_NUMBER, reader.card_number), [reader, *children]
    )
    return view


async def _suspensions(staff: StaffUser, reader_id: int, now: datetime) -> list[SuspensionSeen]:
    in_force = await suspensions_in_force(reader_id, now).prefetch_related("staff")
    levels = {lib.path: lib for lib in await Library.filter(path__in={s.scope_path for s in in_force})}
    return [SuspensionSeen(s, levels.get(s.scope_path), may_lift(staff, s)) for s in in_force]


async def _log(
    staff: StaffUser, keys: Keys, now: datetime, action: LookupAction, query: Query, shown: list[Reader]
) -> None:
    await ReaderLookup.create(
        staff=staff,
        library_id=staff.library.id,
        action=action,
        looked_up_by=query.by,
        query_digest=keys.blind_index(query.value),
        reader_ids=[reader.id for reader in shown],
        children_shown=any(reader.reader_type is ReaderType.CHILD for reader in shown),
        at=now,
    )


@dataclass(frozen=True, slots=True)
class LookupSeen:
    lookup: ReaderLookup  # with its staff member and library
    card_numbers: list[str]
    """The cards of the readers shown that still exist."""


async def lookup_log(staff: StaffUser, *, limit: int, offset: int) -> tuple[list[LookupSeen], int]:
    """The look-ups made at the libraries in an administrator's scope, newest first."""
    require_role(staff, StaffRole.LIBRARY_ADMIN)
    rows, total = await paging.page(
        ReaderLookup.filter(library__path__startswith=staff.library.path)
        .prefetch_related("staff", "library")
        .order_by("-at", "-id"),
        limit,
        offset,
    )
    ids = {reader_id for row in rows for reader_id in row.reader_ids}
    card_of: dict[int, str] = dict(await Reader.filter(id__in=ids).values_list("id", "card_number"))
    return [LookupSeen(row, [card_of[i] for i in row.reader_ids if i in card_of]) for row in rows], total
