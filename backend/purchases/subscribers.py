"""What reader-chosen purchases do when a shop's parcel moves, and when a book bought online is collected."""

from __future__ import annotations

from functools import partial

from backend.accounts.domain_events import CardClosing
from backend.circulation.domain_events import LoanOpened
from backend.circulation.holds import HoldPolicy
from backend.eventbus import EventBus
from backend.purchases import requests
from backend.purchases.errors import CardHasRequests
from backend.purchases.models import OPEN_REQUEST, PurchaseRequest
from backend.purchases.policy import PurchasePolicy
from backend.shipping.domain_events import ShipmentDelivered, ShipmentReturned, ShipmentShipped


def subscribe(bus: EventBus, policy: PurchasePolicy, hold_policy: HoldPolicy) -> None:
    bus.subscribe(ShipmentShipped, requests.shipped)
    # delivered: bought and lent, or shelved at the service point; come back: the reservation released
    bus.subscribe(ShipmentDelivered, partial(requests.delivered, policy, hold_policy))
    bus.subscribe(ShipmentReturned, requests.returned)
    bus.subscribe(LoanOpened, requests.collected)  # a book waiting on the hold shelf collected
    bus.subscribe(CardClosing, card_closing)


async def card_closing(event: CardClosing) -> None:
    """A card is removed only with none of its requests open: a book bought for it would have no reader, and a
    reservation no one to release it for."""
    if await PurchaseRequest.exists(reader_id=event.reader_id, state__in=OPEN_REQUEST):
        raise CardHasRequests()
