"""The reading record as its tests set it up: a family enrolled at the hospital's ward (`enrolling.set_up`), books in
the catalogue with copies at TL-A and a desk there, and the guardian's calls on the child's record."""

from dataclasses import dataclass
from typing import Any

import httpx

from backend.accounts.models import Reader, StaffRole
from backend.catalog.models import Copy, Record
from backend.network.models import Library
from backend.newborn.models import Enrolment
from tests.integration.factories import LoggedIn, login_reader, make_staff, staff_headers
from tests.integration.newborn.enrolling import Setup, at_ward, enrol, guardian, set_up, today
from tests.integration.service import Service

# Picture books of a baby's first year, as a catalogue holds them.
BOOKS = [
    ("9787533259563", "猜猜我有多爱你"),
    ("9787533258931", "好饿的毛毛虫"),
    ("9787544269476", "小熊很忙"),
]


@dataclass
class Family:
    setup: Setup
    parent: LoggedIn
    child_id: int
    enrolment_id: int

    @property
    def record(self) -> str:
        """The path of the child's programme record."""
        return f"/readers/me/children/{self.child_id}/newborn"


async def enrolled_family(service: Service, openid: str, setup: Setup | None = None, **changes: Any) -> Family:
    """A guardian with a bound phone whose child (小宝, born ten days ago unless `changes` say otherwise) is enrolled
    at the hospital's ward; the programme is set up first unless given."""
    setup = setup or await set_up(service)
    parent = await guardian(service, openid)
    enrolled = await enrol(service.client, parent, at_ward(service, setup, **changes))
    assert enrolled.status_code == 201, enrolled.text
    return Family(setup, parent, enrolled.json()["child"]["id"], enrolled.json()["id"])


async def family_of(service: Service, setup: Setup, enrolled: Enrolment) -> Family:
    """A family enrolled through the enrolment service (`packing.enrol_children`), its guardian logged in."""
    parent = await Reader.get(id=enrolled.guardian_id)
    return Family(setup, await login_reader(service, parent.openid or ""), enrolled.child_id, enrolled.id)


async def catalogue() -> dict[str, Record]:
    """The picture books, by ISBN, each with two copies at TL-A (barcodes `<isbn>-1`, `<isbn>-2`)."""
    tla = await Library.get(code="TL-A")
    records = {}
    for isbn, title in BOOKS:
        records[isbn] = await Record.create(isbn13=isbn, title=title, authors=[])
        for n in (1, 2):
            await Copy.create(barcode=f"{isbn}-{n}", record=records[isbn], home_library=tla, current_library=tla)
    return records


async def tla_desk(service: Service) -> dict[str, str]:
    await make_staff("tla-librarian", StaffRole.LIBRARIAN, "TL-A")
    return await staff_headers(service.client, "tla-librarian")


async def lend_to_child(service: Service, desk: dict[str, str], parent: LoggedIn, child_id: int, barcode: str) -> int:
    """A checkout at the desk on the child's card, shown by the guardian; the loan's id."""
    card = await service.client.get(f"/readers/me/children/{child_id}/card", headers=parent.headers)
    lent = await service.client.post(
        "/staff/checkouts", json={"card_payload": card.json()["payload"], "barcode": barcode}, headers=desk
    )
    assert lent.status_code == 201, lent.text
    loan_id: int = lent.json()["loan_id"]
    return loan_id


async def log_book(service: Service, family: Family, **book: Any) -> httpx.Response:
    """Log a book read today (unless `book` says otherwise) in the child's record."""
    body = {"read_on": today(service).isoformat(), **book}
    return await service.client.post(f"{family.record}/reading", json=body, headers=family.parent.headers)


async def log_books(service: Service, family: Family, count: int) -> None:
    for n in range(count):
        logged = await log_book(service, family, title=f"睡前故事 {n}")
        assert logged.status_code == 201, logged.text
