from datetime import UTC, datetime

from backend.accounts.models import StaffRole
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.hardening.inputs import event_body, names_field
from tests.integration.service import Service

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def _network_admin(service: Service) -> dict[str, str]:
    await build_network()
    await make_staff("text-admin", StaffRole.NETWORK_ADMIN, "TL")
    return await staff_headers(service.client, "text-admin")


async def test_a_birth_month_with_a_trailing_newline_names_the_field(service: Service) -> None:
    reader = await login_reader(service, "openid-newline")

    for month in ("2020-01\n", "２０２０-01", "٢٠٢٠-٠١"):
        response = await service.client.post(
            "/readers/me/children",
            json={"name": "小明", "birth_month": month, "guardian_consent": True},
            headers=reader.headers,
        )
        assert names_field(response, "birth_month"), (month, response.text)


async def test_a_staff_username_with_a_trailing_newline_is_refused_not_stored(service: Service) -> None:
    staff = await _network_admin(service)

    response = await service.client.post(
        "/staff/staff-users",
        json={"username": "newbie\n", "password": "a-long-enough-password", "role": "librarian", "library_code": "TL"},
        headers=staff,
    )

    assert names_field(response, "username"), response.text
    listed = (await service.client.get("/staff/staff-users", headers=staff)).json()["items"]
    assert all("\n" not in s["username"] for s in listed)


async def test_codes_with_a_trailing_newline_are_refused_in_paths_queries_and_bodies(service: Service) -> None:
    staff = await _network_admin(service)

    in_query = await service.client.get("/libraries", params={"within": "TL\n"})
    in_body = await service.client.post(
        "/staff/copies", json={"record_id": 1, "barcode": "B0001\n", "library_code": "TL"}, headers=staff
    )

    assert names_field(in_query, "within"), in_query.text
    assert names_field(in_body, "barcode"), in_body.text


async def test_a_nul_byte_in_any_free_text_names_the_field(service: Service) -> None:
    staff = await _network_admin(service)
    reader = await login_reader(service, "openid-nul")

    subscribed = await service.client.post(
        "/readers/me/subscriptions", json={"template_ids": ["tmpl\u0000id"]}, headers=reader.headers
    )
    described = await service.client.post(
        "/staff/events", json=event_body(NOW, description="第一行\n第二行\u0000"), headers=staff
    )
    summarised = await service.client.post(
        "/staff/records", json={"title": "书", "summary": "提要\u0000"}, headers=staff
    )
    covered = await service.client.post(
        "/staff/records", json={"title": "书", "cover_url": "https://example.com/\u0000.jpg"}, headers=staff
    )

    assert names_field(subscribed, "template_ids"), subscribed.text
    assert names_field(described, "description"), described.text
    assert names_field(summarised, "summary"), summarised.text
    assert names_field(covered, "cover_url"), covered.text


async def test_multi_line_fields_keep_their_newlines_and_single_line_ones_refuse_them(service: Service) -> None:
    staff = await _network_admin(service)

    summarised = await service.client.post(
        "/staff/records", json={"title": "书", "summary": "第一段\n\n第二段\t完"}, headers=staff
    )
    titled = await service.client.post("/staff/records", json={"title": "书\n名"}, headers=staff)

    assert summarised.status_code == 201, summarised.text
    assert summarised.json()["summary"] == "第一段\n\n第二段\t完"
    assert names_field(titled, "title"), titled.text
