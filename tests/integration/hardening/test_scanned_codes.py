from backend.accounts.models import StaffRole
from tests.integration.factories import build_network, make_staff, staff_headers
from tests.integration.hardening.inputs import PROBLEM
from tests.integration.service import Service

# Well formed but for the signature, which no key of ours can make: non-ASCII, an emoji, a full-width letter.
SIGNATURES = ["é", "签名", "🙂", "ａｂｃ", "abc\u00a0"]


async def _desk(service: Service) -> dict[str, str]:
    await build_network()
    await make_staff("door-desk", StaffRole.LIBRARIAN, "TL-A")
    return await staff_headers(service.client, "door-desk")


async def test_a_card_code_with_a_non_ascii_signature_is_an_invalid_card(service: Service) -> None:
    desk = await _desk(service)

    for signature in SIGNATURES:
        payload = f"SX1.0562000000017.9999999999.abc.{signature}"
        verified = await service.client.post("/staff/cards/verify", json={"payload": payload}, headers=desk)
        lent = await service.client.post(
            "/staff/checkouts", json={"card_payload": payload, "barcode": "B0001"}, headers=desk
        )
        for response in (verified, lent):
            assert response.status_code == 422, response.text
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.json()["code"] == "card_payload_invalid"


async def test_a_ticket_with_a_non_ascii_signature_is_an_invalid_ticket(service: Service) -> None:
    desk = await _desk(service)

    for signature in SIGNATURES:
        payload = f"SXT1.1.9999999999.abc.{signature}"
        response = await service.client.post("/staff/event-check-ins", json={"payload": payload}, headers=desk)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "ticket_invalid"
