"""Delivery's fixtures: the small network (packed at its root, TL; the service point TL-A-1), titles with copies at
the root and at branches, readers, and placing an order as the app does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.catalog.models import Copy, Record
from backend.catalog.search import index_records
from backend.delivery import orders
from backend.delivery.models import DeliveryOrder
from backend.network.models import Library
from backend.shipping.addresses import Address
from backend.shipping.models import Destination
from entrypoints.bootstrap import Dependencies
from tests.integration.circulation.lending import TUESDAY
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff, staff_headers
from tests.integration.service import Service

PACKING = "TL"  # the network's root: where orders are packed (no packing library in the settings)
SERVICE_POINT = "TL-A-1"  # a branch with a hold shelf
HOME = Address.of("张三", "13800138000", "安徽省铜陵市铜官区长江西路 1 号 3 栋 502")

# title: the copies' barcodes and libraries
TITLES: dict[str, list[tuple[str, str]]] = {
    "三体": [("T0001", "TL"), ("A0001", "TL-A"), ("A1001", "TL-A-1")],
    "活着": [("T0002", "TL"), ("B0001", "TL-B")],
    "围城": [("B1001", "TL-B-1")],
    "红楼梦": [("A0002", "TL-A")],
    "平凡的世界": [("T0003", "TL")],
    "边城": [("T0004", "TL")],
    "白鹿原": [("A0003", "TL-A")],
    "朝花夕拾": [("B0002", "TL-B")],
}


@dataclass
class Delivery:
    service: Service
    libraries: dict[str, Library]
    titles: dict[str, Record]
    desk: StaffUser  # a librarian at TL (the packing library)
    desk_headers: dict[str, str]
    wechatpay_moved: float = 0.0
    """How far `later` moved WeChat Pay's stand-in on (put back at the end of the test)."""

    @property
    def deps(self) -> Dependencies:
        deps: Dependencies = self.service.app.state.deps
        return deps

    @property
    def now(self) -> datetime:
        return self.service.clock.now()

    def later(self, seconds: float) -> None:
        """Time passes for the service and WeChat Pay alike (a payment made later is still taken for a fresh one;
        `service.clock.advance` alone moves the service only)."""
        self.service.clock.advance(seconds)
        self.service.wechatpay.advance_time(seconds)
        self.wechatpay_moved += seconds

    async def reader(self, name: str) -> Reader:
        """A card made at a desk (no WeChat account: pays at a desk)."""
        number = 20_000 + await Reader.all().count()
        return await Reader.create(card_number=f"0562{number:08d}0", name=name)

    async def logged_in(self, openid: str) -> tuple[LoggedIn, Reader]:
        """A reader of the mini-program (pays by WeChat Pay)."""
        logged_in = await login_reader(self.service, openid)
        return logged_in, await Reader.get(openid=openid)

    async def title(self, name: str, *copies: tuple[str, str]) -> Record:
        """Another title, with copies (barcode, library code)."""
        record = await Record.create(title=name)
        for barcode, code in copies:
            library = self.libraries[code]
            await Copy.create(barcode=barcode, record=record, home_library=library, current_library=library)
        await index_records([record.id])
        self.titles[name] = record
        return record

    async def order(
        self,
        reader: Reader,
        titles: Sequence[str],
        *,
        home: bool = False,
        now: datetime | None = None,
    ) -> DeliveryOrder:
        """An order placed as the app places it: to the service point TL-A-1, or (`home`) to the door."""
        deps = self.deps
        return await orders.place_order(
            reader,
            record_ids=[self.titles[title].id for title in titles],
            destination=Destination.HOME if home else Destination.SERVICE_POINT,
            pickup_library_code=None if home else SERVICE_POINT,
            address=HOME if home else None,
            now=now or self.now,
            policy=deps.delivery_policy,
            keys=deps.keys,
            credit_check=deps.credit_check,
            network_time=deps.network_time,
            bus=deps.bus,
        )

    async def copy(self, barcode: str) -> Copy:
        return await Copy.get(barcode=barcode)

    async def pay(self, reader: LoggedIn, charge_id: int) -> str:
        """Pay a charge as the mini-program does: the payments endpoint, WeChat Pay's stand-in paid, its notice
        delivered to the app. Returns the payment's out_trade_no."""
        started = await self.service.client.post(
            "/readers/me/payments", json={"charge_ids": [charge_id]}, headers=reader.headers
        )
        assert started.status_code == 201, started.text
        out_trade_no: str = started.json()["out_trade_no"]
        statuses = await asyncio.wrap_future(self.service.wechatpay.deliver(self.service.wechatpay.pay(out_trade_no)))
        assert list(statuses) == [204]
        return out_trade_no


@pytest.fixture
async def delivery(service: Service) -> AsyncIterator[Delivery]:
    """The small network at TUESDAY (WeChat Pay's stand-in too) with the titles above, and a librarian at the
    packing library."""
    await build_network()
    libraries = {library.code: library for library in await Library.all()}
    titles = {}
    for name, copies in TITLES.items():
        record = await Record.create(title=name)
        for barcode, code in copies:
            await Copy.create(
                barcode=barcode, record=record, home_library=libraries[code], current_library=libraries[code]
            )
        titles[name] = record
    await index_records([record.id for record in titles.values()])
    await make_staff("tl-desk", StaffRole.LIBRARIAN, PACKING)
    await make_staff("a-desk", StaffRole.LIBRARIAN, "TL-A")
    service.clock.freeze_at(TUESDAY)
    # WeChat Pay's stand-in signs its notices at the service's moment, or the app takes them for replays.
    shift = (TUESDAY - datetime.now(UTC)).total_seconds()
    service.wechatpay.advance_time(shift)
    delivery = Delivery(
        service,
        libraries,
        titles,
        await StaffUser.get(username="tl-desk").select_related("library"),
        await staff_headers(service.client, "tl-desk"),
    )
    try:
        yield delivery
    finally:
        service.wechatpay.advance_time(-shift - delivery.wechatpay_moved)
