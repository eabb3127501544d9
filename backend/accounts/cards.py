"""Reader card numbers (unique across the network) and the virtual card: a signed pass (`backend.passes`) with
the card number as its subject, rotated by the app before it expires."""

from __future__ import annotations

from tortoise.expressions import F

from backend.accounts.errors import CardPayloadExpired, CardPayloadInvalid, CardPayloadReplayed
from backend.accounts.models import Counter
from backend.passes import PassKind

_CARD_COUNTER = "reader_card"


def luhn_digit(digits: str) -> str:
    """The Luhn check digit, so a mistyped card number at a counter is caught before any lookup."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


async def allocate_card_number(prefix: str) -> str:
    """The next card number of the network. Call inside the transaction that creates the reader: the UPDATE
    locks the counter row until commit, so concurrent allocations queue and never share a number."""
    if not await Counter.filter(name=_CARD_COUNTER).update(value=F("value") + 1):
        raise RuntimeError("the reader_card counter row is missing: run `shuxiang migrate`")
    counter = await Counter.get(name=_CARD_COUNTER)
    body = f"{prefix}{counter.value:08d}"
    return body + luhn_digit(body)


CARD = PassKind("SX1", "reader-card", CardPayloadInvalid, CardPayloadExpired, CardPayloadReplayed)
