"""What can go wrong when WeChat Pay is asked something, or when something claims to come from it.

Every refusal keeps WeChat Pay's own code (`wechatpay_code`, e.g. ORDERPAID) for the log and for staff; readers see
only our code and message.
"""

from __future__ import annotations

from backend.errors import Conflict, DomainError, InvalidInput, NotAuthenticated, NotFound, UpstreamUnavailable


class WeChatPayError(DomainError):
    """An answer of WeChat Pay, with its code when it gave one."""

    def __init__(self, wechatpay_code: str | None = None, wechatpay_message: str = "") -> None:
        super().__init__()
        self.wechatpay_code = wechatpay_code
        self.wechatpay_message = wechatpay_message


class WeChatPayNotConfigured(UpstreamUnavailable):
    """No merchant in the settings, or a card with no WeChat account to pay from: pay at a desk."""

    code = "payments_unavailable"
    message_zh = "暂不支持微信支付，请到图书馆服务台缴费"
    message_en = "Paying by WeChat Pay is not available; please pay at a library desk"


class WeChatPayUnavailable(WeChatPayError, UpstreamUnavailable):
    """Not reached, no answer, a 5xx or a rate limit (FREQUENCY_LIMITED), or an answer that failed its signature
    check: the same request may be sent again later (every request here is idempotent at WeChat Pay)."""

    code = "wechatpay_unavailable"
    message_zh = "微信支付暂时不可用，请稍后再试"
    message_en = "WeChat Pay is unavailable right now; please try again later"


class WeChatPayRejected(WeChatPayError, UpstreamUnavailable):
    """WeChat Pay refused the request itself (PARAM_ERROR, INVALID_REQUEST, SIGN_ERROR, NO_AUTH, ...): our request or
    our merchant settings are wrong, and sending it again will not help."""

    code = "wechatpay_rejected"
    message_zh = "微信支付拒绝了本次请求，请联系工作人员"
    message_en = "WeChat Pay refused the request; please contact the library"


class OrderAlreadyPaid(WeChatPayError, Conflict):
    code = "wechatpay_order_paid"
    message_zh = "该订单已支付"
    message_en = "The order is already paid"


class OrderClosed(WeChatPayError, Conflict):
    code = "wechatpay_order_closed"
    message_zh = "该订单已关闭，请重新下单"
    message_en = "The order is closed; please start a new payment"


class OutTradeNoUsed(WeChatPayError, Conflict):
    """The order number was used before for an order with other details."""

    code = "wechatpay_out_trade_no_used"
    message_zh = "商户订单号重复"
    message_en = "The order number was already used for another order"


class OrderNotFound(WeChatPayError, NotFound):
    code = "wechatpay_order_not_found"
    message_zh = "微信支付中没有该订单"
    message_en = "WeChat Pay has no such order"


class RefundNotFound(WeChatPayError, NotFound):
    code = "wechatpay_refund_not_found"
    message_zh = "微信支付中没有该退款单"
    message_en = "WeChat Pay has no such refund"


class RefundRefused(WeChatPayError, Conflict):
    """WeChat Pay refused the refund as asked (INVALID_REQUEST: more than is left to refund, or the order is not
    refundable); its message says which."""

    code = "wechatpay_refund_refused"
    message_zh = "微信支付拒绝了该退款"
    message_en = "WeChat Pay refused the refund"


class MerchantBalanceTooLow(WeChatPayError, Conflict):
    """NOT_ENOUGH: the merchant account's balance cannot cover the refund now; it can be tried again later."""

    code = "wechatpay_balance_too_low"
    message_zh = "商户账户余额不足，暂时无法退款"
    message_en = "The merchant account cannot cover the refund right now"


class BillNotReady(WeChatPayError, Conflict):
    """The day's trade bill is not made yet (WeChat Pay makes it the next morning)."""

    code = "wechatpay_bill_not_ready"
    message_zh = "微信支付账单尚未生成"
    message_en = "WeChat Pay has not made that day's bill yet"


class NoticeNotGenuine(NotAuthenticated):
    """A notice whose signature does not verify with WeChat Pay's key, lacks its Wechatpay-* headers, or was signed
    too long ago (a replay): it changes nothing."""

    code = "wechatpay_notice_not_genuine"
    message_zh = "通知签名无效"
    message_en = "The notice's signature is not valid"


class NoticeUnreadable(InvalidInput):
    """A genuinely signed notice whose resource does not decrypt with our APIv3 key, or is not what was expected."""

    code = "wechatpay_notice_unreadable"
    message_zh = "通知内容无法解密"
    message_en = "The notice could not be decrypted"
