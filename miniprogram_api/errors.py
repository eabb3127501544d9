"""The one place where failures become HTTP: application/problem+json (RFC 9457) with a stable `code` and a
message in the reader's language (Chinese unless the client asks for English)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIHeader, OpenAPIResponse, OpenAPIType, Operation, Schema
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from redis.exceptions import RedisError
from tortoise.exceptions import DBConnectionError

from backend import errors as domain
from backend.outages import is_outage
from entrypoints.logs import REQUEST_ID
from miniprogram_api.observability import route_of

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"

STATUS_BY_CATEGORY: list[tuple[type[domain.DomainError], int]] = [
    (domain.InvalidInput, 422),
    (domain.NotAuthenticated, 401),
    (domain.PermissionDenied, 403),
    (domain.NotFound, 404),
    (domain.Conflict, 409),
    (domain.TooManyRequests, 429),
    (domain.UpstreamUnavailable, 503),
]

# Failures raised by the framework itself, before our code runs: (code, Chinese, English).
_FRAMEWORK_PROBLEMS: dict[int, tuple[str, str, str]] = {
    400: ("invalid_request", "请求格式不正确", "The request is malformed"),
    401: ("not_authenticated", "请先登录", "Please log in first"),
    403: ("permission_denied", "没有权限执行此操作", "You are not allowed to do this"),
    404: ("not_found", "未找到", "Not found"),
    405: ("method_not_allowed", "不支持该请求方法", "Method not allowed"),
    413: ("request_too_large", "请求内容过大", "The request is too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported media type"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试", "Too many requests"),
}
_INTERNAL = ("internal_error", "服务器内部错误，请稍后再试", "Internal error, please try again later")
_UNAVAILABLE = ("service_unavailable", "服务暂时不可用，请稍后再试", "The service is briefly unavailable, try again")


class FieldProblem(msgspec.Struct):
    message: str
    key: str | None = None
    source: str | None = None


class Reason(msgspec.Struct):
    """One of several reasons for one refusal (a checkout refused for three reasons at once)."""

    code: str
    title: str
    params: dict[str, Any]


class Problem(msgspec.Struct, omit_defaults=True):
    """An error, as RFC 9457 problem details plus a stable machine `code`."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    reasons: list[Reason] | None = None
    """Every reason, when there are several; the first is the one `code` and `title` give."""
    request_id: str | None = None
    """The request's id, as in the X-Request-ID header: quoted in a report, it finds the request's log lines."""


def status_of(error: type[domain.DomainError]) -> int:
    for category, status in STATUS_BY_CATEGORY:
        if issubclass(error, category):
            return status
    return 500


def language_of(request: Request[Any, Any, Any]) -> str:
    accepted = request.headers.get("accept-language", "")
    return "en" if accepted.strip().lower().startswith("en") else "zh"


def _pick(request: Request[Any, Any, Any], zh: str, en: str) -> str:
    return en if language_of(request) == "en" else zh


def _problem(request: Request[Any, Any, Any], status: int, code: str, title: str, **extra: Any) -> Response[Problem]:
    problem = Problem(
        type=f"urn:shuxiang:problem:{code}",
        title=title,
        status=status,
        code=code,
        instance=request.url.path,
        request_id=REQUEST_ID.get(),
        **extra,
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def domain_error_handler(request: Request[Any, Any, Any], exc: domain.DomainError) -> Response[Problem]:
    response = _domain_problem(request, exc)
    if isinstance(exc, domain.TooManyRequests) and exc.retry_after is not None:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _domain_problem(request: Request[Any, Any, Any], exc: domain.DomainError) -> Response[Problem]:
    language = language_of(request)
    reasons = exc.reasons
    if not reasons:
        return _problem(request, status_of(type(exc)), exc.code, exc.message(language))
    listed = [Reason(reason.code, reason.message(language), reason.params) for reason in reasons]
    return _problem(request, status_of(type(exc)), reasons[0].code, exc.message(language), reasons=listed)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    code, zh, en = _FRAMEWORK_PROBLEMS.get(exc.status_code, _INTERNAL)
    if exc.status_code >= 500:
        log.error("HTTP %s at %s: %s", exc.status_code, route_of(request.scope), exc.detail)
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        extra["errors"] = [
            FieldProblem(message=str(e.get("message", "")), key=e.get("key"), source=e.get("source"))
            for e in exc.extra
            if isinstance(e, dict)
        ]
        extra["detail"] = exc.detail
    response = _problem(request, exc.status_code, code, _pick(request, zh, en), **extra)
    response.headers.update(exc.headers or {})
    return response


def unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    # The database or Redis is down or overloaded: the reader should retry, not report a bug.
    log.error("backing service unavailable at %s: %s", route_of(request.scope), type(exc).__name__)
    code, zh, en = _UNAVAILABLE
    response = _problem(request, 503, code, _pick(request, zh, en))
    response.headers["Retry-After"] = "5"
    return response


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    if is_outage(exc):  # asyncpg's own errors while PostgreSQL restarts, a failed rollback's among them
        return unavailable_handler(request, exc)
    log.exception("unhandled error at %s", route_of(request.scope), exc_info=exc)
    code, zh, en = _INTERNAL
    return _problem(request, 500, code, _pick(request, zh, en))


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    domain.DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    RedisError: unavailable_handler,
    DBConnectionError: unavailable_handler,
    OSError: unavailable_handler,  # connection refused or reset by the database or Redis
    Exception: internal_error_handler,
}


def problems(*errors: type[domain.DomainError]) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the domain errors a handler may raise, grouped by status with their codes, plus what
    every handler may answer: 400 to a malformed request, 503 while the database or Redis is unreachable."""
    descriptions: dict[int, list[str]] = {
        status: [f"`{code}`: {zh} ({en})"]
        for status, (code, zh, en) in ((400, _FRAMEWORK_PROBLEMS[400]), (503, _UNAVAILABLE))
    }
    for error in errors:
        descriptions.setdefault(status_of(error), []).append(f"`{error.code}`: {error.message_zh} ({error.message_en})")
    return {
        status: ResponseSpec(
            data_container=Problem, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False, description="; ".join(lines)
        )
        for status, lines in sorted(descriptions.items())
    }


_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    description="Seconds to wait before trying again: the rest of a rate limit's window or a lockout, 5 while the "
    "database or Redis is out of reach (not sent when WeChat's own limit or outage gives no time)",
)
_WITH_RETRY_AFTER = ("429", "503")


@dataclass
class _OperationWithRetryAfter(Operation):
    def __post_init__(self) -> None:
        for status in _WITH_RETRY_AFTER:
            response = (self.responses or {}).get(status)
            if isinstance(response, OpenAPIResponse):
                response.headers = {**(response.headers or {}), "Retry-After": _RETRY_AFTER}


class DocumentedRetryAfter(ReceiveRoutePlugin):
    """Documents the Retry-After header of the 429 and 503 that `problems()` lists (its ResponseSpec has no headers)."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            if handler.operation_class is Operation:
                handler.operation_class = _OperationWithRetryAfter
