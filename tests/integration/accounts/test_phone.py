from backend.accounts.models import Reader
from tests.integration.factories import build_network, login_reader
from tests.integration.service import Service


async def test_binding_a_phone_stores_it_encrypted_and_shows_it_masked(service: Service) -> None:
    reader = await login_reader(service, "openid-phone")
    code = service.wechat.issue_phone_code("13800138000")

    response = await service.client.put("/readers/me/phone", json={"code": code}, headers=reader.headers)

    assert response.status_code == 200 and response.json()["phone"] == "+86 138****8000"
    me = (await service.client.get("/readers/me", headers=reader.headers)).json()
    assert me["phone"] == "+86 138****8000"
    row = await Reader.get(openid="openid-phone")
    assert b"13800138000" not in row.phone_encrypted and "13800138000" not in (row.phone_index or "")


async def test_a_used_or_unknown_phone_code_is_refused_and_changes_nothing(service: Service) -> None:
    reader = await login_reader(service, "openid-phone-2")
    code = service.wechat.issue_phone_code("13900139000")
    assert (await service.client.put("/readers/me/phone", json={"code": code}, headers=reader.headers)).is_success

    again = await service.client.put("/readers/me/phone", json={"code": code}, headers=reader.headers)
    unknown = await service.client.put("/readers/me/phone", json={"code": "bogus"}, headers=reader.headers)

    for response in (again, unknown):
        assert response.status_code == 422 and response.json()["code"] == "wechat_invalid_phone_code"
    assert (await service.client.get("/readers/me", headers=reader.headers)).json()["phone"] == "+86 139****9000"


async def test_a_reader_can_remove_their_phone(service: Service) -> None:
    reader = await login_reader(service, "openid-phone-3")
    code = service.wechat.issue_phone_code("13700137000")
    await service.client.put("/readers/me/phone", json={"code": code}, headers=reader.headers)

    removed = await service.client.delete("/readers/me/phone", headers=reader.headers)
    again = await service.client.delete("/readers/me/phone", headers=reader.headers)

    assert removed.status_code == 204
    assert (again.status_code, again.json()["code"]) == (404, "phone_not_bound")
    row = await Reader.get(openid="openid-phone-3")
    assert row.phone_encrypted is None and row.phone_index is None


async def test_profile_updates_take_a_name_and_a_home_library(service: Service) -> None:
    await build_network()
    reader = await login_reader(service, "openid-profile")

    ok = await service.client.patch(
        "/readers/me", json={"name": "李华", "home_library_code": "TL-A-1"}, headers=reader.headers
    )
    unknown = await service.client.patch("/readers/me", json={"home_library_code": "NOPE"}, headers=reader.headers)
    extra = await service.client.patch("/readers/me", json={"card_number": "0562000000001"}, headers=reader.headers)

    assert ok.status_code == 200 and ok.json()["name"] == "李华" and ok.json()["home_library_code"] == "TL-A-1"
    assert (unknown.status_code, unknown.json()["code"]) == (404, "library_not_found")
    assert extra.status_code == 400
    assert (await service.client.get("/readers/me", headers=reader.headers)).json()["home_library_code"] == "TL-A-1"
