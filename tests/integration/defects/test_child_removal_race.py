"""Removing a child's card while a checkout on it runs: one of them wins, and no loan is left without its reader."""

import asyncio

import httpx

from backend.accounts.models import Reader, ReaderType
from backend.catalog.models import Copy, ItemType, Record
from backend.circulation.models import Loan
from backend.network.models import Library
from tests.integration.factories import build_network, login_reader
from tests.integration.service import Service

ROUNDS = 20
CHILD = {"name": "小雨", "birth_month": "2019-05", "guardian_consent": True}
LENT = (201, "", 409, "child_has_loans")  # the checkout came first: the card stays until the book is back
REMOVED = (404, "child_not_found", 204, "")  # the removal came first: there is no card to lend to


async def test_a_child_card_removed_during_a_self_checkout_is_never_lent_to_nobody(service: Service) -> None:
    await build_network()
    cabinet = await Library.get(code="TL-SC1")  # a swap cabinet: readers borrow alone there
    record = await Record.create(title="小王子", authors=[{"name": "圣埃克苏佩里", "role": "author"}])
    for i in range(ROUNDS):
        await Copy.create(
            barcode=f"RACE{i:03d}",
            record=record,
            home_library=cabinet,
            current_library=cabinet,
            item_type=ItemType.BOOK,
        )
    outcomes: list[tuple[int, str, int, str]] = []

    for i in range(ROUNDS):
        guardian = await login_reader(service, f"openid-guardian-{i}")
        created = await service.client.post("/readers/me/children", json=CHILD, headers=guardian.headers)
        child = f"/readers/me/children/{created.json()['id']}"
        checkout = service.client.post(
            f"{child}/loans/self-checkout",
            json={"library_code": "TL-SC1", "barcode": f"RACE{i:03d}"},
            headers=guardian.headers,
        )
        removal = service.client.delete(child, headers=guardian.headers)
        if i % 2:  # either may start first
            removed, lent = await asyncio.gather(removal, checkout)
        else:
            lent, removed = await asyncio.gather(checkout, removal)
        outcomes.append((lent.status_code, _code(lent), removed.status_code, _code(removed)))

    assert set(outcomes) <= {LENT, REMOVED}, outcomes
    assert not await Loan.filter(reader_id__isnull=True).exists()
    children_left = await Reader.filter(reader_type=ReaderType.CHILD).values_list("id", flat=True)
    assert sorted(await Loan.all().values_list("reader_id", flat=True)) == sorted(children_left)
    assert len(children_left) == outcomes.count(LENT)


def _code(response: httpx.Response) -> str:
    return "" if response.is_success else str(response.json().get("code", ""))
