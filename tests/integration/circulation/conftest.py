"""Circulation's fixtures: a small network with one title's copies, and desks that lend them."""

import pytest

from backend.accounts.models import StaffRole
from backend.catalog.models import Copy, ItemType, Record
from backend.catalog.search import index_records
from backend.network.models import Library
from tests.integration.circulation.lending import TUESDAY
from tests.integration.factories import build_network, make_staff, staff_headers
from tests.integration.service import Service


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
