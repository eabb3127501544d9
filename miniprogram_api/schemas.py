"""Field types shared by every area's request shapes: every input, in a path, a query or a body, is bounded here.

A number is bounded by the column it ends in, a date by the years the network can mean, a code by a pattern the whole
value must match, and free text by one rule (no control characters, a bounded length), so that no input reaches
PostgreSQL or the domain in a shape they cannot hold: a client's mistake is a 400 naming the field, never a 500.
Types for paths and queries carry a Litestar `Parameter`, types for bodies a `msgspec.Meta`; the shared ones carry both.
"""

from __future__ import annotations

import inspect
from datetime import date, datetime
from typing import Annotated, Any, Generic, Self, TypeVar

import msgspec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import KwargDefinition, Parameter, ParameterKwarg
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_OFFSET = 100_000
"""The furthest a client may page into a list; past it, narrow the query."""
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
"""The years a date or time may fall in: far from the ends of what Python (1..9999) and PostgreSQL hold, so a moment
moved to UTC or given a few days more still fits."""


def whole(pattern: str) -> str:
    """`pattern` as one the whole value must match. msgspec and Litestar match with `re.search`, and `$` also matches
    before a trailing newline, so `^[a-z]+$` takes "abc\\n"; `(?!\\n)` after it closes that gap, and, unlike `\\Z`,
    reads the same in the ECMAScript dialect that OpenAPI clients use."""
    return rf"^(?:{pattern})$(?!\n)"


# No control characters (C0, DEL, C1): PostgreSQL cannot store a NUL, and the rest have no place in what people type.
# (No lone surrogate, which UTF-8 cannot encode, ever arrives: msgspec refuses one in JSON as malformed, and a query
# or path decodes bytes that are not UTF-8 to U+FFFD.)
_LINE_CHARACTER = r"[^\x00-\x1f\x7f-\x9f]"
# The same, but for newline and tab, in text of several lines (a description, a summary).
_TEXT_CHARACTER = r"[^\x00-\x08\x0b-\x1f\x7f-\x9f]"
PLAIN_TEXT = whole(f"{_LINE_CHARACTER}*")
MULTI_LINE_TEXT = whole(f"{_TEXT_CHARACTER}*")


def text(max_length: int, min_length: int = 0, *, multi_line: bool = False) -> msgspec.Meta:
    """The one rule of free text in a body, `Annotated[str, text(50)]`: a bounded length, no control characters (but
    newline and tab in `multi_line` text)."""
    return msgspec.Meta(
        min_length=min_length, max_length=max_length, pattern=MULTI_LINE_TEXT if multi_line else PLAIN_TEXT
    )


def text_param(max_length: int, description: str | None = None) -> ParameterKwarg:
    """The same rule for free text in a query, `Annotated[str, text_param(50)]` (one line)."""
    parameter: ParameterKwarg = Parameter(max_length=max_length, pattern=PLAIN_TEXT, description=description)
    return parameter


def matching(pattern: str, description: str | None = None) -> msgspec.Meta:
    """A code in a body: the whole value matches `pattern` (a regular expression without anchors)."""
    return msgspec.Meta(pattern=whole(pattern), description=description)


def matching_param(pattern: str, description: str | None = None) -> ParameterKwarg:
    """A code in a path or query: the whole value matches `pattern` (a regular expression without anchors)."""
    parameter: ParameterKwarg = Parameter(pattern=whole(pattern), description=description)
    return parameter


def web_address(max_length: int, *, schemes: str = "https?") -> msgspec.Meta:
    """A web address in a body, or empty: one of `schemes` (a pattern), then no spaces or control characters."""
    return msgspec.Meta(max_length=max_length, pattern=whole(rf"(?:{schemes}://[^\x00-\x20\x7f-\x9f]+)?"))


def page_size(most: int, description: str | None = None) -> ParameterKwarg:
    """A page's `limit`: 1 to `most`."""
    parameter: ParameterKwarg = Parameter(ge=1, le=most, description=description or f"How many to return, 1 to {most}")
    return parameter


# A row id, in a path, a query or a body: bounded to its column (integer or bigint), so an absurd id is a 400, not an
# overflow in the database.
RowId = Annotated[int, Parameter(ge=1, le=INT32_MAX), msgspec.Meta(ge=1, le=INT32_MAX)]
BigRowId = Annotated[int, Parameter(ge=1, le=INT64_MAX), msgspec.Meta(ge=1, le=INT64_MAX)]
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="How many to skip")]
# The two page sizes of the lists (a list whose items cost more to make, like search, may take fewer): as many as a
# reader scrolls through on one screen of the mini-program, and as many as a librarian works through at a desk.
ReaderLimit = Annotated[int, page_size(50)]
# Where the reader is, for distances and "near me": both or neither (the operation says what it does with one).
Latitude = Annotated[float | None, Parameter(ge=-90, le=90, description="Reader's position")]
Longitude = Annotated[float | None, Parameter(ge=-180, le=180)]
StaffLimit = Annotated[int, page_size(200)]

_CARD_NUMBER = "A reader card's number as printed, typed or scanned from its barcode"
# A reader card's number, in a path or a body, as staff or readers type it: spaces, dashes and full-width digits are
# allowed here and dropped or read as digits by the one service function that reads a number
# (`backend.accounts.cards.normalise_card_number`), which answers `card_number_invalid` for a number of the wrong shape
# or with a check digit that does not match.
CardNumber = Annotated[
    str,
    Parameter(min_length=1, max_length=40, pattern=PLAIN_TEXT, description=_CARD_NUMBER),
    msgspec.Meta(min_length=1, max_length=40, pattern=PLAIN_TEXT, description=_CARD_NUMBER),
]

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    """One page of a list: `limit` items from `offset` on, of `total`. Every list answers in this shape, asked for
    with `limit` and `offset`."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None
    """The `offset` of the next page; null on the last one."""

    @classmethod
    def of(cls, items: list[T], total: int, limit: int, offset: int, **extra: Any) -> Self:
        """The page, its `next_offset` worked out; `extra`: the fields a subclass adds (whether picks are personal)."""
        # By name: a subclass adding fields takes them as keywords only.
        following = next_offset(total, limit, offset)
        return cls(items=items, total=total, limit=limit, offset=offset, next_offset=following, **extra)


def next_offset(total: int, limit: int, offset: int) -> int | None:
    """Where the page after this one starts, unless this one is the last or the next is past what may be asked."""
    following = offset + limit
    return following if following < total and following <= MAX_OFFSET else None


def named(component: str) -> KwargDefinition:
    """A response type's name in the OpenAPI document, `LoanPage = Annotated[Page[LoanOut], named("LoanPage")]`:
    Litestar names a generic type after the full module path of its arguments."""
    return KwargDefinition(schema_component_key=component)


class Moment(datetime):
    """A date and time with its UTC offset ("10:00" alone would be read as UTC), in the years 1900 to 2200; given as
    ISO 8601, e.g. `2026-12-12T10:00:00+08:00`."""


class Day(date):
    """A calendar date in the years 1900 to 2200, e.g. `2026-12-12`."""


_AWARE = Annotated[datetime, msgspec.Meta(tz=True)]


def _within_years(value: date) -> None:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"Expected a date in the years {EARLIEST_YEAR} to {LATEST_YEAR}")


def _decode_moment(_: type[Moment], value: Any) -> Moment:
    try:
        moment = msgspec.convert(value, _AWARE)
    except msgspec.ValidationError as error:  # a dec_hook reports a refusal as ValueError, located by msgspec
        raise ValueError(f"Expected a date and time with its offset: {error}") from None
    _within_years(moment)
    return Moment.combine(moment.date(), moment.timetz())


def _decode_day(_: type[Day], value: Any) -> Day:
    try:
        day = msgspec.convert(value, date)
    except msgspec.ValidationError as error:
        raise ValueError(f"Expected a date: {error}") from None
    _within_years(day)
    return Day(day.year, day.month, day.day)


TYPE_DECODERS: list[tuple[Any, Any]] = [
    (lambda kind: kind is Moment, _decode_moment),
    (lambda kind: kind is Day, _decode_day),
]
"""How `Moment` and `Day` are read from a path, a query or a body (the app's `type_decoders`)."""


class BoundedDatesSchema(OpenAPISchemaPlugin):
    """`Moment` and `Day` in the OpenAPI document: ISO 8601 strings, their bounds in the description."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is Moment or value is Day

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        moment = field_definition.annotation is Moment
        return Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.DATE_TIME if moment else OpenAPIFormat.DATE,
            description=inspect.cleandoc((Moment if moment else Day).__doc__ or ""),
        )
