"""The newborn programme as its tests set it up through the HTTP API: a programme with its consent text run by the
central library, a partner hospital at a county library with a ward and an enroller, and guardians with bound
phones."""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from backend.accounts.models import StaffRole
from tests.integration.factories import STAFF_PASSWORD, LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import NETWORK_TIME, Service

CONSENT = {
    "text": "为发放阅读礼包并记录阅读成长，图书馆处理孩子的姓名和出生日期。您可随时撤回同意。",
    "purpose": "发放阅读礼包、通知领取、记录阅读成长",
    "retention": "最后一个阶段结束后一年删除",
    "person_responsible": "少儿部 个人信息保护负责人",
}


@dataclass
class Hospital:
    partner_id: int
    ward_id: int
    scene: str
    """The scene of the ward's printed code."""


@dataclass
class Setup:
    admin: dict[str, str]
    programme_id: int
    consent_version: int
    hospital: Hospital


async def set_up(service: Service) -> Setup:
    """The small network, a network admin, the programme with its default stages and consent text at the central
    library, and a hospital at TL-A with one ward, whose enroller is `fuyou`."""
    await build_network()
    await make_staff("admin", StaffRole.NETWORK_ADMIN, "TL")
    admin = await staff_headers(service.client, "admin")
    made = await service.client.post(
        "/staff/newborn/programmes", json={"name": "阅享宝贝", "library_code": "TL"}, headers=admin
    )
    assert made.status_code == 201, made.text
    programme_id = made.json()["id"]
    consent = await service.client.post(
        f"/staff/newborn/programmes/{programme_id}/consent-texts", json=CONSENT, headers=admin
    )
    assert consent.status_code == 201, consent.text
    hospital = await add_hospital(service, admin, programme_id, "铜陵市妇幼保健院", "TL-A", enroller="fuyou")
    return Setup(admin, programme_id, consent.json()["version"], hospital)


async def add_hospital(
    service: Service, admin: dict[str, str], programme_id: int, name: str, library_code: str, *, enroller: str
) -> Hospital:
    partner = await service.client.post(
        "/staff/newborn/partners",
        json={"programme_id": programme_id, "library_code": library_code, "name": name, "kind": "hospital"},
        headers=admin,
    )
    assert partner.status_code == 201, partner.text
    partner_id = partner.json()["id"]
    ward = await service.client.post(
        f"/staff/newborn/partners/{partner_id}/wards", json={"name": "产科一病区"}, headers=admin
    )
    assert ward.status_code == 201, ward.text
    account = await service.client.post(
        f"/staff/newborn/partners/{partner_id}/enrollers",
        json={"username": enroller, "password": STAFF_PASSWORD},
        headers=admin,
    )
    assert account.status_code == 201, account.text
    ward_id = ward.json()["id"]
    code = await service.client.get(f"/staff/newborn/partners/{partner_id}/wards/{ward_id}/code.png", headers=admin)
    assert code.status_code == 200 and code.headers["content-type"] == "image/png", code.text
    return Hospital(partner_id, ward_id, service.wechat.wxacode_requests[-1]["scene"])


async def guardian(service: Service, openid: str, phone: str = "13800138000") -> LoggedIn:
    """A reader logged in with WeChat who bound a phone."""
    reader = await login_reader(service, openid)
    bound = await service.client.put(
        "/readers/me/phone", json={"code": service.wechat.issue_phone_code(phone)}, headers=reader.headers
    )
    assert bound.status_code == 200, bound.text
    return reader


def today(service: Service) -> date:
    return NETWORK_TIME.day(service.clock.now())


def born_days_ago(service: Service, days: int) -> str:
    return (today(service) - timedelta(days=days)).isoformat()


def at_ward(service: Service, setup: Setup, **changes: Any) -> dict[str, Any]:
    """An enrolment by the hospital's ward code of 小宝, born ten days ago, with consent to the current text."""
    return {
        "code": setup.hospital.scene,
        "child_name": "小宝",
        "date_of_birth": born_days_ago(service, 10),
        "consent_version": setup.consent_version,
        "consent": True,
        **changes,
    }


async def enrol(client: httpx.AsyncClient, reader: LoggedIn, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/readers/me/newborn/enrolments", json=body, headers=reader.headers)
