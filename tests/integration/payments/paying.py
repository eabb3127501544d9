"""Paying through the API: money's desks and small network at TUESDAY, WeChat Pay's stand-in set to the same moment,
readers logged in from the mini-program, and the worker's WeChat Pay jobs as arq runs them."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from tortoise import connections

from backend.accounts.models import Reader
from backend.money.models import Charge, Settlement
from entrypoints import worker
from standins.wechatpay import FakeWeChatPay, Forgery, Notice
from tests.integration.circulation.lending import TUESDAY
from tests.integration.factories import LoggedIn, login_reader, staff_headers
from tests.integration.money.accounts import charge
from tests.integration.money.conftest import Desks, desks
from tests.integration.service import Service

__all__ = ["desks"]


@dataclass
class Paying:
    service: Service
    desks: Desks
    admin: dict[str, str]  # TL-A's library admin, who refunds up to 500 yuan
    network_admin: dict[str, str]

    @property
    def wechatpay(self) -> FakeWeChatPay:
        return self.service.wechatpay

    async def reader(self, openid: str) -> tuple[LoggedIn, Reader]:
        logged_in = await login_reader(self.service, openid)
        return logged_in, await Reader.get(openid=openid)

    async def charges(self, card: Reader, *amounts: int) -> list[Charge]:
        return [await charge(card, amount, TUESDAY) for amount in amounts]

    async def pay(self, reader: LoggedIn, **body: Any) -> httpx.Response:
        return await self.service.client.post("/readers/me/payments", json=body, headers=reader.headers)

    async def deliver(
        self, notice: Notice, *, times: int = 1, concurrently: bool = False, forgery: Forgery | None = None
    ) -> list[int]:
        sent = self.wechatpay.deliver(notice, times=times, concurrently=concurrently, forgery=forgery)
        return list(await asyncio.wrap_future(sent))

    def later(self, seconds: float) -> None:
        """Time passes for the service and WeChat Pay alike."""
        self.service.clock.advance(seconds)
        self.wechatpay.advance_time(seconds)

    async def run(self, job: str) -> int:
        ctx = {"deps": self.service.app.state.deps, "job_try": 1}
        result: int = await getattr(worker, job)(ctx)
        return result


@pytest.fixture
async def paying(service: Service, desks: Desks) -> AsyncIterator[Paying]:
    # The desks' clock stands at TUESDAY: WeChat Pay's stand-in signs its notices at the same moment.
    shift = (TUESDAY - datetime.now(UTC)).total_seconds()
    service.wechatpay.advance_time(shift)
    try:
        yield Paying(
            service,
            desks,
            await staff_headers(service.client, "a-admin"),
            await staff_headers(service.client, "net-admin"),
        )
    finally:
        service.wechatpay.advance_time(-shift - (service.clock.now() - TUESDAY).total_seconds())


async def ledger_holds_together() -> None:
    """What every balance must satisfy whatever happened: a card owes its charges less their settlements (the figure
    is a sum of lines), no charge is settled beyond its amount, and refunds that have not failed exceed neither their
    settlement nor their payment."""
    conn = connections.get("default")
    over_settled = await conn.execute_query_dict(
        "SELECT c.id FROM money_charge c JOIN money_settlement s ON s.charge_id = c.id"
        " GROUP BY c.id HAVING SUM(s.amount_fen) > c.amount_fen"
    )
    over_refunded = await conn.execute_query_dict(
        "SELECT p.id FROM money_payment p JOIN money_refund r ON r.payment_id = p.id AND r.state <> 'failed'"
        " GROUP BY p.id HAVING SUM(r.amount_fen) > p.amount_fen"
        " UNION SELECT s.id FROM money_settlement s JOIN money_refund r ON r.settlement_id = s.id"
        " AND r.state <> 'failed' GROUP BY s.id HAVING SUM(r.amount_fen) > s.amount_fen"
    )
    paid_lines = await conn.execute_query_dict(
        "SELECT p.id FROM money_payment p JOIN money_payment_line l ON l.payment_id = p.id"
        " GROUP BY p.id HAVING SUM(l.amount_fen) <> p.amount_fen"
    )
    assert (over_settled, over_refunded, paid_lines) == ([], [], [])


async def owed_by_the_lines(card: Reader) -> int:
    charged = sum(c.amount_fen for c in await Charge.filter(reader_id=card.id))
    return charged - sum(s.amount_fen for s in await Settlement.filter(charge__reader_id=card.id))
