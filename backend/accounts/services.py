"""Reader accounts: WeChat login, profile, phone binding, children's cards and the virtual card."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.exceptions import InvalidTag
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from backend import paging, passes
from backend.accounts import ages, cards
from backend.accounts.domain_events import CardClosing
from backend.accounts.errors import (
    CardPayloadInvalid,
    ChildCardExists,
    ChildHasLoans,
    ChildNotFound,
    ChildrenLimitReached,
    DateOfBirthRequired,
    GuardianConsentRequired,
    InvalidBirthMonth,
    InvalidDateOfBirth,
    InvalidName,
    PhoneNotBound,
    ReaderCardNotFound,
    ReaderCardRequired,
    ReaderOnly,
    TokenInvalid,
)
from backend.accounts.models import Reader, ReaderType
from backend.accounts.tokens import Principal, PrincipalKind, TokenPair, TokenPolicy, open_session
from backend.clock import NetworkTime
from backend.crypto import Keys
from backend.eventbus import EventBus, record
from backend.network.services import get_library
from backend.passes import SignedPasses
from backend.wechat.gateway import WeChatGateway

# Children's data is sensitive personal information under PIPL below this age (art. 28, 31).
CHILD_AGE_LIMIT_YEARS = 14
MAX_CHILDREN_PER_GUARDIAN = 6
log = logging.getLogger(__name__)

_SESSION_KEY = "reader.session_key"
_PHONE = "reader.phone"


@dataclass(frozen=True, slots=True)
class CardView:
    card_number: str
    holder_name: str
    payload: str
    expires_at: datetime
    qr_png: bytes


async def login_with_wechat(
    gateway: WeChatGateway, keys: Keys, policy: TokenPolicy, card_prefix: str, code: str, now: datetime
) -> TokenPair:
    """Exchange a `wx.login` code, find the reader by openid or register them with a new card, open a session."""
    wechat = await gateway.code_to_session(code)
    reader = await Reader.get_or_none(openid=wechat.openid) or await _register(wechat.openid, card_prefix)
    # Kept (encrypted) for the WeChat APIs that hand the server data encrypted with the session key.
    reader.session_key_encrypted = keys.encrypt(wechat.session_key, _SESSION_KEY)
    reader.unionid = wechat.unionid or reader.unionid
    await reader.save(update_fields=["session_key_encrypted", "unionid", "updated_at"])
    return await open_session(policy, Principal(PrincipalKind.READER, reader.id), now)


async def _register(openid: str, card_prefix: str) -> Reader:
    try:
        async with in_transaction():
            return await Reader.create(card_number=await cards.allocate_card_number(card_prefix), openid=openid)
    except IntegrityError:
        # The same reader logged in concurrently (two taps, two devices) and the other request registered them:
        # the unique openid made sure there is one reader; use it.
        return await Reader.get(openid=openid)


async def reader_for(principal: Principal) -> Reader:
    """The logged-in reader behind an access token."""
    if principal.kind is not PrincipalKind.READER:
        raise ReaderOnly()
    # Without its home library: joining it cost a third of a reader's request's CPU (building the query), and only
    # the profile shows it.
    reader = await Reader.get_or_none(id=principal.id, reader_type=ReaderType.ADULT)
    # Deleted after the token was issued, or its sessions ended since (a lost phone): read here on every request
    # anyway, so the token stops now rather than when it expires.
    if reader is None or reader.session_generation != principal.generation:
        raise TokenInvalid()
    return reader


def masked_phone(keys: Keys, reader: Reader) -> str | None:
    """The phone as readers see it on screen: +86 138****8000."""
    if reader.phone_encrypted is None:
        return None
    try:
        phone = keys.decrypt(reader.phone_encrypted, _PHONE)
    except InvalidTag:
        log.error("reader %s: phone unreadable with the current SHUXIANG_SECRET_KEY", reader.id)
        return None
    country, number = (phone[:3], phone[3:]) if phone.startswith("+86") else ("", phone)
    return f"{country} {number[:3]}****{number[-4:]}".strip()


async def update_profile(reader: Reader, *, name: str | None, home_library_code: str | None) -> Reader:
    if name is not None:
        reader.name = _clean_name(name)
    if home_library_code is not None:
        reader.home_library = await get_library(home_library_code)
    await reader.save(update_fields=["name", "home_library_id", "updated_at"])
    return reader


async def bind_phone(gateway: WeChatGateway, keys: Keys, reader: Reader, code: str) -> str:
    """Bind the phone number the reader authorised in WeChat; returns it masked."""
    phone = await gateway.phone_number(code)
    reader.phone_encrypted = keys.encrypt(phone, _PHONE)
    reader.phone_index = keys.blind_index(phone)
    await reader.save(update_fields=["phone_encrypted", "phone_index", "updated_at"])
    return masked_phone(keys, reader) or ""


async def unbind_phone(reader: Reader) -> None:
    if reader.phone_encrypted is None:
        raise PhoneNotBound()
    reader.phone_encrypted = None
    reader.phone_index = None
    await reader.save(update_fields=["phone_encrypted", "phone_index", "updated_at"])


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidName()
    return cleaned


def _check_birth_month(text: str, today: date) -> None:
    born = ages.birth_month(text)
    if born is None or not _child_age(born, today):
        raise InvalidBirthMonth()


def _check_date_of_birth(born: date, today: date) -> None:
    if born > today or not _child_age(born, today):
        raise InvalidDateOfBirth()


def _child_age(born: date, today: date) -> bool:
    return 0 <= ages.age_in_months(born, today) < CHILD_AGE_LIMIT_YEARS * 12


async def add_child(
    guardian: Reader,
    *,
    name: str,
    birth_month: str,
    guardian_consent: bool,
    card_prefix: str,
    now: datetime,
    network_time: NetworkTime,
) -> Reader:
    """Open a child's card (小小读者证) held by the guardian, with the guardian's separate consent recorded."""
    if not guardian_consent:
        raise GuardianConsentRequired()
    _check_birth_month(birth_month, network_time.day(now))
    name = _clean_name(name)
    async with in_transaction():
        # The guardian's row lock serialises one family's requests, so parallel ones cannot both slip under the
        # limit.
        await Reader.filter(id=guardian.id).select_for_update().first()
        return await _open_child_card(guardian, name, birth_month, None, card_prefix, now)


async def _open_child_card(
    guardian: Reader, name: str, birth_month: str, born: date | None, card_prefix: str, now: datetime
) -> Reader:
    if await Reader.filter(guardian=guardian).count() >= MAX_CHILDREN_PER_GUARDIAN:
        raise ChildrenLimitReached(limit=MAX_CHILDREN_PER_GUARDIAN)
    return await Reader.create(
        card_number=await cards.allocate_card_number(card_prefix),
        reader_type=ReaderType.CHILD,
        name=name,
        birth_month=birth_month,
        date_of_birth=born,
        guardian=guardian,
        guardian_consent_at=now,
        home_library_id=guardian.home_library_id,
    )


async def child_card_born(
    guardian: Reader, *, name: str, born: date, card_prefix: str, now: datetime, network_time: NetworkTime
) -> Reader:
    """The guardian's card for the child of this name born on this day: the one they hold (a card that records only
    the month of birth gets the day), else a new little reader card (小小读者证), opened with the consent the caller
    recorded. Call it holding the guardian's row lock (`lock_card`): two requests of one family (the same child
    enrolled at two hospitals at once) then find or open one card, which the unique guardian, name and date of birth
    of a card backs."""
    _check_date_of_birth(born, network_time.day(now))
    name = _clean_name(name)
    if held := await Reader.get_or_none(guardian=guardian, name=name, date_of_birth=born):
        return held
    month = ages.month_of(born)
    by_month = await Reader.filter(guardian=guardian, name=name, birth_month=month, date_of_birth__isnull=True).first()
    if by_month is not None:
        by_month.date_of_birth = born
        await by_month.save(update_fields=["date_of_birth", "updated_at"])
        return by_month
    return await _open_child_card(guardian, name, month, born, card_prefix, now)


async def list_children(guardian: Reader, *, limit: int, offset: int) -> tuple[list[Reader], int]:
    return await paging.page(Reader.filter(guardian=guardian).order_by("id"), limit, offset)


async def get_child(guardian: Reader, child_id: int) -> Reader:
    """A child of this guardian; anyone else's child is "not found", never "forbidden", so ids reveal nothing."""
    child = await Reader.get_or_none(id=child_id, guardian=guardian)
    if child is None:
        raise ChildNotFound()
    return child


async def correct_child(
    guardian: Reader,
    child_id: int,
    *,
    name: str | None,
    birth_month: str | None,
    now: datetime,
    network_time: NetworkTime,
    born: date | None = None,
) -> Reader:
    """The guardian corrects the child's name, birth month or date of birth (PIPL art. 46). A date of birth sets the
    month too. A card that records the day (a newborn programme's child, whose stages count from it) keeps one: a month
    that is not the recorded day's is refused without the new day (`DateOfBirthRequired`)."""
    child = await get_child(guardian, child_id)
    today = network_time.day(now)
    if name is not None:
        child.name = _clean_name(name)
    if born is not None:
        _check_date_of_birth(born, today)
        if birth_month is not None and birth_month != ages.month_of(born):
            raise InvalidDateOfBirth()
        child.date_of_birth, child.birth_month = born, ages.month_of(born)
    elif birth_month is not None:
        _check_birth_month(birth_month, today)
        if child.date_of_birth is not None and ages.month_of(child.date_of_birth) != birth_month:
            raise DateOfBirthRequired()
        child.birth_month = birth_month
    try:
        await child.save(update_fields=["name", "birth_month", "date_of_birth", "updated_at"])
    except IntegrityError as exc:
        raise ChildCardExists() from exc
    return child


async def lock_card(reader_id: int) -> Reader:
    """The card's row, locked until the transaction ends: what a checkout, a hold and a child's removal on one card
    take turns on. A card deleted meanwhile can only be a child's (no other card is removed): `ChildNotFound`."""
    reader = await Reader.select_for_update().get_or_none(id=reader_id)
    if reader is None:
        raise ChildNotFound()
    return reader


async def remove_child(guardian: Reader, child_id: int, now: datetime, bus: EventBus) -> None:
    """The guardian withdraws consent: the child's card and personal data are deleted (PIPL art. 47), once the
    books borrowed on it are back (a loan without its reader would leave the library no one to ask). What other
    areas keep for the card (event seats) is closed by their rules first, on `CardClosing`."""
    child = await get_child(guardian, child_id)
    async with in_transaction():
        # A checkout holds this lock from counting the card's loans to adding one: under it, the loans counted here
        # are all there are until the card is gone.
        await lock_card(child.id)
        if on_loan := await child.loans.filter(returned_at__isnull=True).count():
            raise ChildHasLoans(count=on_loan)
        async with bus.transaction():  # a savepoint whose handlers run now, before the row they concern is deleted
            record(CardClosing(child.id, now))
        await child.delete()


async def virtual_card(card_passes: SignedPasses, holder: Reader, now: datetime) -> CardView:
    card = card_passes.issue(holder.card_number, now)
    return CardView(holder.card_number, holder.name, card.text, card.expires_at, await passes.qr_png(card.text))


async def identify_card(card_passes: SignedPasses, payload: str, now: datetime) -> Reader:
    """The reader behind a scanned card payload (staff counters, self-service machines)."""
    card_number = await card_passes.redeem(payload, now)
    reader = await Reader.get_or_none(card_number=card_number).prefetch_related("guardian", "home_library")
    if reader is None:
        # Signed by us, for a card since replaced (a code shown from a lost phone) or deleted (a child's).
        await cards.refuse_if_reported_lost(card_number)
        raise CardPayloadInvalid()
    return reader


async def reader_by_card_number(typed: str) -> Reader:
    """The reader whose physical card number was typed or scanned at a desk: any reader of the network (one card,
    borrow anywhere). A mistyped number is `CardNumberInvalid`, a well-formed one nobody holds `ReaderCardNotFound`."""
    card_number = cards.normalise_card_number(typed)
    reader = await Reader.get_or_none(card_number=card_number).prefetch_related("guardian", "home_library")
    if reader is None:
        await cards.refuse_if_reported_lost(card_number)
        raise ReaderCardNotFound(card_number=card_number)
    return reader


async def identify_at_desk(
    card_passes: SignedPasses, now: datetime, *, payload: str | None, card_number: str | None
) -> Reader:
    """The reader at a staffed desk, by the phone's card code or by the number of a physical card (a flat phone, a
    child's card): exactly one of the two. Only a desk takes a bare number, since staff see the card and its holder;
    a self-service machine would lend on a number anyone could have read off someone else's card."""
    if (payload is None) == (card_number is None):
        raise ReaderCardRequired()
    if payload is not None:
        return await identify_card(card_passes, payload, now)
    assert card_number is not None
    return await reader_by_card_number(card_number)
