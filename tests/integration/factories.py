"""Builders of test data: a small network, staff accounts, logged-in readers (through the HTTP API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import hash_password
from backend.network.models import Library, LibraryLevel, LibraryService
from backend.network.services import NETWORK_ROOT, LibraryDraft, create_library
from tests.integration.service import Service

STAFF_PASSWORD = "correct-horse-battery"
CLOSED_MONDAYS_9_TO_17 = {day: [["09:00", "17:00"]] for day in ("tue", "wed", "thu", "fri", "sat", "sun")}
ROUND_THE_CLOCK = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ALL_SERVICES = list(LibraryService)

# code, name, level, parent, latitude, longitude, services
SMALL_NETWORK: list[tuple[str, str, LibraryLevel, str | None, float, float, list[LibraryService]]] = [
    ("TL", "铜陵市图书馆", LibraryLevel.CENTRAL, None, 30.9450, 117.8120, ALL_SERVICES),
    ("TL-A", "铜官区图书馆", LibraryLevel.MAIN, "TL", 30.9380, 117.8240, ALL_SERVICES),
    ("TL-B", "枞阳县图书馆", LibraryLevel.MAIN, "TL", 30.6990, 117.2200, ALL_SERVICES),
    (
        "TL-A-1",
        "新华书店阅读点",
        LibraryLevel.BRANCH,
        "TL-A",
        30.9410,
        117.8190,
        [LibraryService.LENDING, LibraryService.RETURNS, LibraryService.HOLDS_PICKUP],
    ),
    (
        "TL-B-1",
        "枞阳镇分馆",
        LibraryLevel.BRANCH,
        "TL-B",
        30.7050,
        117.2300,
        [LibraryService.LENDING, LibraryService.RETURNS],
    ),
    (
        "TL-SC1",
        "人民公园漂流书巢",
        LibraryLevel.SWAP_CABINET,
        "TL-A",
        30.9460,
        117.8130,
        [LibraryService.LENDING, LibraryService.RETURNS, LibraryService.SELF_SERVICE],
    ),
]


async def build_network() -> None:
    for code, name, level, parent, lat, lng, services in SMALL_NETWORK:
        hours = ROUND_THE_CLOCK if level is LibraryLevel.SWAP_CABINET else CLOSED_MONDAYS_9_TO_17
        await create_library(
            LibraryDraft(
                code=code,
                name=name,
                level=level,
                parent_code=parent,
                latitude=lat,
                longitude=lng,
                opening_hours=hours,
                services=services,
                address=f"{name}地址",
            ),
            scope_path=NETWORK_ROOT,
        )


async def make_staff(username: str, role: StaffRole, library_code: str) -> StaffUser:
    return await StaffUser.create(
        username=username,
        password_hash=hash_password(STAFF_PASSWORD),
        role=role,
        library=await Library.get(code=library_code),
        display_name=username,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def staff_headers(client: httpx.AsyncClient, username: str) -> dict[str, str]:
    response = await client.post("/staff/auth/login", json={"username": username, "password": STAFF_PASSWORD})
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


@dataclass
class LoggedIn:
    openid: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens["access_token"])


async def login_reader(service: Service, openid: str, unionid: str | None = None) -> LoggedIn:
    code = service.wechat.issue_login_code(openid, unionid=unionid)
    response = await service.client.post("/auth/wechat-login", json={"code": code})
    assert response.status_code == 200, response.text
    return LoggedIn(openid, response.json())
