"""A reader's money as readers and desks see it, the money reports, and what desks send. Every amount is integer fen
(100 to a yuan), computed by the server: a client never sends one, but for the part of a payment a desk gives back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from backend.accounts.models import Reader, ReaderType
from backend.crypto import Keys
from backend.money.desk import DepositRefund
from backend.money.errors import yuan
from backend.money.ledger import ChargeLine, SettlementSeen
from backend.money.models import (
    AnomalyKind,
    Channel,
    Charge,
    ChargeKind,
    DepositKind,
    DepositLine,
    PaymentAnomaly,
    PaymentLine,
    Refund,
    RefundState,
    Settlement,
    SettlementKind,
)
from backend.money.payments import MAX_LINES, Receipt
from backend.money.policy import MoneyPolicy
from backend.money.reports import CashReport, NetworkReport, Total
from backend.network.models import Library
from miniprogram_api.booklists.schemas import LibraryRefOut
from miniprogram_api.counter.schemas import ReaderSummaryOut
from miniprogram_api.money.reads import AccountView, CardMoney
from miniprogram_api.schemas import INT32_MAX, Page, named, text

LineStatus = Literal["outstanding", "all"]
DeskChannel = Literal["desk_cash", "desk_card"]
"""How money changes hands at a desk: cash, or a bank card on the desk's terminal."""
Reason = Annotated[str, text(200, min_length=1)]


class CardRefOut(msgspec.Struct):
    card_number: str
    name: str
    child_id: int | None
    """A child's card, paid for by its guardian: its id under `/readers/me/children/{child_id}`; null: the holder's
    own card."""

    @classmethod
    def of(cls, card: Reader) -> CardRefOut:
        return cls(card.card_number, card.name, card.id if card.reader_type is ReaderType.CHILD else None)


Cards = Mapping[int, CardRefOut]


def cards_of(view: AccountView) -> dict[int, CardRefOut]:
    """The account's cards by id, to name the card each line is on."""
    return {money.card.id: CardRefOut.of(money.card) for money in view.cards}


class LoanRefOut(msgspec.Struct):
    """The loan a charge came from."""

    id: int
    title: str
    barcode: str
    checked_out_at: datetime
    due_at: datetime
    returned_at: datetime | None


class SettledByOut(msgspec.Struct):
    """Something that settled (part of) a charge, as its payer sees it."""

    kind: SettlementKind
    amount_fen: int
    reason: str | None
    """Why it was waived (a waiver); null for money taken."""
    created_at: datetime

    @classmethod
    def of(cls, settlement: Settlement) -> SettledByOut:
        waived = settlement.kind is SettlementKind.WAIVER
        return cls(settlement.kind, settlement.amount_fen, settlement.note if waived else None, settlement.created_at)


class ChargeLineOut(msgspec.Struct):
    """A charge on a card and what it still comes to."""

    id: int
    kind: ChargeKind
    amount_fen: int
    settled_fen: int
    """Paid, or waived."""
    outstanding_fen: int
    in_payment: bool
    """An open WeChat Pay order holds it: it can be neither paid again nor taken at a desk until that order is paid
    or closed."""
    card: CardRefOut | None
    """The card it is on: the holder's, or a child's."""
    loan: LoanRefOut | None
    """The loan it came from (an overdue return, a lost or damaged copy), if any."""
    source: str
    """What else it came from, e.g. `delivery-order:123`."""
    library: LibraryRefOut
    """The library it is owed to: the lending library for an overdue return, the copy's own library for a lost or
    damaged copy."""
    note: str
    """What the librarian who assessed it wrote."""
    created_at: datetime
    settled_by: list[SettledByOut]
    """What settled it, the first first: paid (how), or waived (why)."""

    @classmethod
    def of(cls, line: ChargeLine, cards: Cards) -> ChargeLineOut:
        charge = line.charge
        return cls(
            id=charge.id,
            kind=charge.kind,
            amount_fen=charge.amount_fen,
            settled_fen=line.settled_fen,
            outstanding_fen=line.outstanding_fen,
            in_payment=line.in_payment,
            card=None if charge.reader_id is None else cards.get(charge.reader_id),
            loan=_loan(charge),
            source=charge.source,
            library=LibraryRefOut(charge.library.code, charge.library.name),
            note=charge.note,
            created_at=charge.created_at,
            settled_by=[SettledByOut.of(settlement) for settlement in line.settlements],
        )


def _loan(charge: Charge) -> LoanRefOut | None:
    loan = charge.loan
    if loan is None:
        return None
    return LoanRefOut(
        loan.id, loan.copy.record.title, loan.copy.barcode, loan.checked_out_at, loan.due_at, loan.returned_at
    )


ChargeLinePage = Annotated[Page[ChargeLineOut], named("ChargeLinePage")]


class CardAccountOut(msgspec.Struct):
    card: CardRefOut
    owed_fen: int
    deposit_fen: int
    """The deposit held on the card (refundable, not a payment of anything)."""
    borrowing_blocked: bool
    """It owes more than `owing_limit_fen`: borrowing and holds on it are refused (`fees_owed`) until it is paid."""

    @classmethod
    def of(cls, money: CardMoney) -> CardAccountOut:
        account = money.account
        return cls(CardRefOut.of(money.card), account.owed_fen, account.deposit_fen, money.borrowing_blocked)


class DepositOut(msgspec.Struct):
    held_fen: int
    required_fen: int
    """The network's deposit: held in full, it lets a reader whose credit is too low for deposit-free borrowing
    borrow as their credit tier allows."""
    refundable: bool
    """It could be given back now (at a desk, or when the card is closed): nothing on loan, nothing owed."""


class AccountSummaryOut(msgspec.Struct):
    owed_fen: int
    """On all the cards together."""
    owing_limit_fen: int
    """A card owing more than this cannot borrow or place holds until it is paid."""
    cards: list[CardAccountOut]
    """The holder's card first, then the children's cards they pay for."""
    deposit: DepositOut
    """The holder's deposit."""

    @classmethod
    def summary(cls, view: AccountView, policy: MoneyPolicy) -> dict[str, Any]:
        """The fields every view of an account shares."""
        return {
            "owed_fen": sum(money.account.owed_fen for money in view.cards),
            "owing_limit_fen": policy.owing_limit_fen,
            "cards": [CardAccountOut.of(money) for money in view.cards],
            "deposit": DepositOut(view.holder.account.deposit_fen, policy.deposit_fen, view.deposit_refundable),
        }


class AccountOut(AccountSummaryOut):
    """What I owe, on my card and my children's (I pay for theirs), and my deposit."""

    outstanding: ChargeLinePage
    """The lines still owed, newest first: the first 50 (as many as one payment takes), of `total`."""

    @classmethod
    def of(cls, view: AccountView, policy: MoneyPolicy, outstanding: tuple[list[ChargeLine], int]) -> AccountOut:
        cards = cards_of(view)
        lines, total = outstanding
        page = Page.of([ChargeLineOut.of(line, cards) for line in lines], total, MAX_LINES, 0)
        return cls(**cls.summary(view, policy), outstanding=page)


class SettlementOut(msgspec.Struct):
    """Money taken for a charge, or a waiver of it."""

    id: int
    kind: SettlementKind
    amount_fen: int
    refundable_fen: int
    """What may still be given back of it (`POST /staff/settlements/{id}/refunds`); 0 for a waiver."""
    library_code: str | None
    """The desk's library; null: paid by WeChat Pay."""
    staff_username: str | None
    out_trade_no: str | None
    """The WeChat Pay order that paid it."""
    note: str
    """A waiver's reason."""
    created_at: datetime

    @classmethod
    def seen(cls, seen: SettlementSeen) -> SettlementOut:
        settlement = seen.settlement
        return cls(
            id=settlement.id,
            kind=settlement.kind,
            amount_fen=settlement.amount_fen,
            refundable_fen=seen.refundable_fen,
            library_code=None if settlement.library is None else settlement.library.code,
            staff_username=None if settlement.staff is None else settlement.staff.username,
            out_trade_no=None if settlement.payment is None else settlement.payment.out_trade_no,
            note=settlement.note,
            created_at=settlement.created_at,
        )


class StaffChargeLineOut(ChargeLineOut):
    settlements: list[SettlementOut]
    """What settled it, the first first."""

    @classmethod
    def seen(cls, line: ChargeLine, cards: Cards, history: list[SettlementSeen]) -> StaffChargeLineOut:
        settlements = [SettlementOut.seen(seen) for seen in history]
        return cls(**msgspec.structs.asdict(ChargeLineOut.of(line, cards)), settlements=settlements)


StaffChargeLinePage = Annotated[Page[StaffChargeLineOut], named("StaffChargeLinePage")]


class StaffAccountOut(AccountSummaryOut):
    """A reader's money as a desk sees it: what the reader sees, and what settled each line."""

    reader: ReaderSummaryOut
    lines: StaffChargeLinePage
    """The lines asked for (`status`), newest first, each with what settled it."""

    @classmethod
    def of(
        cls, reader: Reader, keys: Keys, view: AccountView, policy: MoneyPolicy, lines: StaffChargeLinePage
    ) -> StaffAccountOut:
        return cls(**cls.summary(view, policy), reader=ReaderSummaryOut.of(reader, keys), lines=lines)


class ReceiptLineOut(msgspec.Struct):
    charge_id: int | None
    kind: ChargeKind | None
    """The charge's kind; null: the deposit."""
    amount_fen: int

    @classmethod
    def of(cls, line: PaymentLine) -> ReceiptLineOut:
        return cls(line.charge_id, None if line.charge is None else line.charge.kind, line.amount_fen)


class ReceiptOut(msgspec.Struct):
    """A payment I made by WeChat Pay, and what it paid for."""

    out_trade_no: str
    """Our order number, as WeChat Pay shows it in the payment's details."""
    transaction_id: str | None
    """WeChat Pay's number for the payment."""
    amount_fen: int
    paid_at: datetime | None
    lines: list[ReceiptLineOut]

    @classmethod
    def of(cls, receipt: Receipt) -> ReceiptOut:
        paid = receipt.payment
        lines = [ReceiptLineOut.of(line) for line in receipt.lines]
        return cls(paid.out_trade_no, paid.transaction_id, paid.amount_fen, paid.paid_at, lines)


ReceiptPage = Annotated[Page[ReceiptOut], named("ReceiptPage")]


class DamageIn(msgspec.Struct, forbid_unknown_fields=True):
    barcode: Annotated[str, text(32, min_length=1)]
    note: Annotated[str, text(200)] = ""
    """What happened, as the reader is shown it (the cover torn, water damage)."""


class ChargeOut(msgspec.Struct):
    id: int
    kind: ChargeKind
    amount_fen: int
    note: str
    created_at: datetime

    @classmethod
    def of(cls, charge: Charge) -> ChargeOut:
        return cls(charge.id, charge.kind, charge.amount_fen, charge.note, charge.created_at)


class DeskPaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: DeskChannel


class WaiverIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    """Why it is forgone, as the reader is shown it."""


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason
    amount_fen: Annotated[int, msgspec.Meta(ge=1, le=INT32_MAX)] | None = None
    """Part of what was taken; left out: all of it not yet refunded."""


class RefundOut(msgspec.Struct):
    id: int
    out_refund_no: str
    settlement_id: int | None
    channel: Channel
    amount_fen: int
    state: RefundState
    """`succeeded` at once at a desk; `pending` until WeChat Pay returns money it took."""
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            refund.id,
            refund.out_refund_no,
            refund.settlement_id,
            refund.channel,
            refund.amount_fen,
            refund.state,
            refund.reason,
            refund.created_at,
        )


class DeskDepositIn(msgspec.Struct, forbid_unknown_fields=True):
    channel: DeskChannel


class DepositLineOut(msgspec.Struct):
    id: int
    kind: DepositKind
    amount_fen: int
    channel: Channel
    created_at: datetime

    @classmethod
    def of(cls, line: DepositLine) -> DepositLineOut:
        return cls(line.id, line.kind, line.amount_fen, line.channel, line.created_at)


DepositLinePage = Annotated[Page[DepositLineOut], named("DepositLinePage")]


class DepositRefundOut(msgspec.Struct):
    """A deposit given back: the part paid by WeChat Pay is returned by WeChat Pay, the rest at a desk."""

    lines: list[DepositLineOut]
    """The deposit given back, one line per way it goes back: the card holds it no longer."""
    refunds: list[RefundOut]
    """The WeChat Pay refunds returning the part paid that way: `pending` until WeChat Pay returns the money (it
    shows in WeChat within days); one that fails leaves the deposit held, to be collected at a desk."""
    at_desk_fen: int
    """What is still held, paid at a desk: collected at any library's desk (0 when a desk gave it back)."""

    @classmethod
    def of(cls, back: DepositRefund) -> DepositRefundOut:
        return cls(
            [DepositLineOut.of(line) for line in back.lines],
            [RefundOut.of(refund) for refund in back.refunds],
            back.at_desk_fen,
        )


class TotalOut(msgspec.Struct):
    item: str
    """Daily: charges_paid, deposits_paid, waived, refunded, deposits_refunded. Network: the kind of charge, or
    deposits_paid and deposits_refunded."""
    channel: str
    """desk_cash, desk_card, wechat_pay, or waiver."""
    count: int
    amount_fen: int

    @classmethod
    def of(cls, total: Total) -> TotalOut:
        return cls(total.item, total.channel, total.count, total.amount_fen)


class NetOut(msgspec.Struct):
    channel: str
    amount_fen: int
    """Taken less given back: what the till (cash) or the card terminal shows for the day."""


class CashReportOut(msgspec.Struct):
    """What a library's desks took, waived and gave back on one day of the network's calendar."""

    library: LibraryRefOut
    day: date
    totals: list[TotalOut]
    net: list[NetOut]

    @classmethod
    def of(cls, report: CashReport, library: Library) -> CashReportOut:
        return cls(
            LibraryRefOut(library.code, library.name),
            report.day,
            [TotalOut.of(total) for total in report.totals],
            [NetOut(channel, amount) for channel, amount in sorted(report.net_fen.items())],
        )


CASH_REPORT_HEADER = ("item", "channel", "count", "amount_fen", "amount_yuan")


def cash_report_rows(report: CashReport) -> list[tuple[object, ...]]:
    """The report's totals, then each channel's net, as a spreadsheet's rows (yuan beside fen, for people)."""
    totals = [(t.item, t.channel, t.count, t.amount_fen, yuan(t.amount_fen)) for t in report.totals]
    net = [("net", channel, "", amount, _signed_yuan(amount)) for channel, amount in sorted(report.net_fen.items())]
    return [*totals, *net]


def _signed_yuan(fen: int) -> str:
    return f"-{yuan(-fen)}" if fen < 0 else yuan(fen)


class NetworkReportOut(msgspec.Struct):
    """The network's money over whole days of its calendar, both days included."""

    start: date
    end: date
    taken: list[TotalOut]
    """Settled, by kind of charge and channel (channel `waiver`: forgone, not taken)."""
    refunded: list[TotalOut]
    """Given back, by kind of charge and channel."""
    deposits: list[TotalOut]
    """Deposits paid in and given back, by channel: held for readers, not revenue."""

    @classmethod
    def of(cls, report: NetworkReport) -> NetworkReportOut:
        return cls(
            report.start,
            report.end,
            [TotalOut.of(t) for t in report.taken],
            [TotalOut.of(t) for t in report.refunded],
            [TotalOut.of(t) for t in report.deposits],
        )


class AnomalyOut(msgspec.Struct):
    """A payment fact that fitted no order of ours and changed nothing: for staff to look into with WeChat Pay."""

    id: int
    kind: AnomalyKind
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    """What WeChat Pay says was paid."""
    expected_fen: int | None
    """Our order's amount; null: no such order of ours."""
    created_at: datetime

    @classmethod
    def of(cls, anomaly: PaymentAnomaly) -> AnomalyOut:
        return cls(
            anomaly.id,
            anomaly.kind,
            anomaly.out_trade_no,
            anomaly.transaction_id,
            anomaly.amount_fen,
            anomaly.expected_fen,
            anomaly.created_at,
        )


AnomalyPage = Annotated[Page[AnomalyOut], named("PaymentAnomalyPage")]
