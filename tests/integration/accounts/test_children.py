import asyncio

from backend.accounts.models import Reader, ReaderType, StaffRole
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

CHILD = {"name": "小明", "birth_month": "2022-03", "guardian_consent": True}


async def test_a_guardian_opens_a_child_card_and_shows_it(service: Service) -> None:
    await build_network()
    await make_staff("desk", StaffRole.LIBRARIAN, "TL")
    parent = await login_reader(service, "openid-parent")

    created = await service.client.post("/readers/me/children", json=CHILD, headers=parent.headers)
    child_id = created.json()["id"]
    card = (await service.client.get(f"/readers/me/children/{child_id}/card", headers=parent.headers)).json()
    scanned = await service.client.post(
        "/staff/cards/verify", json={"payload": card["payload"]}, headers=await staff_headers(service.client, "desk")
    )

    assert created.status_code == 201
    assert created.json()["guardian_consent_at"] is not None
    assert scanned.json()["reader_type"] == "child" and scanned.json()["name"] == "小明"
    me = (await service.client.get("/readers/me", headers=parent.headers)).json()
    assert scanned.json()["guardian_card_number"] == me["card_number"]
    listed = (await service.client.get("/readers/me/children", headers=parent.headers)).json()["items"]
    assert [c["card_number"] for c in listed] == [created.json()["card_number"]]


async def test_a_child_card_needs_the_guardians_separate_consent(service: Service) -> None:
    parent = await login_reader(service, "openid-hasty")

    response = await service.client.post(
        "/readers/me/children", json={**CHILD, "guardian_consent": False}, headers=parent.headers
    )

    assert response.status_code == 422 and response.json()["code"] == "guardian_consent_required"
    assert await Reader.filter(reader_type=ReaderType.CHILD).count() == 0


async def test_birth_months_must_be_real_and_under_fourteen(service: Service) -> None:
    parent = await login_reader(service, "openid-typo")

    for month in ("2022-13", "1990-01", "2999-01", "2022-00"):
        response = await service.client.post(
            "/readers/me/children", json={**CHILD, "birth_month": month}, headers=parent.headers
        )
        assert response.status_code == 422, month
        assert response.json()["code"] == "invalid_birth_month"
    malformed = await service.client.post(
        "/readers/me/children", json={**CHILD, "birth_month": "March"}, headers=parent.headers
    )
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_request"
    assert await Reader.filter(reader_type=ReaderType.CHILD).count() == 0


async def test_nobody_but_the_guardian_reaches_a_child(service: Service) -> None:
    parent = await login_reader(service, "openid-mum")
    stranger = await login_reader(service, "openid-stranger")
    child_id = (await service.client.post("/readers/me/children", json=CHILD, headers=parent.headers)).json()["id"]

    for method, path in [
        ("GET", f"/readers/me/children/{child_id}"),
        ("GET", f"/readers/me/children/{child_id}/card"),
        ("DELETE", f"/readers/me/children/{child_id}"),
    ]:
        response = await service.client.request(method, path, headers=stranger.headers)
        assert response.status_code == 404, path
        assert response.json()["code"] == "child_not_found"
    assert (await service.client.get("/readers/me/children", headers=stranger.headers)).json()["items"] == []
    assert await Reader.exists(id=child_id)


async def test_removing_a_child_deletes_the_childs_data(service: Service) -> None:
    parent = await login_reader(service, "openid-dad")
    child_id = (await service.client.post("/readers/me/children", json=CHILD, headers=parent.headers)).json()["id"]

    response = await service.client.delete(f"/readers/me/children/{child_id}", headers=parent.headers)

    assert response.status_code == 204
    assert not await Reader.exists(id=child_id)
    gone = await service.client.get(f"/readers/me/children/{child_id}", headers=parent.headers)
    assert gone.status_code == 404


async def test_a_guardian_cannot_exceed_the_children_limit_even_concurrently(service: Service) -> None:
    parent = await login_reader(service, "openid-big-family")

    responses = await asyncio.gather(
        *(
            service.client.post("/readers/me/children", json={**CHILD, "name": f"孩子{i}"}, headers=parent.headers)
            for i in range(10)
        )
    )

    assert sorted(r.status_code for r in responses) == [201] * 6 + [409] * 4
    assert await Reader.filter(reader_type=ReaderType.CHILD).count() == 6


async def test_a_guardian_corrects_a_childs_record_and_blank_names_are_refused(service: Service) -> None:
    parent = await login_reader(service, "openid-careful")
    stranger = await login_reader(service, "openid-meddler")
    child_id = (await service.client.post("/readers/me/children", json=CHILD, headers=parent.headers)).json()["id"]

    fixed = await service.client.patch(
        f"/readers/me/children/{child_id}", json={"name": "小红", "birth_month": "2022-04"}, headers=parent.headers
    )
    blank = await service.client.patch(f"/readers/me/children/{child_id}", json={"name": "   "}, headers=parent.headers)
    meddled = await service.client.patch(
        f"/readers/me/children/{child_id}", json={"name": "坏人"}, headers=stranger.headers
    )

    assert fixed.status_code == 200 and (fixed.json()["name"], fixed.json()["birth_month"]) == ("小红", "2022-04")
    assert (blank.status_code, blank.json()["code"]) == (422, "invalid_name")
    assert meddled.status_code == 404
    assert (await Reader.get(id=child_id)).name == "小红"
