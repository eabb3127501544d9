"""Logging for every process: one JSON object a line (or text while developing), each with the id of the request
it was written for."""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from backend.settings import LogSettings

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being served (set by the API for the length of each request), on every line logged
meanwhile, in the worker's lines none."""

# A record's own attributes; anything else on it came in `extra=` and is written as a field of its own.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (a filter of the handler, so every logger's lines get it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """time (UTC, ISO 8601), level, logger, message, request_id, the fields given in `extra=`, and an exception's
    traceback as the field `traceback`, so a multi-line traceback stays one line of the log."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        line.update((key, value) for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


_TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def dict_config(settings: LogSettings) -> dict[str, Any]:
    """The `logging.config.dictConfig` of every process; granian applies it in each of its worker processes too."""
    formatter = {"()": JsonFormatter} if settings.format == "json" else {"format": _TEXT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
        # granian's own loggers otherwise write plain text to stdout: they go through the root's handler instead.
        "loggers": {"_granian": {"propagate": True}, "granian.access": {"propagate": True}},
    }


def configure(settings: LogSettings) -> None:
    logging.config.dictConfig(dict_config(settings))
