"""Charges as the ledger holds them, and the sums the balances must equal."""

from datetime import datetime

from tortoise import connections

from backend.accounts.models import Reader
from backend.money.models import Charge, ChargeKind
from backend.network.models import Library


async def charge(reader: Reader, amount_fen: int, at: datetime, kind: ChargeKind = ChargeKind.DELIVERY) -> Charge:
    library = await Library.get(code="TL-A")
    count = await Charge.all().count()
    return await Charge.create(
        reader=reader,
        kind=kind,
        amount_fen=amount_fen,
        library=library,
        source=f"delivery-order:{count + 1}",
        occasion=f"test:{count + 1}",
        created_at=at,
    )


async def settled_of(charge_id: int) -> int:
    rows = await connections.get("default").execute_query_dict(
        "SELECT COALESCE(SUM(amount_fen), 0) AS total FROM money_settlement WHERE charge_id = $1", [charge_id]
    )
    return int(rows[0]["total"])
