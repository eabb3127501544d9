"""What a delivery costs the reader, and its charge on their card: worked out by the server, paid before the parcel
is packed, withdrawn when the order does not go ahead."""

from __future__ import annotations

from datetime import datetime

from backend.delivery.policy import DeliveryPolicy
from backend.money import cancellations
from backend.money.models import Charge, ChargeKind
from backend.shipping.models import Destination


def delivery_fee(destination: Destination, books: int, policy: DeliveryPolicy) -> int:
    """Free to a service point; to the door by the policy's scale."""
    return 0 if destination is Destination.SERVICE_POINT else policy.home_fee(books)


async def charge_fee(source: str, reader_id: int, library_id: int, amount_fen: int, now: datetime) -> Charge:
    """The fee as a charge on the reader's card, the packing library's revenue, once per `source` (its occasion)."""
    return await Charge.create(
        reader_id=reader_id,
        kind=ChargeKind.DELIVERY,
        amount_fen=amount_fen,
        source=source,
        library_id=library_id,
        occasion=source,
        created_at=now,
    )


async def withdraw_fee(charge_id: int | None, reason: str, now: datetime) -> None:
    """The service did not happen: unpaid, the fee is waived; paid by WeChat Pay, refunded (a desk-paid fee is given
    back at a desk by staff). Once, however often it is called."""
    if charge_id is not None:
        await cancellations.withdraw_charge(charge_id, reason, now)


async def refit_fee(charge_id: int | None, was_fen: int, now_fen: int, reason: str, now: datetime) -> None:
    """The fee is smaller now (a book dropped out): the difference waived, or refunded if it was paid."""
    if charge_id is not None and now_fen < was_fen:
        await cancellations.refund_part(charge_id, was_fen - now_fen, reason, now)
