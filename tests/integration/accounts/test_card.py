import base64

import pytest

from backend.accounts.models import StaffRole
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service


@pytest.fixture
async def counter(service: Service) -> dict[str, str]:
    await build_network()
    await make_staff("desk", StaffRole.LIBRARIAN, "TL-B-1")
    return await staff_headers(service.client, "desk")


async def test_the_virtual_card_is_a_signed_payload_with_its_qr_code(service: Service) -> None:
    reader = await login_reader(service, "openid-card")

    card = (await service.client.get("/readers/me/card", headers=reader.headers)).json()
    png = await service.client.get("/readers/me/card.png", headers=reader.headers)

    assert card["payload"].startswith("SX1.") and card["card_number"] in card["payload"]
    assert base64.b64decode(card["qr_png_base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert png.headers["x-card-payload"] != card["payload"]  # every fetch is a fresh, single-use code
    assert png.headers["cache-control"] == "no-store"


async def test_staff_scan_identifies_the_reader_once(service: Service, counter: dict[str, str]) -> None:
    reader = await login_reader(service, "openid-scan")
    card = (await service.client.get("/readers/me/card", headers=reader.headers)).json()

    first = await service.client.post("/staff/cards/verify", json={"payload": card["payload"]}, headers=counter)
    replay = await service.client.post("/staff/cards/verify", json={"payload": card["payload"]}, headers=counter)

    assert first.status_code == 200
    assert first.json()["card_number"] == card["card_number"] and first.json()["reader_type"] == "adult"
    assert "phone" not in first.json() and "openid" not in first.text
    assert replay.status_code == 409 and replay.json()["code"] == "card_payload_replayed"


async def test_an_expired_card_code_is_refused(service: Service, counter: dict[str, str]) -> None:
    reader = await login_reader(service, "openid-late")
    card = (await service.client.get("/readers/me/card", headers=reader.headers)).json()

    service.clock.advance(service.settings.security.card_payload_ttl_seconds + 1)
    response = await service.client.post("/staff/cards/verify", json={"payload": card["payload"]}, headers=counter)

    assert response.status_code == 422 and response.json()["code"] == "card_payload_expired"


async def test_forged_card_codes_are_refused(service: Service, counter: dict[str, str]) -> None:
    victim = await login_reader(service, "openid-victim")
    forger = await login_reader(service, "openid-forger")
    victim_card = (await service.client.get("/readers/me/card", headers=victim.headers)).json()
    own = (await service.client.get("/readers/me/card", headers=forger.headers)).json()["payload"]
    version, _, expires, nonce, signature = own.split(".")
    far_future = str(int(expires) + 86_400)

    forgeries = [
        f"{version}.{victim_card['card_number']}.{expires}.{nonce}.{signature}",  # someone else's number
        f"{version}.{own.split('.')[1]}.{far_future}.{nonce}.{signature}",  # stretched validity
        f"SX0.{own.split('.', 1)[1]}",
        "SX1.not-a-card",
        "' OR 1=1 --",
    ]
    for forged in forgeries:
        response = await service.client.post("/staff/cards/verify", json={"payload": forged}, headers=counter)
        assert response.status_code == 422, forged
        assert response.json()["code"] == "card_payload_invalid"


async def test_readers_cannot_use_the_staff_scanner(service: Service) -> None:
    reader = await login_reader(service, "openid-nosy")
    card = (await service.client.get("/readers/me/card", headers=reader.headers)).json()

    response = await service.client.post(
        "/staff/cards/verify", json={"payload": card["payload"]}, headers=reader.headers
    )

    assert response.status_code == 403 and response.json()["code"] == "staff_only"
