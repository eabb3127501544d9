"""Money: what readers owe on their cards and their children's, their deposit and receipts; at desks, a reader's
account, assessing a lost or damaged copy, taking payments, waivers, refunds and deposits; the cash and network
reports and the payment anomalies. (Paying by WeChat Pay is the payments area's.)"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import Parameter

from backend.accounts.errors import CardNumberInvalid, CardReportedLost, ReaderCardNotFound, RoleTooLow
from backend.accounts.models import Reader, StaffUser
from backend.accounts.services import get_child
from backend.accounts.staff import authority_scope
from backend.catalog.errors import CopyNotFound
from backend.circulation import services as circulation
from backend.circulation.errors import CopyNotOnLoan
from backend.counter.models import LookupAction
from backend.counter.services import reader_at_desk
from backend.money import desk, ledger, payments, reports
from backend.money.errors import (
    ChargeExists,
    ChargeInPayment,
    ChargeNotFound,
    ChargeSettled,
    DepositAtDesk,
    DepositHeld,
    DepositInPayment,
    DepositNotRefundable,
    NoDeposit,
    NotAssessable,
    NotRefundable,
    OutsideMoneyScope,
    OverWaiverLimit,
    PaymentNotFound,
    ReasonRequired,
    SettlementNotFound,
)
from backend.money.models import Channel
from backend.money.payments import MAX_LINES
from backend.network.errors import LibraryNotFound, OutsideScope
from backend.network.models import Library
from backend.network.services import library_in_scope
from backend.ratelimits import RateLimited
from backend.spreadsheets import csv_document
from entrypoints.bootstrap import Dependencies
from miniprogram_api.catalog.controllers import BarcodeParam
from miniprogram_api.deps import BEARER, HOLDER_PROBLEMS, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems
from miniprogram_api.money import reads
from miniprogram_api.money.schemas import (
    CASH_REPORT_HEADER,
    AccountOut,
    AnomalyOut,
    AnomalyPage,
    CardRefOut,
    CashReportOut,
    ChargeLineOut,
    ChargeLinePage,
    ChargeOut,
    DamageIn,
    DepositLineOut,
    DepositLinePage,
    DepositRefundOut,
    DeskDepositIn,
    DeskPaymentIn,
    LineStatus,
    NetworkReportOut,
    ReceiptOut,
    ReceiptPage,
    RefundIn,
    RefundOut,
    SettlementOut,
    StaffAccountOut,
    StaffChargeLineOut,
    StaffChargeLinePage,
    WaiverIn,
    cards_of,
    cash_report_rows,
)
from miniprogram_api.network.schemas import LibraryCodeParam
from miniprogram_api.schemas import (
    INT32_MAX,
    BigRowId,
    CardNumber,
    Day,
    Offset,
    Page,
    ReaderLimit,
    StaffLimit,
    matching_param,
)

_CARD = (CardNumberInvalid, ReaderCardNotFound, CardReportedLost)
_DESK = (*STAFF_PROBLEMS, RoleTooLow)
_SETTLE = (*_DESK, ChargeNotFound, ChargeSettled, ChargeInPayment)
_REPORT = (*STAFF_PROBLEMS, LibraryNotFound, OutsideScope)
# Ours are 31 characters; WeChat Pay's rule for any merchant's is 6 to 32 of these.
OutTradeNo = Annotated[str, matching_param(r"[A-Za-z0-9_\-|*]{6,32}", "Our order number of the payment")]
Status = Annotated[LineStatus, Parameter(description="`outstanding`: only lines still owed; `all`: settled ones too")]
OptionalChildId = Annotated[
    int | None, Parameter(ge=1, le=INT32_MAX, description="Only this child's card (a child of mine)")
]
OptionalDay = Annotated[Day | None, Parameter(description="A day of the network's calendar; left out: today")]
ReportDays = Annotated[int, Parameter(ge=1, le=366, description="How many days from `start`, 1 to 366")]


class MoneyController(Controller):
    path = "/readers/me"
    tags = ["Money"]
    security = BEARER

    @get("/account", responses=problems(*READER_PROBLEMS))
    async def account(self, deps: Dependencies, reader: Reader) -> AccountOut:
        """What I owe, in all and on each card: mine and my children's, which I pay for. A card owing more than
        `owing_limit_fen` cannot borrow or place holds until it is paid (`fees_owed`). My deposit, and whether it
        could be given back now. The first lines still owed, to choose what to pay."""
        view = await reads.account_view(reader, await ledger.children_of(reader), deps.money_policy)
        outstanding = await ledger.charge_lines(view.card_ids, outstanding_only=True, limit=MAX_LINES, offset=0)
        return AccountOut.of(view, deps.money_policy, outstanding)

    @get("/account/lines", responses=problems(*HOLDER_PROBLEMS))
    async def lines(
        self,
        reader: Reader,
        status: Status = "outstanding",
        child_id: OptionalChildId = None,
        limit: ReaderLimit = 20,
        offset: Offset = 0,
    ) -> ChargeLinePage:
        """The charges on my card and my children's (or one child's), newest first: each with what it came from (the
        loan, or another source), what is settled (how, and why if waived) and what is still owed, and whether a
        payment in progress holds it."""
        cards = [await get_child(reader, child_id)] if child_id else [reader, *await ledger.children_of(reader)]
        refs = {card.id: CardRefOut.of(card) for card in cards}
        found, total = await ledger.charge_lines(
            list(refs), outstanding_only=status == "outstanding", limit=limit, offset=offset
        )
        return Page.of([ChargeLineOut.of(line, refs) for line in found], total, limit, offset)

    @get("/account/deposits", responses=problems(*READER_PROBLEMS))
    async def deposits(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> DepositLinePage:
        """My deposit paid in and given back, the latest first: its receipts."""
        found, total = await ledger.deposit_lines(reader.id, limit=limit, offset=offset)
        return Page.of([DepositLineOut.of(line) for line in found], total, limit, offset)

    @post("/deposit-refund", responses=problems(*READER_PROBLEMS, NoDeposit, DepositNotRefundable, DepositAtDesk))
    async def refund_deposit(self, deps: Dependencies, reader: Reader) -> DepositRefundOut:
        """Give my deposit back, as when I stop borrowing on it: only with nothing on loan and nothing owed on my card
        (`deposit_not_refundable`). What I paid by WeChat Pay is refunded to it now (I can no longer borrow on it);
        what I paid at a desk I collect at any library's desk (`at_desk_fen`; `deposit_at_desk` when that is all I
        hold). Asked twice at once, it is given back once (`no_deposit`)."""
        return DepositRefundOut.of(await desk.refund_my_deposit(reader, deps.clock.now()))

    @get("/receipts", responses=problems(*READER_PROBLEMS))
    async def receipts(self, reader: Reader, limit: ReaderLimit = 20, offset: Offset = 0) -> ReceiptPage:
        """The payments I made by WeChat Pay, the latest first, with what each paid for."""
        found, total = await payments.receipts(reader, limit=limit, offset=offset)
        return Page.of([ReceiptOut.of(receipt) for receipt in found], total, limit, offset)

    @get("/receipts/{out_trade_no:str}", responses=problems(*READER_PROBLEMS, PaymentNotFound))
    async def receipt(self, reader: Reader, out_trade_no: OutTradeNo) -> ReceiptOut:
        """One of my payments, by our order number (anyone else's is not found)."""
        return ReceiptOut.of(await payments.receipt(reader, out_trade_no))


class StaffMoneyController(Controller):
    path = "/staff"
    tags = ["Staff: money"]
    security = BEARER

    @get("/readers/{card_number:str}/account", responses=problems(*STAFF_PROBLEMS, *_CARD, RateLimited))
    async def account(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, status: Status = "outstanding"
    ) -> StaffAccountOut:
        """A reader's account as they see it (their children's cards included: a guardian pays for them), with the
        first lines asked for (`status`), each with what settled it and what of that may still be refunded; the rest
        are at `.../account/lines`. Logged as a look-up of the reader and the children; a reader outside my libraries
        spends one of my hourly look-ups of such readers."""
        seen, page = await _desk_lines(deps, staff, card_number, status, MAX_LINES, 0)
        return StaffAccountOut.of(seen.reader, deps.keys, seen.view, deps.money_policy, page)

    @get("/readers/{card_number:str}/account/lines", responses=problems(*STAFF_PROBLEMS, *_CARD, RateLimited))
    async def account_lines(
        self,
        deps: Dependencies,
        staff: StaffUser,
        card_number: CardNumber,
        status: Status = "outstanding",
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> StaffChargeLinePage:
        """A page of a reader's account lines (their children's cards included), newest first, each with what settled
        it. Logged as a look-up, as the account is."""
        _, page = await _desk_lines(deps, staff, card_number, status, limit, offset)
        return page

    @post(
        "/readers/{card_number:str}/charges",
        responses=problems(*_DESK, *_CARD, RateLimited, CopyNotFound, OutsideMoneyScope, NotAssessable, ChargeExists),
    )
    async def assess(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, data: DamageIn
    ) -> list[ChargeOut]:
        """Charge a reader for a copy they damaged, on their latest loan of it (`not_assessable` if they never
        borrowed it): its replacement price (the network's default when none is catalogued) and the processing fee,
        owed to the copy's library, which must be one of mine. Once per loan (`charge_exists`). A lost copy is
        declared lost instead (`POST /staff/copies/{barcode}/lost`)."""
        reader = await _reader(deps, staff, card_number)
        charges = await desk.assess_damage(staff, reader, data.barcode, data.note, deps.clock.now(), deps.money_policy)
        return [ChargeOut.of(charge) for charge in charges]

    @post(
        "/copies/{barcode:str}/lost",
        responses=problems(*_DESK, CopyNotFound, CopyNotOnLoan, OutsideScope, ChargeExists),
    )
    async def lost(self, deps: Dependencies, staff: StaffUser, barcode: BarcodeParam) -> list[ChargeOut]:
        """Declare a copy on loan lost, for a loan made at one of my libraries: the loan ends (the reader no longer
        has it on loan), the copy is marked lost, and the reader is charged its replacement price and the
        processing fee, owed to the copy's library. Answers what the loan was charged."""
        loan = await circulation.declare_lost(staff, barcode, deps.clock.now(), deps.bus)
        return [ChargeOut.of(charge) for charge in await ledger.loan_charges(loan.id)]

    @post("/charges/{charge_id:int}/desk-payments", responses=problems(*_SETTLE))
    async def pay(
        self, deps: Dependencies, staff: StaffUser, charge_id: BigRowId, data: DeskPaymentIn
    ) -> SettlementOut:
        """Record that the reader paid what the charge still comes to here, in cash or by card (any desk takes any
        card's payment). A card that no longer owes more than the limit may borrow again at once."""
        settlement = await desk.pay_at_desk(staff, charge_id, Channel(data.channel), deps.clock.now(), deps.bus)
        return SettlementOut.seen(await ledger.settlement_seen(settlement.id))

    @post(
        "/charges/{charge_id:int}/waivers",
        responses=problems(*_SETTLE, OutsideMoneyScope, OverWaiverLimit, ReasonRequired),
    )
    async def waive(self, deps: Dependencies, staff: StaffUser, charge_id: BigRowId, data: WaiverIn) -> SettlementOut:
        """Forgo what the charge still comes to, with the reason the reader is shown: a charge owed to one of my
        libraries, up to my role's limit (librarians, library and network administrators each have one)."""
        settlement = await desk.waive(staff, charge_id, data.reason, deps.clock.now(), deps.money_policy)
        return SettlementOut.seen(await ledger.settlement_seen(settlement.id))

    @post(
        "/settlements/{settlement_id:int}/refunds",
        responses=problems(
            *_DESK, SettlementNotFound, OutsideMoneyScope, NotRefundable, OverWaiverLimit, ReasonRequired
        ),
    )
    async def refund(self, deps: Dependencies, staff: StaffUser, settlement_id: BigRowId, data: RefundIn) -> RefundOut:
        """Give back money taken for a charge (all of it not yet refunded, or `amount_fen` of it), with the reason:
        within my libraries and my role's limit. Taken at a desk, it is handed back here (`succeeded`); taken by
        WeChat Pay, it is returned by WeChat Pay (`pending` until then). The charge stays settled."""
        found = await desk.refund(
            staff, settlement_id, data.reason, deps.clock.now(), deps.money_policy, amount_fen=data.amount_fen
        )
        return RefundOut.of(found)

    @post(
        "/readers/{card_number:str}/deposits",
        responses=problems(*_DESK, *_CARD, RateLimited, DepositHeld, DepositInPayment),
    )
    async def deposit(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, data: DeskDepositIn
    ) -> DepositLineOut:
        """Take the network's deposit (what is missing of it) in cash or by card: the reader may then borrow as their
        credit tier allows even with too little credit for deposit-free borrowing."""
        reader = await _reader(deps, staff, card_number)
        line = await desk.pay_deposit_at_desk(staff, reader, Channel(data.channel), deps.clock.now(), deps.money_policy)
        return DepositLineOut.of(line)

    @post(
        "/readers/{card_number:str}/deposit-refunds",
        responses=problems(
            *_DESK, *_CARD, RateLimited, OutsideMoneyScope, OverWaiverLimit, NoDeposit, DepositNotRefundable
        ),
    )
    async def refund_deposit(
        self, deps: Dependencies, staff: StaffUser, card_number: CardNumber, data: DeskDepositIn
    ) -> DepositRefundOut:
        """Give the reader's whole deposit back, as when the card is closed: what they paid by WeChat Pay is refunded
        to it by WeChat Pay (`pending` refunds), the rest here in cash or by card (`channel`). Only with nothing on
        loan and nothing owed on it, for a reader of one of my libraries, up to my role's limit."""
        reader = await _reader(deps, staff, card_number)
        back = await desk.refund_deposit(staff, reader, Channel(data.channel), deps.clock.now(), deps.money_policy)
        return DepositRefundOut.of(back)

    @get("/libraries/{code:str}/cash-report", responses=problems(*_REPORT))
    async def cash_report(
        self, deps: Dependencies, staff: StaffUser, code: LibraryCodeParam, day: OptionalDay = None
    ) -> CashReportOut:
        """What one of my libraries' desks took (charges and deposits, cash and card), waived and gave back on one day
        of the network's calendar, and each channel's net: what the till and the card terminal should show."""
        library, report = await _cash_report(deps, staff, code, day)
        return CashReportOut.of(report, library)

    @get("/libraries/{code:str}/cash-report.csv", media_type="text/csv", responses=problems(*_REPORT))
    async def cash_report_csv(
        self, deps: Dependencies, staff: StaffUser, code: LibraryCodeParam, day: OptionalDay = None
    ) -> Response[str]:
        """The same day's cash report as a CSV file (amounts in fen, and in yuan beside them)."""
        library, report = await _cash_report(deps, staff, code, day)
        return Response(
            csv_document(CASH_REPORT_HEADER, cash_report_rows(report)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="cash-{library.code}-{report.day}.csv"'},
        )

    @get("/money-report", responses=problems(*_DESK))
    async def network_report(
        self, deps: Dependencies, staff: StaffUser, start: OptionalDay = None, days: ReportDays = 1
    ) -> NetworkReportOut:
        """The network's money over `days` whole days of its calendar from `start`: taken by kind of charge and
        channel (waivers as channel `waiver`), refunded, and deposits paid in and given back (network
        administrators)."""
        first = start or deps.network_time.day(deps.clock.now())
        end = first + timedelta(days=days - 1)
        return NetworkReportOut.of(await reports.network_report(staff, first, end, deps.network_time))

    @get("/payment-anomalies", responses=problems(*_DESK))
    async def anomalies(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> AnomalyPage:
        """Payment facts that fitted no order of ours and changed nothing, the latest first: a payment for an order we
        never made, of another amount than the order's, a second payment of one order, or a transaction id that cannot
        be the order's (network
        administrators: to look into with WeChat Pay and give back what is owed)."""
        found, total = await payments.anomalies(staff, limit=limit, offset=offset)
        return Page.of([AnomalyOut.of(anomaly) for anomaly in found], total, limit, offset)


async def _reader(deps: Dependencies, staff: StaffUser, card_number: str) -> Reader:
    """The reader a desk acts on, looked up as every desk look-up is (logged; one outside my libraries spends one of
    my hourly look-ups of such readers)."""
    at = await reader_at_desk(
        staff, card_number, LookupAction.VERIFY, keys=deps.keys, rate_limits=deps.rate_limits, now=deps.clock.now()
    )
    return at.reader


async def _cash_report(
    deps: Dependencies, staff: StaffUser, code: str, day: date | None
) -> tuple[Library, reports.CashReport]:
    library = await library_in_scope(code, authority_scope(staff))
    report = await reports.daily_cash_report(
        library.id, day or deps.network_time.day(deps.clock.now()), deps.network_time
    )
    return library, report


async def _desk_lines(
    deps: Dependencies, staff: StaffUser, card_number: str, status: str, limit: int, offset: int
) -> tuple[reads.DeskAccount, StaffChargeLinePage]:
    seen = await reads.desk_account(
        staff,
        card_number,
        keys=deps.keys,
        rate_limits=deps.rate_limits,
        now=deps.clock.now(),
        policy=deps.money_policy,
        outstanding_only=status == "outstanding",
        limit=limit,
        offset=offset,
    )
    cards = cards_of(seen.view)
    found, total = seen.lines
    lines = [StaffChargeLineOut.seen(line, cards, seen.history[line.charge.id]) for line in found]
    return seen, Page.of(lines, total, limit, offset)
