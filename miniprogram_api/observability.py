"""What the API tells its operators: an id for every request (the client's X-Request-ID when it is sane, else a new
one, sent back in the same header and on every log line written meanwhile), one log line per request, Prometheus
metrics by route template, and GET /metrics for Prometheus to read them."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from entrypoints.bootstrap import Dependencies
from entrypoints.logs import REQUEST_ID
from entrypoints.queue import QUEUE
from entrypoints.worker_metrics import queue_depth

log = logging.getLogger("shuxiang.http")

# Ids of proxies and tracing systems (UUIDs, hex, AWS's Root=1-...) fit; a header that does not (too long, control
# characters, spaces) cannot forge or break a log line, it is replaced.
_SANE_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")
UNMATCHED = "unmatched"
"""The route of a request no route takes (404, 405): one label, not every path a scanner tries."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
QUIET_ROUTES = frozenset({"/health/live", "/ready", "/health", "/metrics"})
"""Routes logged only when they fail: a probe every few seconds and Prometheus's scrape would be most of the log and say
nothing; their counts and latencies are in the metrics, and a refusal or an outage still gets its line."""

REQUESTS = Counter(
    "shuxiang_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "shuxiang_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template",
    ["method", "route"],
)


def route_of(scope: Scope) -> str:
    """The route template a request took (`/staff/readers/{card_number}/credit`): never the path, which may hold a
    card number."""
    template: str | None = scope.get("path_template")
    return template or UNMATCHED


def _request_id(scope: Scope) -> str:
    given = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"")
    text = given.decode("latin-1")
    return text if _SANE_ID.fullmatch(text) else os.urandom(16).hex()  # as unique as a uuid4, at a fifth of its cost


class RequestObserver:
    """Wraps the whole app, router included, so the requests no route takes are observed too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        status = 500  # unless an answer starts: the app failed before it could give one

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        reset = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "other"  # a client can send any word
            route = route_of(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(seconds)
            if (status >= 400 or route not in QUIET_ROUTES) and log.isEnabledFor(logging.INFO):
                _log_request(method, route, status, seconds)
            REQUEST_ID.reset(reset)


def _log_request(method: str, route: str, status: int, seconds: float) -> None:
    # The record made directly: `log.info` would walk the stack for the caller's file and line, which no line shows.
    fields = {"method": method, "route": route, "status": status, "duration_ms": round(seconds * 1000, 2)}
    log.handle(
        log.makeRecord(log.name, logging.INFO, __file__, 0, f"{method} {route} {status}", (), None, extra=fields)
    )


def _registry() -> CollectorRegistry:
    # `shuxiang serve` gives its worker processes one directory to write their metrics in (prometheus_client's
    # multiprocess mode, switched on by this variable before they start); the one that answers a scrape adds them
    # all up. Without it (one process: tests, scripts) the process's own are the whole.
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class _Read(Collector):
    """Metrics read before the page is written (from the async Redis client, which the page's thread cannot use)."""

    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


def _page(*read: Metric) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Read(*read))
    return generate_latest(_registry()) + generate_latest(registry)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], deps: Dependencies) -> Response[bytes]:
    """Prometheus's page, for the bearer of SHUXIANG_METRICS_TOKEN only; without a token set there is none. With the
    depth of arq's queue, read from Redis now, so the page an operator scrapes has it without a worker's page."""
    expected = deps.settings.metrics.token
    if not expected:
        raise NotFoundException()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise NotAuthorizedException()
    try:
        read = [queue_depth(await deps.redis.zcard(QUEUE))]
    except RedisError:  # the rest of the page is still worth a scrape; the series goes missing, as on a worker's page
        read = []
    page = await asyncio.to_thread(_page, *read)  # reads the worker processes' files
    return Response(page, media_type=CONTENT_TYPE_LATEST)
