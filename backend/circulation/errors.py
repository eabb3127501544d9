"""Why a loan, a return or a renewal is refused: each says so in the reader's language, with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, NotFound, PermissionDenied


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
