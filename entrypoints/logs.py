"""Logging for every process: one JSON object a line (or text while developing), each with the id of the request
it was written for, written to stderr by a thread of its own."""

from __future__ import annotations

import contextlib
import logging
import logging.config
import logging.handlers
import multiprocessing.util
import os
import queue
import sys
import time
import weakref
from collections import deque
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import msgspec

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


# A value msgspec cannot encode (an object given in `extra=`) is written as its str(), as json.dumps(default=str) did.
_ENCODER = msgspec.json.Encoder(enc_hook=str)


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
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return _ENCODER.encode(line).decode()


_CAPACITY = 10_000
"""Lines waiting for the writer at most: past them a line is dropped (and counted), never waited for."""
_POLL_SECONDS = 0.02
"""How often the writer looks for lines: it is never woken per line, which would cost a thread switch per request."""
_STOP_SECONDS = 5.0
"""How long stopping waits for the writer to write what waits: a log pipe nobody reads must not hold an exit."""


class _Lines:
    """The queue between the handler and its writer: putting a line is an append that wakes no one (a `queue.Queue`
    would notify the writer, and the thread switch would cost more than the line), the writer takes what is there every
    `_POLL_SECONDS`."""

    def __init__(self) -> None:
        self._lines: deque[logging.LogRecord | None] = deque()

    def put_nowait(self, line: logging.LogRecord) -> None:
        if len(self._lines) >= _CAPACITY:
            raise queue.Full
        self._lines.append(line)

    def put_end(self) -> None:
        self._lines.append(None)  # QueueListener's end-of-lines mark: always taken, after every line before it

    def get(self, block: bool = True) -> logging.LogRecord | None:
        while True:
            try:
                return self._lines.popleft()
            except IndexError:
                if not block:
                    raise queue.Empty from None
                time.sleep(_POLL_SECONDS)


class _Writer(logging.handlers.QueueListener):
    """The thread writing the lines handed to it; stopping it writes what waits first, within a bound."""

    def __init__(self, lines: _Lines, handler: logging.Handler) -> None:
        super().__init__(lines, handler)
        self._lines = lines

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._lines.put_end()
        thread.join(_STOP_SECONDS)
        self._thread = None


class BackgroundStderr(logging.handlers.QueueHandler):
    """Hands each line to a thread that formats and writes it, so a slow log pipe stalls that thread, never the event
    loop and every request with it. While `_CAPACITY` lines wait, a new one is dropped (a line saying how many
    follows) rather than waited for or kept without bound. The process's logging set-up starts it, a new set-up
    (granian's, in each worker process) or the process's exit stops it, writing what waits."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._lines = _Lines()
        super().__init__(self._lines)
        self._stream = logging.StreamHandler(stream or sys.stderr)
        self._writer: _Writer | None = None
        self._dropped = 0
        self._start()
        _RUNNING.add(self)
        _stop_at_exit()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        self._stream.setFormatter(fmt)  # the writer formats, off the caller's thread

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # The message is made now, from the arguments as they are; the rest of the line in the writer's thread.
        if record.args:
            record.msg, record.args = record.getMessage(), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)  # its frames are the caller's
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        if self._writer is None:  # stopped (the process is ending, or forking): written right away
            self._stream.handle(record)
            return
        try:
            if self._dropped:
                self.queue.put_nowait(self._dropped_line())
                self._dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self._dropped += 1

    def _dropped_line(self) -> logging.LogRecord:
        record = logging.makeLogRecord(
            {"name": __name__, "levelno": logging.WARNING, "levelname": "WARNING", "dropped": self._dropped}
        )
        record.msg = f"{self._dropped} log lines dropped: the log pipe did not keep up"
        record.request_id = None
        return record

    def _start(self) -> None:
        with self.lock or contextlib.nullcontext():
            self._writer = _Writer(self._lines, self._stream)
            self._writer.start()

    def _stop(self) -> None:
        with self.lock or contextlib.nullcontext():
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.stop()

    def _restart_in_child(self) -> None:
        # The parent's queue may have been locked by one of its threads at the fork: a new one.
        self.queue = self._lines = _Lines()
        self._start()

    def close(self) -> None:
        self._stop()
        self._stream.flush()
        _RUNNING.discard(self)
        super().close()


_RUNNING: weakref.WeakSet[BackgroundStderr] = weakref.WeakSet()
_stopping_registered_in: int | None = None


def _stop_all() -> None:
    for handler in list(_RUNNING):
        handler._stop()


def _stop_at_exit() -> None:
    # logging.shutdown (atexit) closes the handler at an ordinary exit; a multiprocessing child (granian's worker
    # processes) ends in os._exit without atexit, after multiprocessing's own finalizers, which this one is.
    global _stopping_registered_in
    if _stopping_registered_in != os.getpid():
        multiprocessing.util.Finalize(None, _stop_all, exitpriority=0)
        _stopping_registered_in = os.getpid()


def _resume_all() -> None:
    for handler in list(_RUNNING):
        handler._start()


def _restart_all_in_child() -> None:
    for handler in list(_RUNNING):
        handler._restart_in_child()


# The writers stop (writing what waits) before a fork, so that no lock is held mid-write by a thread the child does
# not have; the parent's go on after it, the child starts its own.
os.register_at_fork(before=_stop_all, after_in_parent=_resume_all, after_in_child=_restart_all_in_child)


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
                "()": BackgroundStderr,
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
