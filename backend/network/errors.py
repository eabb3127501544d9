"""Errors of the library network."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound, PermissionDenied


class LibraryNotFound(NotFound):
    code = "library_not_found"
    message_zh = "未找到该图书馆或服务点"
    message_en = "No such library or service point"


class InvalidOpeningHours(InvalidInput):
    code = "invalid_opening_hours"
    message_zh = "开放时间格式不正确：{reason}"
    message_en = "Opening hours are not valid: {reason}"


class InvalidParent(InvalidInput):
    code = "invalid_parent_library"
    message_zh = "上级馆不符合总分馆层级"
    message_en = "That parent library does not fit the network's levels"


class LibraryCodeTaken(Conflict):
    code = "library_code_taken"
    message_zh = "馆代码 {code} 已被使用，馆代码在全网唯一"
    message_en = "Library code {code} is already used; library codes are unique across the network"


class OutsideScope(PermissionDenied):
    code = "outside_staff_scope"
    message_zh = "该馆不在您管理的范围内"
    message_en = "That library is outside the libraries you manage"


class UnknownTimezone(InvalidInput):
    code = "unknown_timezone"
    message_zh = "未知的时区：{timezone}"
    message_en = "Unknown time zone: {timezone}"
