"""Whether a request reached WeChat, told from how its connection broke, over real sockets to the WeChat stand-in:
a connection refused, or reset while the request was still being written, never reached it; a reset once the
request was written whole may have (WeChat may have read it first), whatever WeChat actually did."""

import asyncio

import requests

from backend.wechat.transport import WeChatAdapter, maybe_received
from entrypoints.embedded import free_port
from standins.wechat import RESET_AFTER_READ, RESET_BEFORE_READ
from tests.integration.service import Service

SEND = "/cgi-bin/message/subscribe/send"
# Larger than what the sockets of both ends hold: the request is still being written when the reset comes.
LARGE = b" " * (64 << 20)


def _failure(url: str, body: bytes) -> requests.RequestException:
    with requests.Session() as session:
        session.mount("http://", WeChatAdapter())
        try:
            answer = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        except requests.RequestException as exc:
            return exc
    raise AssertionError(f"answered {answer.status_code}")


async def test_a_request_refused_or_reset_while_written_was_not_received_and_one_reset_after_may_have_been(
    service: Service,
) -> None:
    url = f"{service.wechat.base_url}{SEND}?access_token=unknown"
    service.wechat.script_next_errors(SEND, [RESET_BEFORE_READ, RESET_BEFORE_READ, RESET_AFTER_READ])
    earlier = len(service.wechat.calls(SEND))  # the stand-in serves the whole run

    cut_while_written = await asyncio.to_thread(_failure, url, LARGE)
    cut_unread = await asyncio.to_thread(_failure, url, b"{}")
    cut_after_reading = await asyncio.to_thread(_failure, url, b"{}")
    refused = await asyncio.to_thread(_failure, f"http://127.0.0.1:{free_port()}{SEND}", b"{}")

    assert not maybe_received(refused)
    assert not maybe_received(cut_while_written)
    # Written whole, then reset: WeChat had not read it, but the client cannot tell that from the next one.
    assert maybe_received(cut_unread)
    assert maybe_received(cut_after_reading)
    assert [call.body for call in service.wechat.calls(SEND)[earlier:]] == [{}]  # only the last one was read
