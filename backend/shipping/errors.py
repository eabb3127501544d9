"""Errors of parcels and couriers."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotAuthenticated, NotFound


class AddressInvalid(InvalidInput):
    code = "address_invalid"
    message_zh = "收件信息不正确：{reason}"
    message_en = "The delivery address is not valid: {reason}"


class AddressRequired(InvalidInput):
    code = "address_required"
    message_zh = "送书上门需要填写收件人、手机号和地址"
    message_en = "Delivery to the door needs a recipient, a mobile number and an address"


class CourierRequired(InvalidInput):
    code = "courier_required"
    message_zh = "送书上门的包裹须交给快递公司，并填写运单号"
    message_en = "A parcel to the door is handed to a courier, with a tracking number"


class TrackingNumberInvalid(InvalidInput):
    code = "tracking_number_invalid"
    message_zh = "运单号须为 1 至 40 位字母、数字或连字符"
    message_en = "A tracking number is 1 to 40 letters, digits or hyphens"


class CourierInvalid(InvalidInput):
    code = "courier_invalid"
    message_zh = "快递公司信息不正确：{reason}"
    message_en = "The courier is not valid: {reason}"


class StateNotSettable(InvalidInput):
    code = "shipment_state_not_settable"
    message_zh = "不能手动把包裹设为「{state}」"
    message_en = "A parcel cannot be set to {state} by hand"


class ReportTimeInvalid(InvalidInput):
    code = "report_time_invalid"
    message_zh = "推送中的发生时间晚于当前时间"
    message_en = "The report's time is in the future"


class ReportConflict(Conflict):
    """Its report id was stored for another parcel at the same moment (report ids are the courier's, unique to it)."""

    code = "courier_report_conflict"
    message_zh = "推送与同时到达的另一条推送冲突，请重试"
    message_en = "The report collided with another arriving at the same moment: send it again"


class CourierNotFound(NotFound):
    code = "courier_not_found"
    message_zh = "未找到该快递公司，或已停用"
    message_en = "No such courier, or it is no longer used"


class ShipmentNotFound(NotFound):
    code = "shipment_not_found"
    message_zh = "未找到该包裹"
    message_en = "No such parcel"


class CourierCodeTaken(Conflict):
    code = "courier_code_taken"
    message_zh = "快递公司代码 {code} 已被使用"
    message_en = "Courier code {code} is already used"


class TrackingNumberTaken(Conflict):
    code = "tracking_number_taken"
    message_zh = "运单号 {tracking_no} 已用于该快递公司的另一个包裹"
    message_en = "Tracking number {tracking_no} is already on another parcel of this courier"


class ShipmentNotPreparing(Conflict):
    code = "shipment_not_preparing"
    message_zh = "包裹当前为「{state}」，已不在备货中"
    message_en = "The parcel is {state}, no longer being prepared"


class StateNotForward(Conflict):
    code = "shipment_state_not_forward"
    message_zh = "包裹当前为「{state}」，不能改为「{to}」"
    message_en = "The parcel is {state}: it cannot go to {to}"


class CourierSignatureInvalid(NotAuthenticated):
    """Also for an unknown or retired courier code: the webhook tells a stranger nothing about which codes exist."""

    code = "courier_signature_invalid"
    message_zh = "快递推送签名无效或已过期"
    message_en = "The courier report's signature is invalid or expired"
