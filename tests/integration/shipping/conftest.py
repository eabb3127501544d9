"""Shipping's fixtures: the small network, a courier (its side of the webhook, the stand-in client), a network
administrator, a reader of the mini-program, and parcels opened and handed over as the owning areas do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from backend.accounts.models import Reader, StaffRole, StaffUser
from backend.crypto import Keys
from backend.network.models import Library
from backend.shipping import couriers
from backend.shipping.addresses import Address
from backend.shipping.models import Courier, Destination, Shipment
from backend.shipping.services import hand_over, open_shipment
from standins.courier import CourierClient
from tests.integration.factories import LoggedIn, build_network, login_reader, make_staff
from tests.integration.notifications.conftest import channel as channel  # the WeChat channel, for the pushes
from tests.integration.service import BUS, Service

SECRET = "sf-shared-secret-0123456789abcdefghijklmn"
HOME = Address.of("张三丰", "13812345678", "安徽省铜陵市铜官区长江西路 1 号 3 栋 502")
SERVICE_POINT = "TL-A-1"  # a branch with a hold shelf


@dataclass
class Parcels:
    service: Service
    courier: Courier
    sf: CourierClient  # the courier's push service
    admin: StaffUser  # the network administrator
    reader: Reader
    app_reader: LoggedIn

    @property
    def keys(self) -> Keys:
        keys: Keys = self.service.app.state.deps.keys
        return keys

    @property
    def now(self) -> datetime:
        return self.service.clock.now()

    async def library(self, code: str) -> Library:
        return await Library.get(code=code)

    async def preparing(self, destination: Destination = Destination.HOME) -> Shipment:
        async with BUS.transaction():
            pickup = None if destination is Destination.HOME else (await self.library(SERVICE_POINT)).id
            return await open_shipment(
                self.keys,
                reader_id=self.reader.id,
                destination=destination,
                pickup_library_id=pickup,
                address=HOME if destination is Destination.HOME else None,
                now=self.now - timedelta(hours=2),
            )

    async def shipped(self, tracking_no: str, destination: Destination = Destination.HOME) -> Shipment:
        """A parcel handed to the courier an hour ago."""
        shipment = await self.preparing(destination)
        async with BUS.transaction():
            return await hand_over(
                shipment.id, courier_code=self.courier.code, tracking_no=tracking_no, now=self.now - timedelta(hours=1)
            )

    async def notices(self) -> list[dict[str, Any]]:
        response = await self.service.client.get("/readers/me/notices", headers=self.app_reader.headers)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def parcels(service: Service) -> Parcels:
    await build_network()
    admin = await make_staff("network-admin", StaffRole.NETWORK_ADMIN, "TL")
    keys = service.app.state.deps.keys
    courier = await couriers.create_courier(
        keys, admin, code="sf", name="顺丰速运", secret=SECRET, now=service.clock.now()
    )
    app_reader = await login_reader(service, "openid-parcels")
    reader = await Reader.get(openid="openid-parcels")
    sf = CourierClient(service.client, "sf", SECRET, clock=service.clock.now)
    return Parcels(service, courier, sf, admin, reader, app_reader)
