"""The money reports: a library's daily cash report (what its desks took and gave back, by channel) and the
network's takings by kind of charge and channel over a period. Days are the network's calendar days."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tortoise import connections

from backend.accounts.models import StaffRole, StaffUser
from backend.accounts.staff import require_role
from backend.clock import NetworkTime


@dataclass(frozen=True, slots=True)
class Total:
    item: str
    """charges_paid, deposits_paid, waived, refunded, deposits_refunded (daily); a charge kind (network)."""
    channel: str
    """desk_cash, desk_card, wechat_pay, or waiver."""
    count: int
    amount_fen: int


@dataclass(frozen=True, slots=True)
class CashReport:
    library_id: int
    day: date
    totals: list[Total]
    net_fen: dict[str, int]
    """Money in less money out at the library's desks, by channel: what the till and the card terminal show."""


_INTO = ("charges_paid", "deposits_paid")
_OUT_OF = ("refunded", "deposits_refunded")

_DAILY = """
SELECT 'charges_paid' AS item, kind AS channel, COUNT(*) AS count, SUM(amount_fen) AS amount FROM money_settlement
 WHERE library_id = $1 AND created_at >= $2 AND created_at < $3 AND kind <> 'waiver' GROUP BY kind
UNION ALL
SELECT 'waived', kind, COUNT(*), SUM(amount_fen) FROM money_settlement
 WHERE library_id = $1 AND created_at >= $2 AND created_at < $3 AND kind = 'waiver' GROUP BY kind
UNION ALL
SELECT 'refunded', channel, COUNT(*), SUM(amount_fen) FROM money_refund
 WHERE library_id = $1 AND finished_at >= $2 AND finished_at < $3 AND state = 'succeeded' GROUP BY channel
UNION ALL
SELECT CASE kind WHEN 'deposit_paid' THEN 'deposits_paid' ELSE 'deposits_refunded' END, channel, COUNT(*),
       SUM(amount_fen) FROM money_deposit
 WHERE library_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY kind, channel
ORDER BY item, channel
"""


async def daily_cash_report(library_id: int, day: date, network_time: NetworkTime) -> CashReport:
    """What the library's desks took (charges and deposits, by cash or card), waived and gave back on one day of
    the network's calendar."""
    start, end = _days(day, day, network_time)
    rows = await connections.get("default").execute_query_dict(_DAILY, [library_id, start, end])
    totals = [Total(row["item"], row["channel"], int(row["count"]), int(row["amount"])) for row in rows]
    net: dict[str, int] = defaultdict(int)
    for total in totals:
        if total.item in _INTO:
            net[total.channel] += total.amount_fen
        elif total.item in _OUT_OF:
            net[total.channel] -= total.amount_fen
    return CashReport(library_id, day, totals, dict(net))


@dataclass(frozen=True, slots=True)
class NetworkReport:
    start: date
    end: date
    taken: list[Total]
    """Settlements by kind of charge and channel (waivers too: money forgone, not taken)."""
    refunded: list[Total]
    """Refunds returned, by kind of charge and channel."""
    deposits: list[Total]
    """Deposits paid in (`deposits_paid`) and given back (`deposits_refunded`), by channel: held, not revenue."""


_TAKEN = """
SELECT c.kind AS item, s.kind AS channel, COUNT(*) AS count, SUM(s.amount_fen) AS amount
  FROM money_settlement s JOIN money_charge c ON c.id = s.charge_id
 WHERE s.created_at >= $1 AND s.created_at < $2 GROUP BY c.kind, s.kind ORDER BY c.kind, s.kind
"""
_REFUNDED = """
SELECT c.kind AS item, r.channel AS channel, COUNT(*) AS count, SUM(r.amount_fen) AS amount
  FROM money_refund r JOIN money_charge c ON c.id = r.charge_id
 WHERE r.state = 'succeeded' AND r.finished_at >= $1 AND r.finished_at < $2 GROUP BY c.kind, r.channel
 ORDER BY c.kind, r.channel
"""
_DEPOSITS = """
SELECT CASE kind WHEN 'deposit_paid' THEN 'deposits_paid' ELSE 'deposits_refunded' END AS item, channel,
       COUNT(*) AS count, SUM(amount_fen) AS amount
  FROM money_deposit WHERE created_at >= $1 AND created_at < $2 GROUP BY kind, channel ORDER BY item, channel
"""


async def network_report(staff: StaffUser, start: date, end: date, network_time: NetworkTime) -> NetworkReport:
    """The network's money from the first to the last day given (both included, network calendar days): network
    administrators'."""
    require_role(staff, StaffRole.NETWORK_ADMIN)
    bounds = list(_days(start, end, network_time))
    conn = connections.get("default")
    found = [
        [Total(row["item"], row["channel"], int(row["count"]), int(row["amount"])) for row in rows]
        for rows in [await conn.execute_query_dict(sql, bounds) for sql in (_TAKEN, _REFUNDED, _DEPOSITS)]
    ]
    return NetworkReport(start, end, *found)


def _days(first: date, last: date, network_time: NetworkTime) -> tuple[datetime, datetime]:
    return network_time.midnight(first), network_time.midnight(last + timedelta(days=1))
