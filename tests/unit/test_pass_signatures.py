from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from redis.asyncio import Redis

from backend.accounts.cards import CARD
from backend.accounts.errors import CardPayloadInvalid
from backend.crypto import Keys
from backend.passes import SignedPasses

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class SpentNonces:
    """Redis as the passes use it: a nonce is spent once."""

    def __init__(self) -> None:
        self.spent: set[str] = set()

    async def set(self, key: str, value: object, nx: bool, px: int) -> bool:
        if key in self.spent:
            return False
        self.spent.add(key)
        return True


def _cards() -> SignedPasses:
    return SignedPasses(CARD, Keys("unit-test-secret-0123456789"), cast(Redis, SpentNonces()), timedelta(minutes=1))


async def test_a_pass_made_by_us_is_redeemed_once_for_its_subject() -> None:
    cards = _cards()
    issued = cards.issue("0562000000017", NOW)

    assert await cards.redeem(issued.text, NOW) == "0562000000017"


@pytest.mark.parametrize(
    "forged",
    [
        "SX1.0562000000017.9999999999.abc.é",
        "SX1.0562000000017.9999999999.abc.签名签名签名签名签名签名签名签名",
        "SX1.0562000000017.١٢٣٤٥٦٧٨٩٠.abc.AAAAAAAAAAAAAAAAAAAAAA",
        "SX1.0562000000017.²³.abc.AAAAAAAAAAAAAAAAAAAAAA",
        "SX1....",
        "",
    ],
)
async def test_a_forged_or_malformed_pass_is_invalid_whatever_its_characters(forged: str) -> None:
    with pytest.raises(CardPayloadInvalid):
        await _cards().redeem(forged, NOW)


async def test_a_real_pass_whose_signature_gained_a_non_ascii_character_is_invalid() -> None:
    cards = _cards()
    issued = cards.issue("0562000000017", NOW).text

    with pytest.raises(CardPayloadInvalid):
        await cards.redeem(issued[:-1] + "é", NOW)
