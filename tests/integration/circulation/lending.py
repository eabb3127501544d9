"""Lending at desks and in the app: what a desk and a reader do, and what readers see."""

from datetime import UTC, datetime

from backend.accounts.models import Reader
from tests.integration.factories import LoggedIn
from tests.integration.service import Service

# A Tuesday morning in Tongling: every library of the small network is open.
TUESDAY = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


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
    loans: list[dict[str, object]] = response.json()["items"]
    return loans


async def my_credit(service: Service, reader: LoggedIn) -> dict[str, object]:
    credit: dict[str, object] = (await service.client.get("/readers/me/credit", headers=reader.headers)).json()
    return credit


async def reader_id(reader: LoggedIn) -> int:
    return (await Reader.get(openid=reader.openid)).id
