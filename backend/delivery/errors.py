"""Why a delivery order, a basket change or a courier pickup is refused: each with a stable code and the reader's
language."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound, Refused


class OrderRefused(Refused):
    """Every reason an order is refused at once, the most important first (as a checkout's)."""

    code = "delivery_order_refused"


class DeliveryNotAllowed(Conflict):
    code = "delivery_not_allowed"
    message_zh = "您当前的读者类型或信用等级不能使用网上借阅送书服务"
    message_en = "Your reader category or credit tier does not allow borrowing for delivery"


class NothingToOrder(InvalidInput):
    code = "nothing_to_order"
    message_zh = "请先选择要借的书"
    message_en = "Choose the books to borrow first"


class TooManyBooks(Conflict):
    code = "too_many_books"
    message_zh = "每单最多借 {limit} 册，本单 {books} 册"
    message_en = "An order holds at most {limit} books; this one has {books}"


class DeliveryLimitReached(Conflict):
    code = "delivery_limit_reached"
    message_zh = "已借和待送共 {held} 册，再借 {books} 册将超过上限 {limit} 册"
    message_en = "{held} books on loan or on their way; {books} more would pass the limit of {limit}"


class TitleAlreadyOnLoan(Conflict):
    code = "title_already_on_loan"
    message_zh = "《{title}》您已借阅"
    message_en = "You already have {title} on loan"


class TitleOnHold(Conflict):
    code = "title_on_hold"
    message_zh = "《{title}》您已预约，请等待预约到书"
    message_en = "You have a hold on {title}: it comes to you through the hold"


class TitleInOrder(Conflict):
    code = "title_in_order"
    message_zh = "《{title}》已在您的另一张借书订单中"
    message_en = "{title} is in another order of yours"


class TitleUnavailable(Conflict):
    code = "title_unavailable"
    message_zh = "《{titles}》暂无可借的馆藏，请稍后再试或预约"
    message_en = "No copy of {titles} can be ordered now; try later or place a hold"


class DeliveryOrderNotFound(NotFound):
    code = "delivery_order_not_found"
    message_zh = "未找到该借书订单"
    message_en = "No such delivery order"


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"
    message_zh = "订单当前状态为「{state}」，已不能取消"
    message_en = "The order is {state}: it can no longer be cancelled"


class CardHasDeliveries(Conflict):
    code = "card_has_deliveries"
    message_zh = "该读者证还有未完成的送书订单或上门取书，不能删除"
    message_en = "The card has delivery orders or courier pickups still open: it cannot be removed"


class BasketFull(Conflict):
    code = "basket_full"
    message_zh = "书篮最多放 {limit} 种书"
    message_en = "The basket holds at most {limit} titles"


class NotOrderable(Conflict):
    code = "title_not_orderable"
    message_zh = "该书暂无可送的馆藏"
    message_en = "No copy of this title can be delivered now"


class PickupNotFound(NotFound):
    code = "return_pickup_not_found"
    message_zh = "未找到该上门取书预约"
    message_en = "No such return pickup"


class PickupNotCancellable(Conflict):
    code = "return_pickup_not_cancellable"
    message_zh = "取书预约当前状态为「{state}」，已不能取消"
    message_en = "The pickup is {state}: it can no longer be cancelled"


class PickupNotBooked(Conflict):
    code = "return_pickup_not_booked"
    message_zh = "取书预约当前状态为「{state}」，不能安排快递"
    message_en = "The pickup is {state}: no courier can be sent for it"


class PickupBooksOutOfRange(InvalidInput):
    code = "pickup_books_out_of_range"
    message_zh = "上门取书每次 1 至 {limit} 册"
    message_en = "A pickup collects 1 to {limit} books"


class ReturnsNotAccepted(Conflict):
    code = "returns_not_accepted"
    message_zh = "{library} 不接收还书"
    message_en = "{library} does not take returns"


# --- staff: picking, packing, shipping, the lists -------------------------------------------------------------------


class NotToPick(Conflict):
    code = "delivery_copy_not_to_pick"
    message_zh = "条码为 {barcode} 的图书不在待拣的借书订单中"
    message_en = "The copy {barcode} is not waiting to be picked for a delivery order"


class NotToGather(Conflict):
    code = "delivery_copy_not_to_gather"
    message_zh = "条码为 {barcode} 的图书不是已拣出、待集中打包的订单图书"
    message_en = "The copy {barcode} is not a picked book of an order waiting to be gathered"


class DeliveryLineNotFound(NotFound):
    code = "delivery_line_not_found"
    message_zh = "未找到该待拣图书，或已拣出送达"
    message_en = "No such book waiting to be picked or on its way to packing"


class OrderNotPacked(Conflict):
    code = "delivery_order_not_packed"
    message_zh = "订单当前状态为「{state}」，打包完成后才能发出"
    message_en = "The order is {state}: only a packed order can be shipped"


class OrderNotShipped(Conflict):
    code = "delivery_order_not_shipped"
    message_zh = "订单当前状态为「{state}」，发出后才能更新配送状态"
    message_en = "The order is {state}: its delivery status can be set only once it has left"


class LabelNotNeeded(Conflict):
    code = "delivery_label_not_needed"
    message_zh = "该订单不需要快递面单（送至服务点，或已发出）"
    message_en = "This order needs no courier label (it goes to a service point, or it has left)"


class DeliveryFiguresPeriodInvalid(InvalidInput):
    code = "delivery_figures_period_invalid"
    message_zh = "统计期间须从起始日到结束日，且不超过 {days} 天"
    message_en = "The period must run from its first day to its last, {days} days at most"
