"""What the purchases area records happening."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend.eventbus import DomainEvent


@dataclass(frozen=True, slots=True)
class BookPurchased(DomainEvent):
    """A reader's choice bought: in a partner's shop and lent to them on the spot, or online when the shop's parcel
    reached them or their service point."""

    purchase_id: int
    reader_id: int
    record_id: int
    copy_id: int
    bookstore_id: int
    main_library_id: int
    price_fen: int
    at: datetime
