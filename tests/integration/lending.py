"""Lending at desks and in the app: a small network with one title's copies, desks, and what readers see."""

from datetime import UTC, datetime

import pytest

from backend.accounts.models import Reader, StaffRole
from backend.catalog.models import Copy, ItemType, Record
from backend.catalog.search import index_records
from backend.network.models import Library
from tests.integration.conftest import Service
from tests.integration.factories import LoggedIn, build_network, make_staff, staff_headers

# A Tuesday morning in Tongling: every library of the small network is open.
TUESDAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
async def desks(service: Service) -> dict[str, dict[str, str]]:
    """A network with a book (copies at TL-A, TL-A-1 and the swap cabinet) and a desk at TL-A and at TL-B."""
    await build_network()
    libraries = {lib.code: lib for lib in await Library.all()}
    record = await Record.create(title="三体", authors=[{"name": "刘慈欣", "role": "author"}], isbn13="9787536692930")
    for barcode, code, item_type, floating in [
        ("A0001", "TL-A", ItemType.BOOK, False),
        ("A0002", "TL-A", ItemType.BOOK, False),
        ("A0003", "TL-A", ItemType.PERIODICAL, False),
        ("F0001", "TL-A", ItemType.BOOK, True),
        ("A1001", "TL-A-1", ItemType.BOOK, False),
        ("C0001", "TL-SC1", ItemType.BOOK, False),
        ("B0001", "TL-B", ItemType.BOOK, False),
        ("B0002", "TL-B", ItemType.PERIODICAL, False),
    ]:
        await Copy.create(
            barcode=barcode,
            record=record,
            home_library=libraries[code],
            current_library=libraries[code],
            item_type=item_type,
            floating=floating,
        )
    await index_records([record.id])
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("b-desk", StaffRole.LIBRARIAN, "TL-B")
    service.clock.freeze_at(TUESDAY)
    return {name: await staff_headers(service.client, name) for name in ("a-desk", "b-desk")}


async def lend(service: Service, desk: dict[str, str], reader: LoggedIn, barcode: str) -> dict[str, object]:
    card = (await service.client.get("/readers/me/card", headers=reader.headers)).json()
    assert "payload" in card, card
    response = await service.client.post(
        "/staff/checkouts", json={"card_payload": card["payload"], "barcode": barcode}, headers=desk
    )
    return {"status": response.status_code, **response.json()}


async def take_back(service: Service, desk: dict[str, str], barcode: str) -> dict[str, object]:
    response = await service.client.post("/staff/checkins", json={"barcode": barcode}, headers=desk)
    return {"http": response.status_code, **response.json()}


async def my_loans(service: Service, reader: LoggedIn) -> list[dict[str, object]]:
    response = await service.client.get("/readers/me/loans", headers=reader.headers)
    assert response.status_code == 200, response.text
    loans: list[dict[str, object]] = response.json()
    return loans


async def my_credit(service: Service, reader: LoggedIn) -> dict[str, object]:
    credit: dict[str, object] = (await service.client.get("/readers/me/credit", headers=reader.headers)).json()
    return credit


async def reader_id(reader: LoggedIn) -> int:
    return (await Reader.get(openid=reader.openid)).id
