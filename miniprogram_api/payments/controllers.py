"""Paying by WeChat Pay: a reader's order and its state, WeChat Pay's payment and refund notices, and the daily
reconciliation with WeChat Pay's bill for staff."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter

from backend.accounts.errors import RoleTooLow
from backend.accounts.models import Reader, StaffUser
from backend.errors import DomainError
from backend.money import reconciliation, wechat_pay
from backend.money.errors import (
    ChargeInPayment,
    ChargeNotFound,
    ChargeSettled,
    DepositHeld,
    NothingToPay,
    NotPayer,
    PaymentNotFound,
    TooManyLines,
)
from backend.money.wechat_pay import PAYMENT_NOTICE_PATH, REFUND_NOTICE_PATH, WeChatPaySetup
from backend.wechatpay.errors import (
    NoticeNotGenuine,
    NoticeUnreadable,
    OrderAlreadyPaid,
    WeChatPayNotConfigured,
    WeChatPayRejected,
    WeChatPayUnavailable,
)
from backend.wechatpay.gateway import OUT_TRADE_NO
from entrypoints.bootstrap import Dependencies
from miniprogram_api.client_address import client_address
from miniprogram_api.deps import BEARER, READER_PROBLEMS, STAFF_PROBLEMS
from miniprogram_api.errors import problems, status_of
from miniprogram_api.payments.schemas import (
    PaymentIn,
    PaymentOut,
    PaymentStartedOut,
    ReconciledDayPage,
    ReconciliationOut,
    ReconciliationPage,
)
from miniprogram_api.schemas import Day, Offset, Page, StaffLimit, matching_param

log = logging.getLogger(__name__)

OutTradeNo = Annotated[str, matching_param(OUT_TRADE_NO.pattern, "Our order number of the payment")]
Paid = Annotated[bool, Parameter(description="The reader says they paid: WeChat Pay is asked if the order is open")]
_WECHATPAY = (WeChatPayNotConfigured, WeChatPayUnavailable, WeChatPayRejected)
_START = (*READER_PROBLEMS, *_WECHATPAY, NothingToPay, TooManyLines, ChargeNotFound, NotPayer, ChargeInPayment)
_NOTICE_REFUSALS = (NoticeNotGenuine, NoticeUnreadable, WeChatPayUnavailable)


def provide_wechatpay(deps: Dependencies) -> WeChatPaySetup:
    """WeChat Pay, or `payments_unavailable` when this installation has no merchant."""
    if deps.wechatpay is None:
        raise WeChatPayNotConfigured()
    return deps.wechatpay


_WITH_WECHATPAY = {"wechatpay": Provide(provide_wechatpay, sync_to_thread=False)}


class PaymentController(Controller):
    path = "/readers/me/payments"
    tags = ["Payments"]
    security = BEARER
    dependencies = _WITH_WECHATPAY

    @post("", responses=problems(*_START, ChargeSettled, DepositHeld, OrderAlreadyPaid))
    async def start(
        self, deps: Dependencies, wechatpay: WeChatPaySetup, reader: Reader, data: PaymentIn
    ) -> PaymentStartedOut:
        """Pay chosen lines of my account (mine and my children's), or `all` of them, and the deposit if asked, in
        one WeChat Pay order: the server works out the amount. Hand `request_payment` to `wx.requestPayment`. The
        lines are held by the order until it is paid or expires (`charge_in_payment` for another order of them); the
        same lines asked for again give the same order (`wechatpay_order_paid` once it is paid). `wechatpay_unavailable`
        (503): nothing was charged, try again later."""
        started = await wechat_pay.start_payment(
            wechatpay,
            reader,
            data.charge_ids,
            everything=data.all,
            deposit=data.deposit,
            now=deps.clock.now(),
            policy=deps.money_policy,
            bus=deps.bus,
        )
        return PaymentStartedOut.of(started)

    @get("/{out_trade_no:str}", responses=problems(*READER_PROBLEMS, *_WECHATPAY, PaymentNotFound))
    async def payment(
        self,
        deps: Dependencies,
        wechatpay: WeChatPaySetup,
        reader: Reader,
        out_trade_no: OutTradeNo,
        paid: Paid = False,
    ) -> PaymentOut:
        """One of my orders and where it stands (anyone else's is not found). With `paid=true` (the "I have paid"
        button), an order still open is checked with WeChat Pay at once, and settled if WeChat Pay took the money."""
        payment = await wechat_pay.payer_payment(reader, out_trade_no)
        if paid:
            payment = await wechat_pay.check_payment(wechatpay.gateway, payment, deps.clock.now(), bus=deps.bus)
        return PaymentOut.of(payment)


class WeChatPayNoticeController(Controller):
    """WeChat Pay's notices, signed by WeChat Pay instead of sent with a token. Answered as WeChat Pay expects: 204,
    or a failure as {"code": "FAIL", "message": ...}, which WeChat Pay sends again later."""

    path = ""
    include_in_schema = False  # WeChat Pay's, not the mini-program's
    dependencies = _WITH_WECHATPAY

    @post(PAYMENT_NOTICE_PATH, status_code=200)  # answered 204: the Response says so
    async def payment_notice(
        self, request: Request[Any, Any, Any], deps: Dependencies, wechatpay: WeChatPaySetup
    ) -> Response[Any]:
        """A payment: its order is settled once, however often and in whatever order notices come."""
        try:
            notice = await wechatpay.gateway.parse_payment_notice(request.headers, await request.body())
        except _NOTICE_REFUSALS as exc:
            return await _refused(request, deps, exc)
        await wechat_pay.settle_if_paid(notice.transaction, deps.clock.now(), bus=deps.bus)
        return Response(None, status_code=204)

    @post(REFUND_NOTICE_PATH, status_code=200)
    async def refund_notice(
        self, request: Request[Any, Any, Any], deps: Dependencies, wechatpay: WeChatPaySetup
    ) -> Response[Any]:
        """A refund ended: it is recorded as returned or failed, once."""
        try:
            notice = await wechatpay.gateway.parse_refund_notice(request.headers, await request.body())
        except _NOTICE_REFUSALS as exc:
            return await _refused(request, deps, exc)
        await wechat_pay.finish_refund(notice.refund, deps.clock.now())
        return Response(None, status_code=204)


async def _refused(request: Request[Any, Any, Any], deps: Dependencies, exc: DomainError) -> Response[Any]:
    # A forged or replayed notice changes nothing; staff see forged ones among the payment anomalies.
    sender = client_address(request.scope, deps.settings.server.trusted_proxies)
    log.warning("WeChat Pay notice at %s refused (%s) from %s", request.url.path, exc.code, sender)
    if isinstance(exc, NoticeNotGenuine):
        await wechat_pay.forged_notice(sender, deps.clock.now())
    return Response(
        {"code": "FAIL", "message": exc.message("en")}, status_code=status_of(type(exc)), media_type="application/json"
    )


class StaffReconciliationController(Controller):
    path = "/staff/payment-reconciliations"
    tags = ["Staff: payments"]
    security = BEARER

    @get("", responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def reconciliations(self, staff: StaffUser, limit: StaffLimit = 50, offset: Offset = 0) -> ReconciliationPage:
        """Days reconciled with WeChat Pay's trade bill, latest first: each day's run and how many differences it
        found between the bill and our payments and refunds (network administrators)."""
        found, total = await reconciliation.reconciliations(staff, limit=limit, offset=offset)
        return Page.of([ReconciliationOut.of(run) for run in found], total, limit, offset)

    @get("/differences", responses=problems(*STAFF_PROBLEMS, RoleTooLow))
    async def differences(
        self,
        staff: StaffUser,
        day: Annotated[Day, Parameter(description="WeChat Pay's day (China time)")],
        limit: StaffLimit = 50,
        offset: Offset = 0,
    ) -> ReconciledDayPage:
        """Where WeChat Pay's bill of a day and our records differ: an order paid at WeChat Pay we do not have, one of
        ours missing from the bill, amounts that differ, and the same for refunds (network administrators)."""
        found = await reconciliation.reconciled_day(staff, day, limit=limit, offset=offset)
        return ReconciledDayPage.seen(found, limit, offset)
