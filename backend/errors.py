"""The domain's error hierarchy: a stable machine code and a message in Chinese and English per error.

The HTTP layer maps the categories below to statuses in one place; nothing here knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a reader or a librarian may see.

    Subclasses set `code` (stable, snake_case, part of the API contract) and the two message templates,
    formatted with the keyword arguments given at raise time.
    """

    code: ClassVar[str] = "error"
    message_zh: ClassVar[str] = "操作失败"
    message_en: ClassVar[str] = "The operation failed"
    reasons: tuple[DomainError, ...] = ()
    """The refusals this error answers with at once (a checkout refused for three reasons), when it stands for
    several; empty when it is its own reason."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.message("en"))

    def message(self, language: str) -> str:
        template = self.message_en if language == "en" else self.message_zh
        return template.format(**self.params)


class InvalidInput(DomainError):
    """The request is well-formed but its content breaks a rule."""

    code = "invalid_input"
    message_zh = "请求内容不符合要求"
    message_en = "The request is not valid"


class NotAuthenticated(DomainError):
    """No valid credential was presented."""

    code = "not_authenticated"
    message_zh = "请先登录"
    message_en = "Please log in first"


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    code = "permission_denied"
    message_zh = "没有权限执行此操作"
    message_en = "You are not allowed to do this"


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it exists."""

    code = "not_found"
    message_zh = "未找到"
    message_en = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state."""

    code = "conflict"
    message_zh = "与当前状态冲突"
    message_en = "The request conflicts with the current state"


class Refused(Conflict):
    """Every reason a request is refused, most important first: the first gives the refusal its code and message, so
    a client that reads one reason reads that one."""

    def __init__(self, reasons: Sequence[DomainError]) -> None:
        assert reasons, "a refusal has a reason"
        self.reasons = tuple(reasons)
        super().__init__()

    def message(self, language: str) -> str:
        return self.reasons[0].message(language)


class TooManyRequests(DomainError):
    """The caller must slow down."""

    code = "too_many_requests"
    message_zh = "操作过于频繁，请稍后再试"
    message_en = "Too many attempts, please try again later"
    retry_after: int | None = None
    """Seconds until the caller may try again, when known (the HTTP layer sends it as `Retry-After`)."""


class UpstreamUnavailable(DomainError):
    """An outside service (WeChat) failed in a way the reader cannot fix."""

    code = "upstream_unavailable"
    message_zh = "外部服务暂时不可用，请稍后再试"
    message_en = "An outside service is unavailable, please try again later"
