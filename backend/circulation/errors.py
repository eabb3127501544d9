"""Why a loan, a return or a renewal is refused: each says so in the reader's language, with a stable code."""

from __future__ import annotations

# A card number is the accounts' business; circulation's callers still find the refusal here.
from backend.accounts.errors import ReaderCardNotFound as ReaderCardNotFound
from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Refused


class CheckoutRefused(Refused):
    """Every reason a checkout is refused, not only the first (FOLIO's CheckOutValidators): the most important comes
    first and gives the refusal its code and message, so a client that reads one reason reads that one."""

    code = "checkout_refused"


class LoanLimitReached(Conflict):
    code = "loan_limit_reached"
    message_zh = "已借 {on_loan} 册，已达当前信用等级的上限 {limit} 册，请先归还"
    message_en = "{on_loan} items on loan, the limit of your credit tier is {limit}; please return some first"


class ReaderSuspended(Conflict):
    code = "reader_suspended"
    message_zh = "借阅已暂停{until}：{reason}"
    message_en = "Borrowing is suspended{until}: {reason}"


class OverdueItemsBlock(Conflict):
    code = "overdue_items_block"
    message_zh = "有 {count} 册图书逾期未还，归还后即可继续借阅"
    message_en = "{count} overdue items must be returned before borrowing more"


class CreditTooLow(Conflict):
    code = "credit_too_low"
    message_zh = "信用分 {score} 分，暂不能免押金借阅，请到服务台办理"
    message_en = "A credit score of {score} does not allow deposit-free borrowing; please ask at a service desk"


class CounterOnly(Conflict):
    code = "counter_only"
    message_zh = "当前信用等级请到服务台借阅"
    message_en = "At your credit tier, please borrow at a service desk"


class NoSelfService(Conflict):
    code = "no_self_service"
    message_zh = "{library} 不提供自助借书"
    message_en = "{library} offers no self-service checkout"


class CopyNotHere(Conflict):
    code = "copy_not_here"
    message_zh = "该书不在 {library}"
    message_en = "This copy is not at {library}"


class CopyNotAvailable(Conflict):
    code = "copy_not_available"
    message_zh = "该书当前状态为「{status}」，不能借出"
    message_en = "This copy cannot be lent: it is {status}"


class CopyNotOnLoan(Conflict):
    code = "copy_not_on_loan"
    message_zh = "该书未被借出"
    message_en = "This copy is not on loan"


class CopyNotInTransit(Conflict):
    code = "copy_not_in_transit"
    message_zh = "该书不在运送途中"
    message_en = "This copy is not in transit"


class LoanNotFound(NotFound):
    code = "loan_not_found"
    message_zh = "未找到该借阅记录"
    message_en = "No such loan"


class RenewalsUsedUp(Conflict):
    code = "renewals_used_up"
    message_zh = "已续借 {renewals} 次，不能再续借"
    message_en = "Already renewed {renewals} times; no more renewals"


class OverdueNotRenewable(Conflict):
    code = "overdue_not_renewable"
    message_zh = "已逾期的图书不能续借，请尽快归还"
    message_en = "An overdue item cannot be renewed; please return it"


class NotLending(PermissionDenied):
    code = "library_not_lending"
    message_zh = "{library} 不提供借还服务"
    message_en = "{library} does not lend or take returns"


class CopyHeldForAnother(Conflict):
    code = "copy_held_for_another"
    message_zh = "该书已为其他读者预约保留，不能借出"
    message_en = "This copy is held for another reader"


class HoldsWaiting(Conflict):
    code = "holds_waiting"
    message_zh = "有其他读者在预约等候此书，不能续借"
    message_en = "Other readers are waiting for this title; it cannot be renewed"


class HoldLimitReached(Conflict):
    code = "hold_limit_reached"
    message_zh = "已有 {active} 个预约，已达当前信用等级的上限 {limit} 个"
    message_en = "{active} active holds, the limit of your credit tier is {limit}"


class HoldAlreadyPlaced(Conflict):
    code = "hold_already_placed"
    message_zh = "您已预约过这本书"
    message_en = "You already have a hold on this title"


class TitleAlreadyOnLoan(Conflict):
    code = "title_already_on_loan"
    message_zh = "您正借着这本书，无需预约"
    message_en = "You have this title on loan already"


class RecordNotHoldable(Conflict):
    code = "record_not_holdable"
    message_zh = "这本书没有可供预约的馆藏"
    message_en = "No copy of this title can be placed on hold"


class PickupNotOffered(Conflict):
    code = "pickup_not_offered"
    message_zh = "{library} 不提供预约取书服务"
    message_en = "{library} is not a pickup point for holds"


class HoldNotFound(NotFound):
    code = "hold_not_found"
    message_zh = "未找到该预约"
    message_en = "No such hold"


class HoldNotChangeable(Conflict):
    code = "hold_not_changeable"
    message_zh = "预约当前状态为「{status}」，不能这样修改"
    message_en = "The hold is {status} and cannot be changed this way"


class SuspensionNotFound(NotFound):
    code = "suspension_not_found"
    message_zh = "未找到该暂停记录"
    message_en = "No such suspension"


class SuspensionSetAbove(PermissionDenied):
    code = "suspension_set_above"
    message_zh = "该暂停由上级设置，须由同级或上级管理员解除"
    message_en = "This suspension was set at a higher level: only an administrator at that level or above can lift it"


class TierNotFound(NotFound):
    code = "tier_not_found"
    message_zh = "未找到该信用等级"
    message_en = "No such credit tier"


class TierConflict(Conflict):
    code = "tier_conflict"
    message_zh = "已有同名或起始分相同的信用等级"
    message_en = "A credit tier with this name or starting score already exists"


class LastTierRequired(Conflict):
    code = "last_tier_required"
    message_zh = "至少要保留一个信用等级"
    message_en = "At least one credit tier must remain"


class LoanRuleNotFound(NotFound):
    code = "loan_rule_not_found"
    message_zh = "未找到该借阅规则"
    message_en = "No such loan rule"


class LoanRuleExists(Conflict):
    code = "loan_rule_exists"
    message_zh = "该读者类型、文献类型和馆的借阅规则已存在，请修改原规则"
    message_en = "A loan rule for this reader category, item type and library exists already: change that one"


class LoanRuleEmpty(InvalidInput):
    code = "loan_rule_empty"
    message_zh = "新的借阅规则至少要规定一项条款"
    message_en = "A new loan rule must state at least one term"


class InvalidTerm(InvalidInput):
    code = "invalid_loan_term"
    message_zh = "借阅条款 {term} 不能取值 {value}"
    message_en = "{value} is not a valid value for the loan term {term}"


class FallbackTermsRequired(Conflict):
    code = "fallback_terms_required"
    message_zh = "兜底借阅规则必须规定每一项条款"
    message_en = "The fallback loan rule must state every term"


class FallbackRuleRequired(Conflict):
    code = "fallback_rule_required"
    message_zh = "兜底借阅规则（不限读者类型、文献类型和馆）不能删除"
    message_en = "The fallback loan rule (any category, item type and library) cannot be deleted"
