"""Reader card numbers (unique across the network) and the virtual card: a signed pass (`backend.passes`) with
the card number as its subject, rotated by the app before it expires."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from backend.accounts import tokens
from backend.accounts.errors import (
    CardNotCurrent,
    CardNumberInvalid,
    CardPayloadExpired,
    CardPayloadInvalid,
    CardPayloadReplayed,
    CardReportedLost,
    ChildNotFound,
    ReaderCardNotFound,
)
from backend.accounts.models import CardRetiredBy, Counter, Reader, ReaderType, RetiredCard, StaffUser
from backend.clock import NetworkTime
from backend.passes import PassKind

_CARD_COUNTER = "reader_card"


def luhn_digit(digits: str) -> str:
    """The Luhn check digit, so a mistyped card number at a counter is caught before any lookup."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


# What a typist or a barcode scanner adds to the digits printed on a card: spaces and dashes in groups of four.
_SEPARATORS = re.compile(r"[\s\-]+")
# A prefix of 1 to 11 digits (settings), the 8-digit sequence and the check digit.
_CARD_NUMBER = re.compile(r"[0-9]{10,20}")


def normalise_card_number(typed: str) -> str:
    """A card number as typed or scanned at a desk, in its one stored form: full-width digits (a Chinese input method)
    read as digits, spaces and dashes dropped. A number of the wrong shape or whose check digit does not match is
    refused as mistyped (`CardNumberInvalid`): the desk is told to look again, not that no such card exists."""
    digits = _SEPARATORS.sub("", unicodedata.normalize("NFKC", typed))
    if not _CARD_NUMBER.fullmatch(digits) or luhn_digit(digits[:-1]) != digits[-1]:
        raise CardNumberInvalid(card_number=typed.strip()[:40])
    return digits


async def allocate_card_number(prefix: str) -> str:
    """The next card number of the network. Call inside the transaction that creates the reader: the UPDATE
    locks the counter row until commit, so concurrent allocations queue and never share a number."""
    if not await Counter.filter(name=_CARD_COUNTER).update(value=F("value") + 1):
        raise RuntimeError("the reader_card counter row is missing: run `shuxiang migrate`")
    counter = await Counter.get(name=_CARD_COUNTER)
    body = f"{prefix}{counter.value:08d}"
    return body + luhn_digit(body)


CARD = PassKind("SX1", "reader-card", CardPayloadInvalid, CardPayloadExpired, CardPayloadReplayed)


# Lost cards. A card reported lost gets a new number from the counter, in one transaction under the holder's row
# lock: the old number is retired (`RetiredCard`), and everything keyed by the reader's id (loans, holds, credit,
# reading history, bookings and their tickets) stays with them under the new number. A pass minted for the old
# number still verifies its signature, but names a number no card has any more, so it is refused as reported lost.


@dataclass(frozen=True, slots=True)
class Replacement:
    holder: Reader
    retired: RetiredCard
    """The retirement of the number reported lost: a repeated report answers the first one's."""
    sessions_ended: int
    """Logins of the holder ended with it (a lost phone); 0 unless asked for."""
    logins_ended: bool
    """Whether the holder's logins were ended (asked for, on an adult's card): the app on a phone still signed in to
    WeChat logs in again without asking anyone, until the reader freezes their WeChat account."""


async def refuse_if_reported_lost(card_number: str) -> None:
    """For a look-up that found no card with this number: a number reported lost is told apart from one never
    issued, so the desk knows the card in front of it is a lost one (and when it was reported)."""
    retired = await RetiredCard.get_or_none(card_number=card_number)
    if retired is not None:
        raise CardReportedLost(card_number=card_number, day=retired.retired_on.isoformat())


async def replace_card(
    holder_id: int,
    lost_number: str,
    *,
    by: CardRetiredBy,
    staff: StaffUser | None,
    end_sessions: bool,
    card_prefix: str,
    now: datetime,
    network_time: NetworkTime,
) -> Replacement:
    """Report the card `lost_number` lost and issue its holder a new number. The report names the number it is
    about, so two reports at once (a double tap, two desks) give one new number: the second finds the number
    already retired, by the first, and answers with that retirement. `end_sessions` also ends the holder's logins
    (their app on a lost phone); a child has none."""
    async with in_transaction():
        # The row lock orders concurrent reports on one card; it is taken before the counter's, as adding a child
        # does (the guardian's row, then the counter), so the two never wait on each other in a cycle.
        holder = await Reader.select_for_update().get_or_none(id=holder_id)
        if holder is None:
            raise ChildNotFound()  # only a child's card is ever deleted, by the guardian, meanwhile
        if holder.card_number == lost_number:
            new_number = await allocate_card_number(card_prefix)
            retired = await RetiredCard.create(
                card_number=lost_number,
                reader=holder,
                replaced_by=new_number,
                retired_at=now,
                retired_on=network_time.day(now),
                retired_by=by,
                staff=staff,
            )
            holder.card_number = new_number
            await holder.save(update_fields=["card_number", "updated_at"])
        else:
            found = await RetiredCard.get_or_none(card_number=lost_number, reader_id=holder.id)
            if found is None:
                raise CardNotCurrent(card_number=lost_number)
            retired = found
        ended = 0
        logins_ended = end_sessions and holder.reader_type is ReaderType.ADULT
        if logins_ended:
            ended = await tokens.end_reader_sessions(holder.id, now)
    return Replacement(holder, retired, ended, logins_ended)


async def report_lost(
    holder: Reader, lost_number: str, *, end_sessions: bool, card_prefix: str, now: datetime, network_time: NetworkTime
) -> Replacement:
    """The holder's own report from the app: a reader's, or a guardian's for a child's card. The number is read as
    a desk's is (`normalise_card_number`)."""
    lost_number = normalise_card_number(lost_number)
    by = CardRetiredBy.GUARDIAN if holder.reader_type is ReaderType.CHILD else CardRetiredBy.READER
    return await replace_card(
        holder.id,
        lost_number,
        by=by,
        staff=None,
        end_sessions=end_sessions,
        card_prefix=card_prefix,
        now=now,
        network_time=network_time,
    )


async def holder_of_card(card_number: str) -> Reader:
    """The reader a card number (as normalised) belongs to, or belonged to until it was reported lost: a desk replacing
    a card finds its holder by the number of the card in front of it, reported already or not."""
    holder = await Reader.get_or_none(card_number=card_number)
    if holder is not None:
        return holder
    retired = await RetiredCard.get_or_none(card_number=card_number).prefetch_related("reader")
    if retired is None:
        raise ReaderCardNotFound(card_number=card_number)
    return retired.reader


async def replace_card_at_desk(
    staff: StaffUser,
    holder: Reader,
    card_number: str,
    *,
    end_sessions: bool,
    card_prefix: str,
    now: datetime,
    network_time: NetworkTime,
) -> Replacement:
    """A librarian at any desk of the network replaces the card of the reader in front of them, found by the number
    of the card being reported lost (`holder_of_card`; or already reported: the answer is then that report's)."""
    return await replace_card(
        holder.id,
        card_number,
        by=CardRetiredBy.STAFF,
        staff=staff,
        end_sessions=end_sessions,
        card_prefix=card_prefix,
        now=now,
        network_time=network_time,
    )
