"""Reading the ledger: what a card owes, what each charge still comes to and what settled it, the deposit it holds and
whether it may be given back, and a payer's account line by line. Every figure is a sum of lines, computed by the
database when it is asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise import connections
from tortoise.queryset import QuerySet

from backend import paging
from backend.accounts.models import Reader
from backend.accounts.services import MAX_CHILDREN_PER_GUARDIAN, list_children
from backend.circulation.models import Loan
from backend.errors import DomainError
from backend.money import refunds
from backend.money.errors import DepositNotRefundable, NoDeposit
from backend.money.models import Charge, DepositKind, DepositLine, PaymentLine, Settlement, SettlementKind

# What each charge still comes to: its amount less its settlements. Every figure of what is owed reads it.
_OUTSTANDING = (
    "SELECT c.id, c.amount_fen - COALESCE(SUM(s.amount_fen), 0) AS outstanding FROM money_charge c"
    " LEFT JOIN money_settlement s ON s.charge_id = c.id WHERE {where} GROUP BY c.id"
)


async def _outstanding(where: str, *args: object) -> dict[int, int]:
    rows = await connections.get("default").execute_query_dict(_OUTSTANDING.format(where=where), list(args))
    return {int(row["id"]): int(row["outstanding"]) for row in rows}


async def owed_fen(reader_id: int) -> int:
    """What the card owes now: what its charges still come to."""
    return sum((await _outstanding("c.reader_id = $1", reader_id)).values())


async def deposit_fen(reader_id: int) -> int:
    """The deposit the card holds: paid in less given back."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT COALESCE(SUM(CASE kind WHEN $2 THEN amount_fen ELSE -amount_fen END), 0) AS held"
        " FROM money_deposit WHERE reader_id = $1",
        [reader_id, DepositKind.PAID.value],
    )
    return int(rows[0]["held"])


async def outstanding_fen(charge: Charge) -> int:
    return (await outstanding_of([charge.id]))[charge.id]


async def outstanding_of(charge_ids: Sequence[int]) -> dict[int, int]:
    """What each of the charges still comes to, in one query."""
    return await _outstanding("c.id = ANY($1::int[])", list(charge_ids))


async def in_open_payment(charge_id: int) -> bool:
    """Whether an open payment order reserves the charge."""
    return await PaymentLine.exists(charge_id=charge_id, open=True)


async def reserved(charge_ids: Sequence[int]) -> set[int]:
    """Those of the charges an open payment order reserves."""
    rows = await PaymentLine.filter(charge_id__in=list(charge_ids), open=True).values("charge_id")
    return {row["charge_id"] for row in rows}


async def deposit_in_payment(payer_id: int) -> bool:
    """Whether an open payment order of the payer's pays their deposit."""
    return await PaymentLine.exists(charge_id__isnull=True, open=True, payment__payer_id=payer_id)


async def children_of(payer: Reader) -> list[Reader]:
    """The children's cards the payer pays for (every one: a guardian holds a handful at most)."""
    children, _ = await list_children(payer, limit=MAX_CHILDREN_PER_GUARDIAN, offset=0)
    return children


async def cards_paid_by(payer: Reader) -> list[int]:
    """The cards whose charges the payer sees and pays: their own and their children's."""
    return [payer.id, *(child.id for child in await children_of(payer))]


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """A charge as its payer is shown it: with its loan's copy and title, or its `source`, and what it comes to."""

    charge: Charge
    settlements: list[Settlement]
    """What settled it, the first first."""
    in_payment: bool
    """Reserved by an open payment order: being paid by WeChat Pay now."""

    @property
    def settled_fen(self) -> int:
        return sum(settlement.amount_fen for settlement in self.settlements)

    @property
    def outstanding_fen(self) -> int:
        return self.charge.amount_fen - self.settled_fen


async def charge_lines(
    reader_ids: Sequence[int], *, outstanding_only: bool, limit: int, offset: int
) -> tuple[list[ChargeLine], int]:
    """The cards' charges, newest first, each with its settled and outstanding parts. `outstanding_only`: only
    those that still come to something (what a payer chooses from)."""
    query = Charge.filter(reader_id__in=list(reader_ids))
    if outstanding_only:
        owing = await _outstanding("c.reader_id = ANY($1::int[])", list(reader_ids))
        query = query.filter(id__in=[charge_id for charge_id, left in owing.items() if left > 0])
    charges, total = await paging.page(
        query.order_by("-created_at", "-id").select_related("library", "loan__copy__record"), limit, offset
    )
    return await lines_of(charges), total


async def lines_of(charges: Sequence[Charge]) -> list[ChargeLine]:
    ids = [charge.id for charge in charges]
    settlements = await Settlement.filter(charge_id__in=ids).order_by("created_at", "id")
    in_payment = await reserved(ids)
    return [ChargeLine(c, [s for s in settlements if s.charge_id == c.id], c.id in in_payment) for c in charges]


async def loan_charges(loan_id: int) -> list[Charge]:
    """What a loan was charged (its overdue fee, or a lost copy's replacement and processing fee), the first first."""
    return await Charge.filter(loan_id=loan_id).order_by("created_at", "id")


@dataclass(frozen=True, slots=True)
class SettlementSeen:
    settlement: Settlement  # with its library, staff member and payment
    refundable_fen: int
    """What a desk may still give back of it (0 for a waiver: no money was taken)."""


async def settlements_of(charge_ids: Sequence[int]) -> dict[int, list[SettlementSeen]]:
    """Each charge's settlements, the first first, with what may still be refunded of each: a desk's history of its
    lines."""
    history: dict[int, list[SettlementSeen]] = {charge_id: [] for charge_id in charge_ids}
    for seen in await _seen(Settlement.filter(charge_id__in=list(charge_ids))):
        history[seen.settlement.charge_id].append(seen)
    return history


async def settlement_seen(settlement_id: int) -> SettlementSeen:
    """One settlement as `settlements_of` shows it (one just written: its relations as rows)."""
    (seen,) = await _seen(Settlement.filter(id=settlement_id))
    return seen


async def _seen(settlements: QuerySet[Settlement]) -> list[SettlementSeen]:
    found = await settlements.select_related("library", "staff", "payment").order_by("created_at", "id")
    return [SettlementSeen(s, 0 if s.kind is SettlementKind.WAIVER else await refunds.refundable_fen(s)) for s in found]


@dataclass(frozen=True, slots=True)
class Account:
    """A card's money at a glance."""

    reader_id: int
    owed_fen: int
    deposit_fen: int


async def account(reader_id: int) -> Account:
    return Account(reader_id, await owed_fen(reader_id), await deposit_fen(reader_id))


async def deposit_refusal(reader_id: int) -> DomainError | None:
    """Why the card's deposit may not be given back now, or None when it may: one is held, nothing is on loan and
    nothing is owed. Giving it back reads this under the card's lock, which a checkout takes too."""
    if await deposit_fen(reader_id) <= 0:
        return NoDeposit()
    on_loan = await Loan.filter(reader_id=reader_id, returned_at__isnull=True).count()
    owed = await owed_fen(reader_id)
    if on_loan or owed:
        return DepositNotRefundable(on_loan=on_loan, owed_fen=owed)
    return None


@dataclass(frozen=True, slots=True)
class DepositParts:
    """The deposit a card holds by the way it goes back: each WeChat Pay payment's part still held (the latest
    payment first), returned to it; the rest (paid at a desk, or a WeChat Pay refund of it that failed) at a desk."""

    by_payment: list[tuple[int, int]]
    """(payment id, fen)."""
    at_desk_fen: int


async def deposit_parts(reader_id: int) -> DepositParts:
    """Each payment's deposit lines less the deposit refunded against it, within what the card holds: a deposit
    given back at a desk before refunds went back by WeChat Pay named no payment, so the latest payments count
    first."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT payment_id, SUM(CASE kind WHEN $2 THEN amount_fen ELSE -amount_fen END) AS held FROM money_deposit"
        " WHERE reader_id = $1 AND payment_id IS NOT NULL GROUP BY payment_id ORDER BY payment_id DESC",
        [reader_id, DepositKind.PAID.value],
    )
    left = await deposit_fen(reader_id)
    by_payment = []
    for row in rows:
        if (part := min(int(row["held"]), left)) > 0:
            by_payment.append((int(row["payment_id"]), part))
            left -= part
    return DepositParts(by_payment, left)


async def deposit_lines(reader_id: int, *, limit: int, offset: int) -> tuple[list[DepositLine], int]:
    """The card's deposit paid in and given back, newest first (the receipts of a deposit)."""
    return await paging.page(DepositLine.filter(reader_id=reader_id).order_by("-created_at", "-id"), limit, offset)
