"""What a reader or a librarian is refused about notices, with a stable code."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class NoticeNotFound(NotFound):
    code = "notice_not_found"
    message_zh = "未找到该通知"
    message_en = "No such notice"


class AudienceInvalid(InvalidInput):
    code = "audience_invalid"
    message_zh = "消息对象无效：{problem}"
    message_en = "Invalid audience: {problem}"


class QuietHoursInvalid(InvalidInput):
    code = "quiet_hours_invalid"
    message_zh = "免打扰时段需同时给出开始和结束时间"
    message_en = "Quiet hours need both a start and an end"


class MessageNotFound(NotFound):
    code = "message_not_found"
    message_zh = "未找到该消息"
    message_en = "No such message"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    message_zh = "该请求编号已用于另一条消息"
    message_en = "This request id was used for another message"


class PicksPushNotFound(NotFound):
    code = "picks_push_not_found"
    message_zh = "未找到该推荐推送"
    message_en = "No such push of personal picks"
