"""Purchases' fixtures: the small network, a partner bookstore of TL-A with a clerk and stock, another of TL-B, an
administrator of TL-A, the year's budget, and readers with cards."""

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from backend.accounts.cards import luhn_digit
from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.circulation.credit import LOCAL
from backend.network.models import Library
from backend.passes import SignedPasses
from backend.purchases import budgets, shops
from backend.purchases.models import Bookstore, Purchase
from backend.purchases.policy import PurchasePolicy
from backend.purchases.purchases import ReaderCard, approve
from backend.settings import PurchaseSettings
from tests.integration.factories import build_network, make_staff
from tests.integration.service import BUS, NETWORK_TIME, Service

# A Tuesday in Tongling, 10:00: the libraries are open.
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
POLICY = PurchasePolicy.of(PurchaseSettings(), NETWORK_TIME)
PASSWORD = "correct-horse-battery"


def isbn(n: int) -> str:
    """A valid ISBN-13 of the 978 range, one per number."""
    body = f"978{n:09d}"
    check = -sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10
    return f"{body}{check}"


@dataclass
class Shops:
    shop: Bookstore  # 新华书店 of TL-A, 15% off
    other: Bookstore  # a shop of TL-B
    clerk: StaffUser
    other_clerk: StaffUser
    admin: StaffUser  # TL-A's library admin
    librarian_b: StaffUser  # a librarian at TL-B
    librarian_a: StaffUser  # a librarian at TL-A
    cards: SignedPasses

    async def stock(self, n: int, **fields: object) -> str:
        row = {
            "isbn": isbn(n),
            "title": f"新书{n}",
            "authors": "作者甲",
            "publisher": "人民文学出版社",
            "year": 2026,
            "list_price_fen": 4000,
            "quantity": 5,
            "clc_class": "I247.5",
            **fields,
        }
        await shops.import_stock(self.admin, self.shop.id, _json([row]), "json", NOW, this_year=2026)
        return str(row["isbn"])

    async def buy(self, reader: Reader, number: str, now: datetime = NOW) -> Purchase:
        return await approve(
            self.clerk,
            ReaderCard(card_number=reader.card_number),
            number,
            card_passes=self.cards,
            now=now,
            bus=BUS,
            policy=POLICY,
            credit_check=LOCAL,
        )


def _json(rows: list[dict[str, object]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False).encode()


async def staff(username: str) -> StaffUser:
    return await StaffUser.get(username=username).select_related("library")


@pytest.fixture
async def partners(service: Service) -> Shops:
    await build_network()
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("b-admin", StaffRole.LIBRARY_ADMIN, "TL-B")
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("b-desk", StaffRole.LIBRARIAN, "TL-B")
    admin, b_admin = await staff("a-admin"), await staff("b-admin")
    shop = await shops.create_bookstore(admin, "TL-A", shops.BookstoreDraft("铜陵新华书店", "长江路", 1500), NOW)
    other = await shops.create_bookstore(b_admin, "TL-B", shops.BookstoreDraft("枞阳书店", "", 1000), NOW)
    await shops.create_clerk(admin, shop.id, username="xinhua-1", password=PASSWORD, display_name="店员")
    await shops.create_clerk(b_admin, other.id, username="zongyang-1", password=PASSWORD, display_name="店员")
    await budgets.set_budget(admin, "TL-A", 2026, 1_000_000)
    return Shops(
        shop,
        other,
        await staff("xinhua-1"),
        await staff("zongyang-1"),
        admin,
        await staff("b-desk"),
        await staff("a-desk"),
        service.app.state.deps.cards,
    )


async def a_reader(name: str, home: str | None = None) -> Reader:
    body = f"0562{10_000 + await Reader.all().count():08d}"
    library = await Library.get(code=home) if home else None
    return await Reader.create(card_number=body + luhn_digit(body), name=name, home_library=library)
