import asyncio

from backend.accounts.cards import luhn_digit
from backend.accounts.models import AuthSession, Reader
from backend.crypto import Keys
from tests.integration.factories import bearer, login_reader
from tests.integration.service import TEST_SECRET, Service


async def test_first_wechat_login_registers_a_reader_with_a_network_card(service: Service) -> None:
    session = await login_reader(service, "openid-alice", unionid="union-alice")

    me = await service.client.get("/readers/me", headers=session.headers)

    assert me.status_code == 200
    body = me.json()
    card = body["card_number"]
    assert card.startswith(service.settings.network.card_prefix) and luhn_digit(card[:-1]) == card[-1]
    assert body["reader_type"] == "adult" and body["phone"] is None
    assert "openid" not in me.text and "union-alice" not in me.text and "session_key" not in me.text
    reader = await Reader.get(card_number=card)
    assert reader.unionid == "union-alice"


async def test_logging_in_again_finds_the_same_reader(service: Service) -> None:
    first = await login_reader(service, "openid-bob")
    second = await login_reader(service, "openid-bob")

    cards = [
        (await service.client.get("/readers/me", headers=s.headers)).json()["card_number"] for s in (first, second)
    ]

    assert cards[0] == cards[1]
    assert await Reader.all().count() == 1


async def test_session_key_is_stored_encrypted_and_never_returned(service: Service) -> None:
    code = service.wechat.issue_login_code("openid-carol")
    response = await service.client.post("/auth/wechat-login", json={"code": code})

    reader = await Reader.get(openid="openid-carol")
    session_key = service.wechat.session_key("openid-carol")
    assert session_key.encode() not in reader.session_key_encrypted
    assert Keys(TEST_SECRET).decrypt(reader.session_key_encrypted, "reader.session_key") == session_key
    assert session_key not in response.text


async def test_bad_login_codes_are_refused_with_a_clear_problem_and_register_nobody(service: Service) -> None:
    used = service.wechat.issue_login_code("openid-dave")
    assert (await service.client.post("/auth/wechat-login", json={"code": used})).status_code == 200
    limited = service.wechat.issue_login_code("openid-erin")
    service.wechat.script_login_error(limited, 45011)
    risky = service.wechat.issue_login_code("openid-frank")
    service.wechat.script_login_error(risky, 40226)

    cases = {
        "never-issued": (422, "wechat_invalid_code"),
        used: (422, "wechat_invalid_code"),
        limited: (429, "wechat_rate_limited"),
        risky: (403, "wechat_risky_user"),
    }
    for code, (status, problem_code) in cases.items():
        response = await service.client.post("/auth/wechat-login", json={"code": code})
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == problem_code
        assert response.json()["title"]  # a Chinese message by default

    assert await Reader.all().count() == 1  # only dave, from the first, valid use


async def test_fifty_simultaneous_logins_of_one_reader_create_exactly_one_reader(service: Service) -> None:
    codes = [service.wechat.issue_login_code("openid-rush") for _ in range(50)]

    responses = await asyncio.gather(*(service.client.post("/auth/wechat-login", json={"code": c}) for c in codes))

    assert [r.status_code for r in responses] == [200] * 50
    assert await Reader.filter(openid="openid-rush").count() == 1
    mes = await asyncio.gather(
        *(service.client.get("/readers/me", headers=bearer(r.json()["access_token"])) for r in responses)
    )
    assert len({m.json()["card_number"] for m in mes}) == 1


async def test_two_hundred_simultaneous_registrations_get_distinct_card_numbers(service: Service) -> None:
    codes = [service.wechat.issue_login_code(f"openid-many-{i}") for i in range(200)]

    responses = await asyncio.gather(*(service.client.post("/auth/wechat-login", json={"code": c}) for c in codes))

    assert [r.status_code for r in responses] == [200] * 200
    numbers = await Reader.all().values_list("card_number", flat=True)
    assert len(numbers) == 200 and len(set(numbers)) == 200


async def test_refresh_rotates_and_a_replayed_refresh_token_ends_the_whole_login(service: Service) -> None:
    session = await login_reader(service, "openid-gina")
    old_refresh = session.tokens["refresh_token"]

    rotated = await service.client.post("/auth/refresh", json={"refresh_token": old_refresh})
    assert rotated.status_code == 200
    new_refresh = rotated.json()["refresh_token"]
    assert (await service.client.get("/readers/me", headers=bearer(rotated.json()["access_token"]))).status_code == 200

    replay = await service.client.post("/auth/refresh", json={"refresh_token": old_refresh})
    assert replay.status_code == 401 and replay.json()["code"] == "refresh_token_invalid"
    # The copy was used, so the legitimate holder's newer token is revoked too.
    after = await service.client.post("/auth/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401


async def test_concurrent_refreshes_with_one_token_succeed_once(service: Service) -> None:
    session = await login_reader(service, "openid-hank")

    responses = await asyncio.gather(
        *(
            service.client.post("/auth/refresh", json={"refresh_token": session.tokens["refresh_token"]})
            for _ in range(10)
        )
    )

    assert sorted(r.status_code for r in responses).count(200) == 1


async def test_logout_revokes_the_refresh_token(service: Service) -> None:
    session = await login_reader(service, "openid-iris")

    out = await service.client.post("/auth/logout", json={"refresh_token": session.tokens["refresh_token"]})

    assert out.status_code == 204
    again = await service.client.post("/auth/refresh", json={"refresh_token": session.tokens["refresh_token"]})
    assert again.status_code == 401
    assert await AuthSession.filter(revoked_at__isnull=True).count() == 0


async def test_expired_and_forged_access_tokens_are_refused(service: Service) -> None:
    session = await login_reader(service, "openid-jack")
    token = session.tokens["access_token"]
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"

    assert (await service.client.get("/readers/me")).json()["code"] == "not_authenticated"
    assert (await service.client.get("/readers/me", headers=bearer(forged))).json()["code"] == "token_invalid"
    assert (await service.client.get("/readers/me", headers={"Authorization": f"Basic {token}"})).status_code == 401
    service.clock.advance(service.settings.security.access_token_ttl_seconds + 1)
    expired = await service.client.get("/readers/me", headers=session.headers)
    assert expired.status_code == 401 and expired.json()["code"] == "token_expired"


async def test_messages_are_chinese_by_default_and_english_on_request(service: Service) -> None:
    zh = await service.client.get("/readers/me")
    en = await service.client.get("/readers/me", headers={"Accept-Language": "en-GB,en;q=0.9"})

    assert zh.json()["title"] == "请先登录"
    assert en.json()["title"] == "Please log in first"
    assert zh.json()["code"] == en.json()["code"] == "not_authenticated"
