"""What can go wrong when the WeChat platform is asked something on a reader's behalf."""

from __future__ import annotations

from backend.errors import InvalidInput, PermissionDenied, TooManyRequests, UpstreamUnavailable


class InvalidLoginCode(InvalidInput):
    code = "wechat_invalid_code"
    message_zh = "微信登录凭证无效或已过期，请重新登录"
    message_en = "The WeChat login code is invalid or expired; please log in again"


class InvalidPhoneCode(InvalidInput):
    code = "wechat_invalid_phone_code"
    message_zh = "手机号授权凭证无效或已过期，请重新授权"
    message_en = "The phone number authorisation code is invalid or expired; please authorise again"


class WeChatRateLimited(TooManyRequests):
    code = "wechat_rate_limited"
    message_zh = "微信接口调用过于频繁，请稍后再试"
    message_en = "WeChat is limiting requests; please try again shortly"


class WeChatRiskyUser(PermissionDenied):
    code = "wechat_risky_user"
    message_zh = "微信判定当前账号存在风险，暂时无法登录"
    message_en = "WeChat flagged this account as risky; login is refused for now"


class WeChatUnavailable(UpstreamUnavailable):
    code = "wechat_unavailable"
    message_zh = "微信服务暂时不可用，请稍后再试"
    message_en = "WeChat is unavailable right now; please try again later"


class WeChatNoAnswer(WeChatUnavailable):
    """The request went out but no answer came back (a read timeout, a connection cut mid-answer): WeChat may
    have acted on it. Whoever must not act twice (a message send) treats this apart from "unreachable"."""
