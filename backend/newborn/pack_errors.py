"""What staff and guardians are refused about gift packs (stock, reservations, the claim code), with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class PackStockTooLow(Conflict):
    code = "pack_stock_too_low"
    message_zh = "{library}的“{pack_type}”礼包库存为 {on_hand} 个，不能减少 {quantity} 个"
    message_en = "{library} has {on_hand} packs of {pack_type} on hand: it cannot give up {quantity}"


class PackTransferToItself(InvalidInput):
    code = "pack_transfer_to_itself"
    message_zh = "调拨的调出馆和调入馆不能相同"
    message_en = "A transfer goes from one library to another"


class PackAdjustmentEmpty(InvalidInput):
    code = "pack_adjustment_empty"
    message_zh = "调整数量不能为 0"
    message_en = "An adjustment changes the stock by at least one pack"


class PackReservationNotFound(NotFound):
    code = "pack_reservation_not_found"
    message_zh = "未找到该礼包预留"
    message_en = "No such pack reservation"


class PackAlreadyClaimed(Conflict):
    code = "pack_already_claimed"
    message_zh = "该礼包已在{library}领取"
    message_en = "This pack was already collected, at {library}"


class PackReservationLapsed(Conflict):
    code = "pack_reservation_lapsed"
    message_zh = "该礼包预留已过期，未领取的礼包已退回库存"
    message_en = "This pack reservation lapsed: the pack went back to stock"


class PacksOutOfStock(Conflict):
    code = "packs_out_of_stock"
    message_zh = "{library}暂无可发放的“{pack_type}”礼包"
    message_en = "{library} has no pack of {pack_type} to hand out"


class PackClaimCodeInvalid(InvalidInput):
    code = "pack_claim_code_invalid"
    message_zh = "无效的礼包领取码"
    message_en = "Invalid pack claim code"


class PackClaimCodeExpired(InvalidInput):
    code = "pack_claim_code_expired"
    message_zh = "礼包领取码已过期，请家长刷新后重新出示"
    message_en = "The pack claim code has expired; ask the parent to refresh it"


class PackClaimCodeReplayed(Conflict):
    code = "pack_claim_code_replayed"
    message_zh = "该礼包领取码已被使用，请家长刷新后重新出示"
    message_en = "This pack claim code was already used; ask the parent to refresh it"
