"""A family through the API: a guardian logged in with a child's card, and what they see of their account."""

from dataclasses import dataclass
from typing import Any

from backend.accounts.models import Reader
from tests.integration.factories import LoggedIn, login_reader
from tests.integration.service import Service


@dataclass
class Family:
    guardian: LoggedIn
    card: Reader
    child: Reader


async def a_family(service: Service, openid: str, child_name: str) -> Family:
    guardian = await login_reader(service, openid)
    created = await service.client.post(
        "/readers/me/children",
        json={"name": child_name, "birth_month": "2020-03", "guardian_consent": True},
        headers=guardian.headers,
    )
    assert created.status_code == 201, created.text
    return Family(guardian, await Reader.get(openid=openid), await Reader.get(id=created.json()["id"]))


async def get_json(service: Service, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = await service.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()
