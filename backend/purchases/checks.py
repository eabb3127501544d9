"""The check in the shop: may the library buy this book for this reader? Every reason that applies, at once.

Read-only, a handful of indexed look-ups (the shop's stock row by shop and ISBN, the record by its unique ISBN, its
copies by record, the reader's standing and purchases, the budget's rows), so it answers as the reader scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections

from backend.accounts.models import Reader
from backend.catalog.models import Copy, CopyStatus, Record
from backend.circulation import rules
from backend.circulation.credit import CreditCheck
from backend.circulation.models import HoldStatus
from backend.circulation.standing import standing
from backend.circulation.validators import CheckoutAttempt, checkout_refusals
from backend.errors import DomainError
from backend.purchases import budgets
from backend.purchases.errors import (
    ExcludedKind,
    HeldEnough,
    MonthlyQuotaUsed,
    PriceOverCap,
    ReaderBarred,
    TooManyUnreturned,
    TooOld,
)
from backend.purchases.models import PurchaseState, RequestState, StockItem
from backend.purchases.policy import PurchasePolicy, PurchaseTerms, fold
from backend.purchases.shops import stock_item

# Copies that are no longer the network's to lend.
_GONE = (CopyStatus.WITHDRAWN, CopyStatus.LOST)


def discounted(list_price_fen: int, discount_bp: int) -> int:
    """What the library pays the shop: the list price less the discount, to the nearest fen (half a fen up)."""
    return (list_price_fen * (10000 - discount_bp) + 5000) // 10000


@dataclass(frozen=True, slots=True)
class Holding:
    library: str
    code: str
    copies: int
    available: int


@dataclass(frozen=True, slots=True)
class IsbnCheck:
    item: StockItem
    """The shop's stock row, with its bookstore and the bookstore's main library."""
    record: Record | None
    """The union catalogue's record of the ISBN, when the network has one."""
    price_fen: int
    """What the budget would be charged."""
    terms: PurchaseTerms
    holdings: list[Holding]
    """Where the network has copies, libraries with one available now first."""
    reasons: list[DomainError]

    @property
    def approvable(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int


async def check_isbn(
    reader: Reader, bookstore_id: int, isbn: str, *, now: datetime, policy: PurchasePolicy, credit_check: CreditCheck
) -> IsbnCheck:
    """Whether the library would buy this ISBN from this bookstore for this reader now, and every reason it would
    not. `not_in_stock` when the shop's feed does not list it (its price and details come from there)."""
    return await evaluate(
        reader, await stock_item(bookstore_id, isbn), now=now, policy=policy, credit_check=credit_check
    )


def month_of(now: datetime, policy: PurchasePolicy) -> Month:
    day = policy.network_time.day(now)
    return Month(day.year, day.month)


async def evaluate(
    reader: Reader,
    item: StockItem,
    *,
    now: datetime,
    policy: PurchasePolicy,
    credit_check: CreditCheck,
    request_id: int | None = None,
) -> IsbnCheck:
    """The check of one stock row (its bookstore loaded) for one reader; the approval runs it under the card's lock.
    `request_id`: the online request being approved, which the quota does not count against itself."""
    bookstore = item.bookstore
    terms = await policy.terms_for(bookstore.main_library_id)
    when = month_of(now, policy)
    price = discounted(item.list_price_fen, bookstore.discount_bp)
    record = await Record.get_or_none(isbn13=item.isbn13)
    holdings = await _holdings(record)
    reasons: list[DomainError] = []
    copies = sum(h.copies for h in holdings)
    if copies >= terms.holdings_threshold:
        where = [{"library": h.library, "code": h.code, "copies": h.copies, "available": h.available} for h in holdings]
        reasons.append(HeldEnough(copies=copies, threshold=terms.holdings_threshold, where=where))
    if item.list_price_fen > terms.price_cap_fen:
        reasons.append(PriceOverCap(price_fen=item.list_price_fen, cap_fen=terms.price_cap_fen))
    if item.year < (since := when.year - terms.max_age_years):
        reasons.append(TooOld(year=item.year, since=since))
    reasons += _excluded(item, record, terms)
    reasons += await _quota(reader.id, when, terms, request_id)
    reasons += await _barred(reader, item, now=now, policy=policy, credit_check=credit_check)
    if (left := await budgets.left_fen(bookstore.main_library_id, when.year, when.month)) < price:
        reasons.append(budgets.short(left, price))
    return IsbnCheck(item, record, price, terms, holdings, reasons)


async def _holdings(record: Record | None) -> list[Holding]:
    if record is None:
        return []
    rows = (
        await Copy.filter(record_id=record.id)
        .exclude(status__in=_GONE)
        .values("status", "current_library__name", "current_library__code")
    )
    by_library: dict[str, Holding] = {}
    for row in rows:
        code = row["current_library__code"]
        held = by_library.get(code) or Holding(row["current_library__name"], code, 0, 0)
        available = CopyStatus(row["status"]) is CopyStatus.AVAILABLE
        by_library[code] = Holding(held.library, code, held.copies + 1, held.available + available)
    return sorted(by_library.values(), key=lambda h: (h.available == 0, -h.available, h.library))


def _excluded(item: StockItem, record: Record | None, terms: PurchaseTerms) -> list[DomainError]:
    """One reason per way the book is of a kind not bought: its CLC class, its item type, a word of its title."""
    reasons: list[DomainError] = []
    clc = fold(item.clc_class or (record.clc_class if record else ""))
    if clc and (prefix := next((p for p in terms.excluded_classes if clc.startswith(p)), None)):
        reasons.append(ExcludedKind(kind="class", matched=prefix.upper()))
    if item.item_type in terms.excluded_item_types:
        reasons.append(ExcludedKind(kind="item_type", matched=item.item_type.value))
    title = fold(item.title)
    if word := next((w for w in terms.excluded_keywords if w in title), None):
        reasons.append(ExcludedKind(kind="keyword", matched=word))
    return reasons


# What a reader has chosen, as the quota counts it, in one round trip: bought in the shop or online this month (not
# cancelled), and requests this month not yet bought (waiting, approved or on their way); not yet returned, a bought
# book whose loan is open, a request not yet bought, and one bought and waiting on the hold shelf for them (until the
# hold expires uncollected: the book then joins the collection). $4 is the request being approved, counted by none.
_QUOTA = """
SELECT
  (SELECT COUNT(*) FROM purchase p
    WHERE p.reader_id = $1 AND p.state <> $5 AND p.year = $2 AND p.month = $3)
  + (SELECT COUNT(*) FROM purchase_request r
    WHERE r.reader_id = $1 AND r.state = ANY($6) AND r.year = $2 AND r.month = $3 AND r.id IS DISTINCT FROM $4)
  AS used,
  (SELECT COUNT(*) FROM purchase p JOIN loan l ON l.id = p.loan_id
    WHERE p.reader_id = $1 AND p.state <> $5 AND l.returned_at IS NULL)
  + (SELECT COUNT(*) FROM purchase_request r
    WHERE r.reader_id = $1 AND r.id IS DISTINCT FROM $4 AND (r.state = ANY($6) OR (r.state = $7 AND EXISTS (
      SELECT 1 FROM purchase p JOIN hold h ON h.copy_id = p.copy_id
      WHERE p.id = r.purchase_id AND h.reader_id = $1 AND h.status = $8))))
  AS unreturned
"""
_UNBOUGHT = [RequestState.PENDING.value, RequestState.APPROVED.value, RequestState.SHIPPED.value]


async def _quota(reader_id: int, when: Month, terms: PurchaseTerms, request_id: int | None) -> list[DomainError]:
    """Books bought in the shop and asked for online count alike: an open request counts from the moment it is
    made, so a reader cannot pass the quota by asking for more while staff decide."""
    params = [
        reader_id,
        when.year,
        when.month,
        request_id,
        PurchaseState.RELEASED.value,
        _UNBOUGHT,
        RequestState.ARRIVED.value,
        HoldStatus.READY.value,
    ]
    counts = (await connections.get("default").execute_query_dict(_QUOTA, params))[0]
    reasons: list[DomainError] = []
    if (used := int(counts["used"])) >= terms.monthly_quota:
        reasons.append(MonthlyQuotaUsed(used=used, quota=terms.monthly_quota))
    if (unreturned := int(counts["unreturned"])) >= terms.max_unreturned:
        reasons.append(TooManyUnreturned(unreturned=unreturned, limit=terms.max_unreturned))
    return reasons


async def _barred(
    reader: Reader, item: StockItem, *, now: datetime, policy: PurchasePolicy, credit_check: CreditCheck
) -> list[DomainError]:
    """Checkout's own refusals of this loan, as one reason: the approval lends the book by checkout, at the desk of
    the shop's main library where the new copy is available, under the terms of its item type there, so what the
    check passes checkout passes too."""
    current = await standing(reader.id, now)
    category = rules.category_of(reader, policy.network_time.day(now))
    attempt = CheckoutAttempt(
        reader_id=reader.id,
        copy_status=CopyStatus.AVAILABLE,
        held_for=None,
        standing=current,
        terms=await rules.terms_for(category, item.item_type, item.bookstore.main_library),
        deposit_free=await credit_check.deposit_free(reader, current),
        self_service=False,
        barred=await credit_check.refusal(reader),
    )
    refusals = checkout_refusals(attempt)
    return [ReaderBarred.of(refusals)] if refusals else []
