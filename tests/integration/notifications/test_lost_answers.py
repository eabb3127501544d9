"""Pushes whose connection broke, and a worker killed mid-batch: what never reached WeChat is sent again, what may
have reached it is reported and never sent twice, and nothing else is left in doubt."""

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from backend.accounts.models import Reader
from backend.wechat.gateway import WechatpyGateway, WeChatSession
from entrypoints.embedded import free_port
from notifications import sender
from notifications.models import Delivery, DeliveryStatus, NoticeKind, SubscribeGrant
from notifications.sender import SendPolicy, WeChatSubscribe
from notifications.services import NoticeDraft, notify_many
from standins.wechat import RESET_AFTER_READ, RESET_BEFORE_READ
from tests.integration.notifications.notifying import SHANGHAI, push, received, subscribed_reader
from tests.integration.service import Service

SEND = "/cgi-bin/message/subscribe/send"
MORNING = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Tongling


def _message(reader_id: int, n: int) -> NoticeDraft:
    return NoticeDraft(
        reader_id,
        NoticeKind.STAFF_MESSAGE,
        subject=f"message:{n}",
        occasion="sent",
        title="闭馆通知",
        body="本周六闭馆一天",
        values={"title": "闭馆通知", "body": "本周六闭馆一天", "sender": "铜陵市图书馆"},
    )


async def _reader_with_a_message(service: Service, openid: str) -> int:
    await subscribed_reader(service, openid, NoticeKind.STAFF_MESSAGE, times=2)
    reader_id = (await Reader.get(openid=openid)).id
    service.clock.freeze_at(MORNING)
    await notify_many([_message(reader_id, 1)], MORNING)
    return reader_id


async def _outcome(reader_id: int) -> tuple[DeliveryStatus, str, int]:
    (delivery,) = await Delivery.filter(notice__reader_id=reader_id)
    grant = await SubscribeGrant.get(reader_id=reader_id)
    return delivery.status, delivery.error_code, grant.remaining


async def _an_hour_later(service: Service, channel: WeChatSubscribe) -> int:
    service.clock.freeze_at(MORNING + timedelta(hours=1))
    return await push(service, channel)


@pytest.mark.parametrize(("reset", "arrived"), [(RESET_AFTER_READ, 1), (RESET_BEFORE_READ, 0)])
async def test_a_reset_once_the_message_was_written_is_reported_and_never_sent_again_whether_wechat_read_it_or_not(
    service: Service, channel: WeChatSubscribe, reset: str, arrived: int
) -> None:
    # Reset after WeChat read and sent the message, or once it had arrived but unread: the sender cannot tell the
    # two apart, so it takes the side that never sends a message twice (staff see it and may send it again).
    reader_id = await _reader_with_a_message(service, "openid-reset")
    service.wechat.script_next_errors(SEND, [reset])

    first = await push(service, channel)
    later = await _an_hour_later(service, channel)

    assert (first, later) == (0, 0)
    assert await _outcome(reader_id) == (DeliveryStatus.INTERRUPTED, "no_answer", 1)  # spent: it may have arrived
    assert len(received(service, "openid-reset")) == arrived


async def test_a_message_that_could_not_reach_wechat_is_sent_again_later_once(
    service: Service, channel: WeChatSubscribe
) -> None:
    await _reader_with_a_message(service, "openid-warm")
    assert await push(service, channel) == 1  # the access token is in the shared cache from now on
    reader_id = await _reader_with_a_message(service, "openid-refused")
    nobody = WechatpyGateway(
        appid=service.wechat.appid,
        secret=service.wechat.secret,
        api_base=f"http://127.0.0.1:{free_port()}",  # nothing listens: the connection is refused
        redis=service.redis,
    )
    try:
        refused = await push(service, WeChatSubscribe(nobody, channel.templates))
    finally:
        nobody.close()
    after_refusal = await _outcome(reader_id)
    later = await _an_hour_later(service, channel)

    assert (refused, later) == (0, 1)
    assert after_refusal == (DeliveryStatus.PENDING, "unavailable", 2)  # the authorisation given back
    assert await _outcome(reader_id) == (DeliveryStatus.SENT, "", 1)
    assert len(received(service, "openid-refused")) == 1


async def test_a_token_fetch_cut_off_leaves_the_message_to_be_sent_later_not_reported_lost(
    service: Service, channel: WeChatSubscribe
) -> None:
    reader_id = await _reader_with_a_message(service, "openid-token-cut")
    service.wechat.script_next_errors("/cgi-bin/stable_token", [RESET_AFTER_READ])

    first = await push(service, channel)
    after_cut = await _outcome(reader_id)
    later = await _an_hour_later(service, channel)

    assert (first, later) == (0, 1)
    assert after_cut == (DeliveryStatus.PENDING, "unavailable", 2)  # the message itself never went out
    assert len(received(service, "openid-token-cut")) == 1


class StallingWeChat:
    """WeChat taking the first `answered` messages, then never answering: a sender about to be killed mid-batch.
    Only messages are sent through it."""

    def __init__(self, answered: int) -> None:
        self.answered = answered
        self.accepted: list[str] = []
        self.stalled = asyncio.Event()

    async def send_subscribe_message(
        self, openid: str, template_id: str, data: dict[str, dict[str, str]], page: str
    ) -> None:
        if len(self.accepted) == self.answered:
            self.stalled.set()
            await asyncio.Event().wait()  # no answer, ever
        self.accepted.append(openid)

    async def code_to_session(self, code: str) -> WeChatSession:
        raise NotImplementedError

    async def phone_number(self, code: str) -> str:
        raise NotImplementedError

    async def mini_program_code(self, scene: str, page: str | None) -> bytes:
        raise NotImplementedError


async def test_a_sender_killed_mid_batch_leaves_only_the_sends_in_flight_in_doubt_and_sends_the_rest_later(
    service: Service, channel: WeChatSubscribe
) -> None:
    for n in range(40):
        await subscribed_reader(service, f"openid-batch-{n}", NoticeKind.STAFF_MESSAGE)
    ids = await Reader.filter(openid__startswith="openid-batch-").order_by("id").values_list("id", flat=True)
    service.clock.freeze_at(MORNING)
    await notify_many([_message(int(reader_id), 1) for reader_id in ids], MORNING)  # type: ignore[call-overload]
    policy = SendPolicy(SHANGHAI, default_quiet=None, batch=40, concurrency=4)
    wechat = StallingWeChat(answered=10)  # the third group of four: two answered, two never

    killed = asyncio.create_task(
        sender.send_pending(WeChatSubscribe(wechat, channel.templates), policy, service.clock.now)
    )
    await wechat.stalled.wait()
    killed.cancel()  # the worker dies here: nothing it does from now on reaches the database
    with contextlib.suppress(asyncio.CancelledError):
        await killed
    left_sending = await Delivery.filter(status=DeliveryStatus.SENDING).count()
    left_unspent = await SubscribeGrant.filter(remaining=1).count()
    service.clock.freeze_at(MORNING + timedelta(minutes=11))  # past the stale claim
    restarted = await push(service, channel, policy)

    statuses = Counter(await Delivery.all().values_list("status", flat=True))
    delivered = wechat.accepted + [m["touser"] for m in service.wechat.subscribe_messages]
    assert (left_sending, left_unspent) == (4, 28)  # the group in flight; the rest untouched, authorisations too
    assert statuses == {DeliveryStatus.SENT: 36, DeliveryStatus.INTERRUPTED: 4}
    assert restarted == 28
    assert len(delivered) == len(set(delivered)) == 38  # the two answered in the last group arrived, once
