"""Why a reader's purchase is refused, and the other errors of the purchases area: stable codes, Chinese and English."""

from __future__ import annotations

from collections.abc import Sequence

from backend.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied, Refused
from backend.money.errors import yuan


class _InYuan(DomainError):
    """Amounts travel as fen (`*_fen` parameters, for clients) and are read as yuan in the message."""

    def message(self, language: str) -> str:
        template = self.message_en if language == "en" else self.message_zh
        return template.format(**{k: yuan(v) if k.endswith("_fen") else v for k, v in self.params.items()})


# The reasons of the check in the shop: every one that applies is given at once.


class HeldEnough(Conflict):
    """`where`: [{"library": name, "code": code, "copies": n, "available": n}], libraries with a copy available now
    first; `copies` is the network's count."""

    code = "held_enough"
    message_zh = "本馆已有 {copies} 册（满 {threshold} 册不再采购），可直接借阅"
    message_en = "The network already holds {copies} copies (no purchase from {threshold}); borrow one instead"


class PriceOverCap(_InYuan, Conflict):
    code = "price_over_cap"
    message_zh = "定价 {price_fen} 元，超过 {cap_fen} 元的上限"
    message_en = "The list price ¥{price_fen} is above the cap of ¥{cap_fen}"


class TooOld(Conflict):
    code = "too_old"
    message_zh = "出版于 {year} 年，只采购 {since} 年以来出版的图书"
    message_en = "Published in {year}; only books published since {since} are bought"


class ExcludedKind(Conflict):
    """`kind`: class (a CLC class prefix: textbooks, exam guides, reference works), item_type, or keyword (a title
    word of sets and exam guides); `matched`: the prefix, item type or word that matched."""

    code = "excluded_kind"
    message_zh = "此类图书不在读者荐购范围内（{matched}）"
    message_en = "Books of this kind are not bought for readers ({matched})"


class MonthlyQuotaUsed(Conflict):
    code = "monthly_quota_used"
    message_zh = "本月已选购 {used} 册，每月最多 {quota} 册"
    message_en = "{used} books chosen this month; the monthly quota is {quota}"


class TooManyUnreturned(Conflict):
    code = "too_many_unreturned"
    message_zh = "已有 {unreturned} 册选购的图书未还，最多 {limit} 册，请先归还"
    message_en = "{unreturned} chosen books are not yet returned, at most {limit}; please return one first"


class ReaderBarred(Conflict):
    """The reader may not borrow the book now, by checkout's own rules: `codes` are circulation's or money's
    refusals (reader_suspended, credit_too_low, overdue_items_block, loan_limit_reached, fees_owed, ...), the most
    important first, `because` the first of them, `detail_zh`/`detail_en` their messages."""

    code = "reader_barred"
    message_zh = "暂不能借阅：{detail_zh}"
    message_en = "Borrowing is not possible now: {detail_en}"

    @classmethod
    def of(cls, refusals: Sequence[DomainError]) -> ReaderBarred:
        return cls(
            because=refusals[0].code,
            codes=[r.code for r in refusals],
            detail_zh="；".join(r.message("zh") for r in refusals),
            detail_en="; ".join(r.message("en") for r in refusals),
        )


class BudgetShort(_InYuan, Conflict):
    code = "budget_short"
    message_zh = "本馆读者选书经费余额 {left_fen} 元，不足以购买此书（{price_fen} 元）"
    message_en = "The library's reader-choice budget has ¥{left_fen} left, not enough for this book (¥{price_fen})"


class PurchaseRefused(Refused):
    """Every reason an approval is refused (as circulation's CheckoutRefused): the first gives its code and message."""

    code = "purchase_refused"


# The rest of the area.


class BookstoreNotFound(NotFound):
    code = "bookstore_not_found"
    message_zh = "未找到该合作书店"
    message_en = "No such partner bookstore"


class BookstoreNameTaken(Conflict):
    code = "bookstore_name_taken"
    message_zh = "已有名为“{name}”的合作书店"
    message_en = "A partner bookstore named {name!r} already exists"


class NotMainLibrary(InvalidInput):
    code = "not_main_library"
    message_zh = "合作书店与读者选书经费只属于总馆或区县馆（{library} 不是）"
    message_en = "Partner bookstores and reader-choice budgets belong to a main library ({library} is not one)"


class DiscountInvalid(InvalidInput):
    code = "discount_invalid"
    message_zh = "折扣须在 0 至 10000 个基点之间（1500 即八五折）"
    message_en = "A discount is 0 to 10000 basis points (1500 is 15% off)"


class NotThisBookstore(PermissionDenied):
    code = "not_this_bookstore"
    message_zh = "您只能为本店办理读者选书"
    message_en = "You can act only for your own bookstore"


class NotInStock(NotFound):
    code = "not_in_stock"
    message_zh = "本店库存中没有 ISBN {isbn} 的图书"
    message_en = "The bookstore's stock has no book with ISBN {isbn}"


class StockFileInvalid(InvalidInput):
    code = "stock_file_invalid"
    message_zh = "无法读取库存文件：{reason}"
    message_en = "Cannot read the stock file: {reason}"


class RulesInvalid(InvalidInput):
    code = "purchase_rules_invalid"
    message_zh = "规则 {term} 的取值须在 {low} 至 {high} 之间"
    message_en = "The rule {term} takes a value from {low} to {high}"


class ItemTypesUnknown(InvalidInput):
    code = "item_types_unknown"
    message_zh = "未知的资料类型：{types}（可选 book、picture_book、periodical、audiovisual）"
    message_en = "Unknown item types: {types} (book, picture_book, periodical, audiovisual)"


class BudgetInvalid(InvalidInput):
    code = "budget_invalid"
    message_zh = "经费须为不少于已预留与已支出合计（{committed_fen} 分）的整数分"
    message_en = "A budget is whole fen, at least what is reserved and spent already ({committed_fen} fen)"


class BudgetMonthsOverYear(_InYuan, InvalidInput):
    code = "budget_months_over_year"
    message_zh = "各月经费合计 {months_fen} 元，超过全年 {year_fen} 元"
    message_en = "The months' shares come to ¥{months_fen}, more than the year's ¥{year_fen}"


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"
    message_zh = "未找到该选购记录"
    message_en = "No such purchase"


class PurchaseNotReserved(Conflict):
    code = "purchase_not_reserved"
    message_zh = "该选购已结算或已取消（{state}）"
    message_en = "The purchase is already settled or cancelled ({state})"


class StatementExists(Conflict):
    code = "statement_exists"
    message_zh = "{bookstore} {year} 年 {month} 月已结算"
    message_en = "{bookstore} is already settled for {year}-{month:02d}"


class MonthInvalid(InvalidInput):
    code = "month_invalid"
    message_zh = "{year} 年 {month} 月不是有效的月份"
    message_en = "{year}-{month} is not a valid month"


class MonthNotOver(Conflict):
    code = "month_not_over"
    message_zh = "{year} 年 {month} 月尚未结束，月末之后才能结算"
    message_en = "{year}-{month:02d} is not over yet; a month is settled after its end"


class CopyNotInProcessing(Conflict):
    code = "copy_not_in_processing"
    message_zh = "该册不在本馆的待加工队列中"
    message_en = "The copy is not in this library's processing queue"


# Requests online.


class PurchaseRequestNotFound(NotFound):
    code = "purchase_request_not_found"
    message_zh = "未找到该选书申请"
    message_en = "No such purchase request"


class RequestNotPending(Conflict):
    code = "purchase_request_not_pending"
    message_zh = "该选书申请已处理（{state}）"
    message_en = "The purchase request is already decided ({state})"


class RequestNotCancellable(Conflict):
    """Once the shop has sent the book it is on its way: the request ends when it arrives or comes back."""

    code = "purchase_request_not_cancellable"
    message_zh = "该选书申请已发出或已结束（{state}），不能取消"
    message_en = "The purchase request is already sent or closed ({state}) and cannot be cancelled"


class RequestNotApproved(Conflict):
    code = "purchase_request_not_approved"
    message_zh = "该选书申请尚未批准或已发出（{state}）"
    message_en = "The purchase request is not approved, or already sent ({state})"


class SoldOut(Conflict):
    code = "sold_out"
    message_zh = "书店已无此书库存（ISBN {isbn}）"
    message_en = "The bookstore has no copy of ISBN {isbn} left"


class RequestsOnTheWay(Conflict):
    """A month's online sales are made when their parcels arrive: it is settled once none is still on its way."""

    code = "purchase_requests_on_the_way"
    message_zh = "{bookstore} {year} 年 {month} 月尚有 {count} 本书在途，送达或退回后才能结算"
    message_en = "{bookstore} has {count} books of {year}-{month:02d} still on their way; settle once they arrive"


class CardHasRequests(Conflict):
    code = "card_has_purchase_requests"
    message_zh = "该读者证还有未完成的书店荐购，不能删除"
    message_en = "The card has purchase requests still open: it cannot be removed"
