"""Errors of the unified catalogue."""

from __future__ import annotations

from backend.errors import InvalidInput, NotFound


class InvalidIsbn(InvalidInput):
    code = "invalid_isbn"
    message_zh = "ISBN 无效：{reason}"
    message_en = "The ISBN is not valid: {reason}"


class RecordNotFound(NotFound):
    code = "record_not_found"
    message_zh = "未找到该书目"
    message_en = "No such catalogue record"
