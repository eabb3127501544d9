"""What the shipping area records happening to a parcel. The areas whose parcel it is (a delivery order, a
purchase request, a courier pickup) subscribe and find theirs by `shipment_id`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent
from backend.shipping.models import Destination


@dataclass(frozen=True, slots=True)
class ShipmentShipped(DomainEvent):
    """Handed to the courier (or the library's van)."""

    shipment_id: int
    reader_id: int | None
    destination: Destination
    at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentDelivered(DomainEvent):
    """At the reader's door, or at the service point (or, for a courier pickup, at the library it was taken to)."""

    shipment_id: int
    reader_id: int | None
    destination: Destination
    at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentFailed(DomainEvent):
    """The courier could not deliver it: it is coming back."""

    shipment_id: int
    reader_id: int | None
    destination: Destination
    at: datetime


@dataclass(frozen=True, slots=True)
class ShipmentReturned(DomainEvent):
    """Back where it left from, undelivered."""

    shipment_id: int
    reader_id: int | None
    destination: Destination
    at: datetime
