import pytest

from backend.accounts.models import StaffRole
from backend.catalog.models import Copy, CopyStatus, Record
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

THREE_BODY = {
    "isbn": "978-7-5366-9293-0",
    "title": "三体",
    "authors": [{"name": "刘慈欣"}],
    "publisher": "重庆出版社",
    "year": 2008,
    "clc_class": "I247.55",
    "language": "chi",
}


@pytest.fixture
async def desks(service: Service) -> dict[str, dict[str, str]]:
    await build_network()
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")
    await make_staff("b-desk", StaffRole.LIBRARIAN, "TL-B")
    return {name: await staff_headers(service.client, name) for name in ("a-desk", "b-desk")}


async def found(service: Service, q: str) -> list[str]:
    return [item["title"] for item in (await service.client.get("/records", params={"q": q})).json()["items"]]


async def test_a_catalogued_title_with_a_copy_is_found_at_once(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    record = await service.client.post("/staff/records", json=THREE_BODY, headers=desks["a-desk"])
    copy = await service.client.post(
        "/staff/copies",
        headers=desks["a-desk"],
        json={
            "record_id": record.json()["id"],
            "barcode": "TLA0000001",
            "library_code": "TL-A-1",
            "shelf_location": "I247/12",
        },
    )

    assert record.status_code == 201 and record.json()["isbn13"] == "9787536692930"
    assert copy.status_code == 201 and copy.json()["current_library_code"] == "TL-A-1"
    assert await found(service, "三体") == await found(service, "santi") == ["三体"]


async def test_one_isbn_one_record_and_one_barcode_one_copy(service: Service, desks: dict[str, dict[str, str]]) -> None:
    first = await service.client.post("/staff/records", json=THREE_BODY, headers=desks["a-desk"])
    again = await service.client.post(
        "/staff/records", json={**THREE_BODY, "isbn": "7536692935"}, headers=desks["b-desk"]
    )
    untitled = await service.client.post("/staff/records", json={"isbn": "9780439554930"}, headers=desks["a-desk"])
    copy = {"record_id": first.json()["id"], "barcode": "TLA0000001", "library_code": "TL-A-1"}
    await service.client.post("/staff/copies", json=copy, headers=desks["a-desk"])
    twin = await service.client.post("/staff/copies", json={**copy, "library_code": "TL-A"}, headers=desks["a-desk"])

    assert (again.status_code, again.json()["code"]) == (409, "record_isbn_taken")
    assert str(first.json()["id"]) in again.json()["title"]
    assert (untitled.status_code, untitled.json()["code"]) == (422, "record_title_required")
    assert (twin.status_code, twin.json()["code"]) == (409, "barcode_taken")
    assert await Record.all().count() == 1 and await Copy.all().count() == 1


async def test_a_barcode_is_one_barcode_whatever_its_case(service: Service, desks: dict[str, dict[str, str]]) -> None:
    record = await service.client.post("/staff/records", json=THREE_BODY, headers=desks["a-desk"])
    copy = {"record_id": record.json()["id"], "barcode": "tlc0000001", "library_code": "TL-A"}

    lower = await service.client.post("/staff/copies", json=copy, headers=desks["a-desk"])
    upper = await service.client.post("/staff/copies", json={**copy, "barcode": "TLC0000001"}, headers=desks["a-desk"])
    moved = await service.client.post(
        "/staff/copies/tlc0000001/move", json={"library_code": "TL-A-1"}, headers=desks["a-desk"]
    )

    assert (lower.status_code, lower.json()["barcode"]) == (201, "TLC0000001")
    assert (upper.status_code, upper.json()["code"]) == (409, "barcode_taken")
    assert (moved.status_code, moved.json()["current_library_code"]) == (200, "TL-A-1")
    assert await Copy.all().values_list("barcode", flat=True) == ["TLC0000001"]


async def test_staff_add_copies_only_to_their_own_libraries(service: Service, desks: dict[str, dict[str, str]]) -> None:
    record = (await service.client.post("/staff/records", json=THREE_BODY, headers=desks["a-desk"])).json()

    response = await service.client.post(
        "/staff/copies",
        headers=desks["a-desk"],
        json={"record_id": record["id"], "barcode": "TLB0000001", "library_code": "TL-B-1"},
    )
    unknown = await service.client.post(
        "/staff/copies",
        headers=desks["a-desk"],
        json={"record_id": 424242, "barcode": "TLA0000009", "library_code": "TL-A"},
    )

    assert (response.status_code, response.json()["code"]) == (403, "outside_staff_scope")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "record_not_found")
    assert await Copy.all().count() == 0


async def test_a_corrected_title_is_searched_by_its_new_words(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    record = (
        await service.client.post("/staff/records", json={**THREE_BODY, "title": "三休"}, headers=desks["a-desk"])
    ).json()
    await service.client.post(
        "/staff/copies",
        headers=desks["a-desk"],
        json={"record_id": record["id"], "barcode": "TLA0000001", "library_code": "TL-A"},
    )

    fixed = await service.client.patch(
        f"/staff/records/{record['id']}", json={"title": "三体"}, headers=desks["a-desk"]
    )

    assert fixed.status_code == 200 and fixed.json()["year"] == 2008  # untouched fields stay
    assert await found(service, "三体") == ["三体"] and await found(service, "三休") == []


async def test_copies_move_between_libraries_and_leave_the_collection(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    record = (await service.client.post("/staff/records", json=THREE_BODY, headers=desks["a-desk"])).json()
    await service.client.post(
        "/staff/copies",
        headers=desks["a-desk"],
        json={"record_id": record["id"], "barcode": "TLA0000001", "library_code": "TL-A-1"},
    )

    moved = await service.client.post(
        "/staff/copies/TLA0000001/move", json={"library_code": "TL-B-1"}, headers=desks["a-desk"]
    )
    where = {
        code: (await service.client.get("/records", params={"q": "三体", "library": code})).json()["total"]
        for code in ("TL-A-1", "TL-B-1")
    }
    no_longer_theirs = await service.client.post("/staff/copies/TLA0000001/withdraw", headers=desks["a-desk"])
    withdrawn = await service.client.post("/staff/copies/TLA0000001/withdraw", headers=desks["b-desk"])

    assert moved.status_code == 200
    assert (moved.json()["home_library_code"], moved.json()["current_library_code"]) == ("TL-B-1", "TL-B-1")
    assert where == {"TL-A-1": 0, "TL-B-1": 1}  # readers filtering by library find it where it now is
    assert (no_longer_theirs.status_code, no_longer_theirs.json()["code"]) == (403, "outside_staff_scope")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert await found(service, "三体") == []


async def test_a_copy_out_on_loan_is_neither_moved_nor_withdrawn(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    record = (await service.client.post("/staff/records", json=THREE_BODY, headers=desks["a-desk"])).json()
    await service.client.post(
        "/staff/copies",
        headers=desks["a-desk"],
        json={"record_id": record["id"], "barcode": "TLA0000001", "library_code": "TL-A"},
    )
    await Copy.filter(barcode="TLA0000001").update(status=CopyStatus.ON_LOAN)

    move = await service.client.post(
        "/staff/copies/TLA0000001/move", json={"library_code": "TL-B"}, headers=desks["a-desk"]
    )
    withdraw = await service.client.post("/staff/copies/TLA0000001/withdraw", headers=desks["a-desk"])

    assert (move.status_code, move.json()["code"]) == (409, "copy_in_circulation")
    assert (withdraw.status_code, withdraw.json()["code"]) == (409, "copy_in_circulation")
    copy = await Copy.get(barcode="TLA0000001").select_related("current_library")
    assert (copy.status, copy.current_library.code) == (CopyStatus.ON_LOAN, "TL-A")


async def test_readers_cannot_catalogue(service: Service) -> None:
    reader = await login_reader(service, "openid-cataloguer")

    response = await service.client.post("/staff/records", json=THREE_BODY, headers=reader.headers)

    assert (response.status_code, response.json()["code"]) == (403, "staff_only")
