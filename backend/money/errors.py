"""Why a money operation is refused: each says so in the reader's or the librarian's language, with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied


def yuan(fen: int) -> str:
    """An amount as people read it: 12.30 (yuan), from fen."""
    return f"{fen // 100}.{fen % 100:02d}"


class _InYuan(DomainError):
    """Amounts travel as fen (`*_fen` parameters, for clients) and are read as yuan in the message."""

    def message(self, language: str) -> str:
        template = self.message_en if language == "en" else self.message_zh
        return template.format(**{k: yuan(v) if k.endswith("_fen") else v for k, v in self.params.items()})


class FeesOwed(_InYuan, Conflict):
    """A refusal of borrowing and of holds (the circulation refusals carry it): paying lifts it at once."""

    code = "fees_owed"
    message_zh = "尚欠费用 {owed_fen} 元，超过 {limit_fen} 元不能借阅或预约，缴清后即可继续"
    message_en = "¥{owed_fen} is owed; above ¥{limit_fen} borrowing and holds are refused until it is paid"


class ChargeNotFound(NotFound):
    code = "charge_not_found"
    message_zh = "未找到该费用"
    message_en = "No such charge"


class ChargeSettled(Conflict):
    code = "charge_settled"
    message_zh = "该费用已结清"
    message_en = "This charge is settled already"


class ChargeInPayment(Conflict):
    """The charge is in a WeChat Pay order the reader may be paying right now: taking it at a desk or waiving it
    could take the money twice."""

    code = "charge_in_payment"
    message_zh = "该费用正在微信支付中，请待支付完成或订单关闭后再办理"
    message_en = "This charge is being paid by WeChat Pay; wait until the payment completes or its order closes"


class ChargeExists(Conflict):
    code = "charge_exists"
    message_zh = "该费用已经登记过"
    message_en = "This charge has been recorded already"


class NotPayer(PermissionDenied):
    """A charge of someone else's card: only the card's holder, or a child's guardian, pays it."""

    code = "not_payer"
    message_zh = "只能支付本人或监护的儿童读者证的费用"
    message_en = "Only your own card's or your children's cards' charges can be paid"


class NothingToPay(InvalidInput):
    code = "nothing_to_pay"
    message_zh = "请选择要支付的费用"
    message_en = "Choose something to pay"


class TooManyLines(InvalidInput):
    code = "too_many_payment_lines"
    message_zh = "一次最多支付 {limit} 笔费用"
    message_en = "At most {limit} charges can be paid at once"


class OverWaiverLimit(_InYuan, PermissionDenied):
    code = "over_waiver_limit"
    message_zh = "{amount_fen} 元超出您的减免和退款权限 {limit_fen} 元，请由上级管理员办理"
    message_en = "¥{amount_fen} is above your limit of ¥{limit_fen} for waivers and refunds: ask an administrator above"


class ReasonRequired(InvalidInput):
    code = "money_reason_required"
    message_zh = "请填写原因"
    message_en = "A reason is required"


class OutsideMoneyScope(PermissionDenied):
    code = "charge_outside_scope"
    message_zh = "该费用属于 {library}，不在您的管辖范围内"
    message_en = "This belongs to {library}, outside the libraries you manage"


class SettlementNotFound(NotFound):
    code = "settlement_not_found"
    message_zh = "未找到该缴费记录"
    message_en = "No such payment record"


class NotRefundable(_InYuan, Conflict):
    code = "not_refundable"
    message_zh = "可退金额为 {refundable_fen} 元，不能退 {amount_fen} 元"
    message_en = "¥{refundable_fen} can be refunded, not ¥{amount_fen}"


class RefundNotFound(NotFound):
    code = "refund_not_found"
    message_zh = "未找到该退款"
    message_en = "No such refund"


class DepositHeld(_InYuan, Conflict):
    code = "deposit_held"
    message_zh = "已交押金 {held_fen} 元，无需再交"
    message_en = "A deposit of ¥{held_fen} is held already"


class DepositInPayment(Conflict):
    """A WeChat Pay order for the deposit is open: a second one, or the deposit at a desk, could take it twice."""

    code = "deposit_in_payment"
    message_zh = "押金正在微信支付中，请待支付完成或订单关闭后再办理"
    message_en = "The deposit is being paid by WeChat Pay; wait until the payment completes or its order closes"


class NoDeposit(Conflict):
    code = "no_deposit"
    message_zh = "没有可退的押金"
    message_en = "No deposit is held"


class DepositNotRefundable(_InYuan, Conflict):
    """A deposit is given back only to a card with nothing on loan and nothing owed."""

    code = "deposit_not_refundable"
    message_zh = "尚有 {on_loan} 册在借、欠费 {owed_fen} 元，归还并缴清后才能退押金"
    message_en = "{on_loan} items on loan and ¥{owed_fen} owed: return them and pay before the deposit is refunded"


class DepositAtDesk(_InYuan, Conflict):
    """The deposit held was paid at a desk (or WeChat Pay could not return it): a desk hands it back."""

    code = "deposit_at_desk"
    message_zh = "押金 {at_desk_fen} 元需到图书馆服务台退还"
    message_en = "The deposit of ¥{at_desk_fen} is given back at a library desk"


class CardHasMoney(_InYuan, Conflict):
    """A card about to be removed still owes, holds a deposit or is in a payment: settle those first."""

    code = "card_has_money"
    message_zh = "该读者证尚欠费 {owed_fen} 元、押金 {deposit_fen} 元，或有未完成的支付，请先处理"
    message_en = "The card owes ¥{owed_fen}, holds a deposit of ¥{deposit_fen} or is in a payment: settle those first"


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message_zh = "未找到该支付订单"
    message_en = "No such payment order"


class NotAssessable(Conflict):
    """No loan of the copy names the reader: not borrowed by them, or returned and forgotten (no reading history)."""

    code = "not_assessable"
    message_zh = "未找到该读者借阅此册的记录，请在还书前登记损坏"
    message_en = "No loan of this copy by this reader is known; assess a damage before checking the copy in"
