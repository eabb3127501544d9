"""A guardian borrows, holds and renews on a child's card, and sees the child's credit and reading record."""

from backend.accounts.models import Reader
from backend.catalog.models import Copy
from backend.circulation.models import Loan, ReaderCategory
from tests.integration.circulation.lending import lend, my_loans, take_back
from tests.integration.factories import LoggedIn, login_reader
from tests.integration.service import Service

CHILD = {"name": "小雨", "birth_month": "2019-05", "guardian_consent": True}


async def _child(service: Service, guardian: LoggedIn) -> tuple[int, str]:
    created = (await service.client.post("/readers/me/children", json=CHILD, headers=guardian.headers)).json()
    return created["id"], f"/readers/me/children/{created['id']}"


async def _lend_to_child(service: Service, desk: dict[str, str], guardian: LoggedIn, child: str, barcode: str) -> int:
    card = (await service.client.get(f"{child}/card", headers=guardian.headers)).json()
    response = await service.client.post(
        "/staff/checkouts", json={"card_payload": card["payload"], "barcode": barcode}, headers=desk
    )
    assert response.status_code == 201, response.text
    loan_id: int = response.json()["loan_id"]
    return loan_id


async def test_a_guardian_sees_and_renews_the_loans_on_a_childs_card_apart_from_their_own(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    mum = await login_reader(service, "openid-mum")
    child_id, child = await _child(service, mum)
    await lend(service, desks["a-desk"], mum, "A0001")
    loan_id = await _lend_to_child(service, desks["a-desk"], mum, child, "A0002")

    childs = (await service.client.get(f"{child}/loans", headers=mum.headers)).json()["items"]
    renewed = await service.client.post(f"{child}/loans/{loan_id}/renew", headers=mum.headers)
    credit = (await service.client.get(f"{child}/credit", headers=mum.headers)).json()

    assert [loan["barcode"] for loan in childs] == ["A0002"]
    assert [loan["barcode"] for loan in await my_loans(service, mum)] == ["A0001"]
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["renewals"] == 1 and renewed.json()["due_at"] > childs[0]["due_at"]
    assert credit["score"] == 100 and credit["on_loan"] == 1
    loan = await Loan.get(id=loan_id)
    assert loan.reader_id == child_id and loan.reader_category is ReaderCategory.CHILD


async def test_a_guardian_holds_a_title_for_a_child_and_manages_the_hold(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    dad = await login_reader(service, "openid-dad")
    _, child = await _child(service, dad)
    record_id = await Copy.get(barcode="A0001").values_list("record_id", flat=True)

    placed = await service.client.post(
        f"{child}/holds", json={"record_id": record_id, "pickup_library_code": "TL-A"}, headers=dad.headers
    )
    await take_back(service, desks["a-desk"], "A0001")  # fetched from the shelf for the pull list
    childs = (await service.client.get(f"{child}/holds", headers=dad.headers)).json()["items"]
    own = (await service.client.get("/readers/me/holds", headers=dad.headers)).json()["items"]
    cancelled = await service.client.delete(f"{child}/holds/{placed.json()['id']}", headers=dad.headers)

    assert placed.status_code == 201, placed.text
    assert [(h["id"], h["status"]) for h in childs] == [(placed.json()["id"], "ready")]
    assert own == []
    assert cancelled.status_code == 204
    assert (await service.client.get(f"{child}/holds", headers=dad.headers)).json()["items"] == []


async def test_nobody_else_reaches_a_childs_loans_holds_or_credit(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    mum = await login_reader(service, "openid-mum")
    stranger = await login_reader(service, "openid-stranger")
    _, child = await _child(service, mum)
    loan_id = await _lend_to_child(service, desks["a-desk"], mum, child, "A0001")

    for method, path in [
        ("GET", f"{child}/loans"),
        ("POST", f"{child}/loans/{loan_id}/renew"),
        ("GET", f"{child}/credit"),
        ("GET", f"{child}/holds"),
        ("GET", f"{child}/reading-history"),
        ("DELETE", f"{child}/reading-history"),
    ]:
        response = await service.client.request(method, path, headers=stranger.headers)
        assert (response.status_code, response.json()["code"]) == (404, "child_not_found"), path
    assert (await Loan.get(id=loan_id)).renewals == 0


async def test_a_childs_card_is_closed_only_once_its_books_are_back(
    service: Service, desks: dict[str, dict[str, str]]
) -> None:
    mum = await login_reader(service, "openid-mum")
    child_id, child = await _child(service, mum)
    await _lend_to_child(service, desks["a-desk"], mum, child, "A0001")
    await _lend_to_child(service, desks["a-desk"], mum, child, "A0002")

    refused = await service.client.delete(child, headers=mum.headers)
    await take_back(service, desks["b-desk"], "A0001")
    await take_back(service, desks["a-desk"], "A0002")
    closed = await service.client.delete(child, headers=mum.headers)

    assert refused.status_code == 409 and refused.json()["code"] == "child_has_loans"
    assert "2" in refused.json()["title"]
    assert closed.status_code == 204
    assert not await Reader.exists(id=child_id)
