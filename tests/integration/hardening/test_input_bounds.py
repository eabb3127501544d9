from datetime import UTC, datetime

from backend.accounts.models import StaffRole
from tests.integration.factories import build_network, login_reader, make_staff, staff_headers
from tests.integration.hardening.inputs import event_body, names_field
from tests.integration.service import Service

# Each outside what PostgreSQL or Python holds once moved to UTC or given a few days more.
ABSURD_MOMENTS = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "9999-06-01T10:00:00+08:00"]
BEYOND_INT64 = 2**63
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


async def test_events_browsed_from_or_to_an_absurd_moment_name_the_parameter(service: Service) -> None:
    for moment in ABSURD_MOMENTS:
        for parameter in ("starts_from", "starts_to"):
            response = await service.client.get("/events", params={parameter: moment})
            assert names_field(response, parameter), (moment, response.text)


async def test_an_event_in_the_year_9999_or_1_names_the_time(service: Service) -> None:
    await build_network()
    await make_staff("events-admin", StaffRole.LIBRARY_ADMIN, "TL-A")
    staff = await staff_headers(service.client, "events-admin")
    assert (await service.client.post("/staff/events", json=event_body(NOW), headers=staff)).status_code == 201

    for field in ("starts_at", "ends_at", "booking_opens_at", "booking_closes_at", "cancel_until"):
        for moment in [*ABSURD_MOMENTS, "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]:
            spoilt = event_body(NOW, **{field: moment})
            created = await service.client.post("/staff/events", json=spoilt, headers=staff)
            changed = await service.client.put("/staff/events/1", json=spoilt, headers=staff)
            assert names_field(created, field), (field, moment, created.text)
            assert names_field(changed, field), (field, moment, changed.text)


async def test_a_suspension_until_an_absurd_or_zoneless_moment_names_it(service: Service) -> None:
    await build_network()
    await make_staff("credit-admin", StaffRole.NETWORK_ADMIN, "TL")
    staff = await staff_headers(service.client, "credit-admin")
    reader = await login_reader(service, "openid-suspended")
    card = (await service.client.get("/readers/me", headers=reader.headers)).json()["card_number"]

    for until in [*ABSURD_MOMENTS, "2030-01-01T00:00:00"]:
        response = await service.client.post(
            f"/staff/readers/{card}/suspensions",
            json={"kind": "suspended", "reason": "逾期未还", "until": until},
            headers=staff,
        )
        assert names_field(response, "until"), (until, response.text)


async def test_a_hold_suspended_until_the_year_1_or_9999_names_the_date(service: Service) -> None:
    reader = await login_reader(service, "openid-away")

    for day in ("0001-01-01", "9999-12-31"):
        response = await service.client.patch(
            "/readers/me/holds/1", json={"suspended_until": day}, headers=reader.headers
        )
        assert names_field(response, "suspended_until"), (day, response.text)


async def test_an_offset_or_an_id_beyond_the_database_integers_names_the_parameter(service: Service) -> None:
    await build_network()
    await make_staff("network-admin", StaffRole.NETWORK_ADMIN, "TL")
    staff = await staff_headers(service.client, "network-admin")
    reader = await login_reader(service, "openid-far-away")

    history = await service.client.get(
        "/readers/me/reading-history", params={"offset": "99999999999999999999"}, headers=reader.headers
    )
    retried = await service.client.post("/staff/deliveries/retry", json={"delivery_ids": [BEYOND_INT64]}, headers=staff)
    notices = await service.client.get(
        "/readers/me/notices", params={"offset": str(BEYOND_INT64)}, headers=reader.headers
    )
    renewed = await service.client.post(f"/readers/me/loans/{BEYOND_INT64}/renew", headers=reader.headers)

    assert names_field(history, "offset"), history.text
    assert names_field(retried, "delivery_ids"), retried.text
    assert names_field(notices, "offset"), notices.text
    assert names_field(renewed, "loan_id"), renewed.text


async def test_a_loan_or_notice_id_beyond_int32_is_not_found_since_those_columns_are_bigint(service: Service) -> None:
    reader = await login_reader(service, "openid-big-ids")

    renewed = await service.client.post(f"/readers/me/loans/{2**31}/renew", headers=reader.headers)
    read = await service.client.post(f"/readers/me/notices/{2**31}/read", headers=reader.headers)

    assert (renewed.status_code, renewed.json()["code"]) == (404, "loan_not_found")
    assert (read.status_code, read.json()["code"]) == (404, "notice_not_found")


async def test_a_birth_month_in_the_year_0_is_an_invalid_birth_month(service: Service) -> None:
    reader = await login_reader(service, "openid-year-zero")

    response = await service.client.post(
        "/readers/me/children",
        json={"name": "小明", "birth_month": "0000-01", "guardian_consent": True},
        headers=reader.headers,
    )

    assert (response.status_code, response.json()["code"]) == (422, "invalid_birth_month"), response.text
