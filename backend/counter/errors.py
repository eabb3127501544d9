"""Why a reader look-up at a desk is refused."""

from __future__ import annotations

from backend.errors import InvalidInput


class LookupQueryRequired(InvalidInput):
    code = "reader_query_required"
    message_zh = "请按读者证号、手机号或姓名之一查找读者"
    message_en = "Look a reader up by one of card number, phone number or name"


class PhoneInvalid(InvalidInput):
    code = "phone_invalid"
    message_zh = "手机号格式不正确"
    message_en = "That is not a phone number"
