"""Money's fixtures: the small network, a copy to lend, desks of each role, and readers with charges."""

from dataclasses import dataclass

import pytest

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.catalog.models import Copy, Record
from backend.network.models import Library
from tests.integration.circulation.lending import TUESDAY
from tests.integration.factories import build_network, make_staff, staff_headers
from tests.integration.service import Service


@dataclass
class Desks:
    librarian: StaffUser  # at TL-A
    admin: StaffUser  # TL-A's library admin
    network_admin: StaffUser  # at the central library
    other_district: StaffUser  # a librarian at TL-B
    headers: dict[str, str]  # the TL-A librarian's, for the HTTP desk


@pytest.fixture
async def desks(service: Service) -> Desks:
    await build_network()
    libraries = {lib.code: lib for lib in await Library.all()}
    record = await Record.create(title="三体")
    for barcode, price in [("A0001", 4500), ("A0002", None), ("A0003", None)]:
        await Copy.create(
            barcode=barcode,
            record=record,
            home_library=libraries["TL-A"],
            current_library=libraries["TL-A"],
            price_fen=price,
        )
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("a-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    await make_staff("net-admin", StaffRole.NETWORK_ADMIN, "TL")
    await make_staff("b-desk", StaffRole.LIBRARIAN, "TL-B")
    service.clock.freeze_at(TUESDAY)

    async def staff(username: str) -> StaffUser:
        return await StaffUser.get(username=username).select_related("library")

    return Desks(
        await staff("a-desk"),
        await staff("a-admin"),
        await staff("net-admin"),
        await staff("b-desk"),
        await staff_headers(service.client, "a-desk"),
    )


async def a_reader(name: str, guardian: Reader | None = None) -> Reader:
    number = 10_000 + await Reader.all().count()
    return await Reader.create(card_number=f"0562{number:08d}0", name=name, guardian=guardian)
