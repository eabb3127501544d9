"""The templates a reader reports accepting count only when they are templates this installation pushes with."""

from backend.accounts.models import Reader
from notifications.models import NoticeKind, SubscribeGrant
from standins.wechat_templates import template_id
from tests.integration.factories import login_reader
from tests.integration.service import Service

HOLD_READY = template_id(NoticeKind.HOLD_READY)
SEAT_OFFERED = template_id(NoticeKind.SEAT_OFFERED)


async def test_made_up_template_ids_leave_no_trace(service: Service) -> None:
    reader = await login_reader(service, "openid-junk")

    answers = [
        await service.client.post(
            "/readers/me/subscriptions",
            json={"template_ids": [f"junk-{call}-{i}" for i in range(3)]},
            headers=reader.headers,
        )
        for call in range(20)
    ]

    assert {(a.status_code, tuple(a.json()["accepted"])) for a in answers} == {(200, ())}
    assert answers[0].json()["ignored"] == ["junk-0-0", "junk-0-1", "junk-0-2"]
    assert await SubscribeGrant.all().count() == 0


async def test_a_stale_id_does_not_lose_the_others_of_the_tap(service: Service) -> None:
    reader = await login_reader(service, "openid-stale")

    answer = await service.client.post(
        "/readers/me/subscriptions",
        json={"template_ids": [HOLD_READY, "retired-template", SEAT_OFFERED]},
        headers=reader.headers,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"accepted": [HOLD_READY, SEAT_OFFERED], "ignored": ["retired-template"]}
    me = await Reader.get(openid="openid-stale")
    grants = (
        await SubscribeGrant.filter(reader_id=me.id).order_by("template_id").values_list("template_id", "remaining")
    )
    assert grants == [(HOLD_READY, 1), (SEAT_OFFERED, 1)]
