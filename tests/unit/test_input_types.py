from datetime import UTC, date, datetime
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
import pytest
from litestar.datastructures import UploadFile
from litestar.params import ParameterKwarg
from litestar.typing import FieldDefinition

from backend.settings import SecuritySettings, Settings
from miniprogram_api.app import create_app
from miniprogram_api.schemas import TYPE_DECODERS, BigRowId, Day, Moment, RowId, matching, text


def _read(value: Any, kind: Any) -> Any:
    """A value read as the app reads it: msgspec, with the app's decoders for the shared types."""

    def decode(target: Any, raw: Any) -> Any:
        return next(decoder for accepts, decoder in TYPE_DECODERS if accepts(target))(target, raw)

    return msgspec.convert(value, kind, dec_hook=decode)


def _refused(value: Any, kind: Any) -> bool:
    try:
        _read(value, kind)
    except msgspec.ValidationError:
        return True
    return False


Line = Annotated[str, text(20)]
Lines = Annotated[str, text(20, multi_line=True)]
YearMonth = Annotated[str, matching(r"[0-9]{4}-[0-9]{2}")]


def test_a_code_must_match_whole_not_up_to_a_trailing_newline() -> None:
    assert _read("2020-01", YearMonth) == "2020-01"
    assert all(_refused(month, YearMonth) for month in ("2020-01\n", "x2020-01", "2020-01x", "\n2020-01", "٢٠٢٠-٠١"))


def test_one_line_text_refuses_every_control_character() -> None:
    assert _read("书香 Shuxiang ☺", Line) == "书香 Shuxiang ☺"
    for control in ("\x00", "\n", "\t", "\r", "\x1b", "\x7f", "\x85", "\x9f"):
        assert _refused(f"a{control}b", Line), repr(control)
        assert _refused(f"ab{control}", Line), repr(control)


def test_text_of_several_lines_keeps_newlines_and_tabs_but_no_other_control_character() -> None:
    assert _read("第一段\n\n第二段\t完\n", Lines) == "第一段\n\n第二段\t完\n"
    assert all(_refused(f"a{control}b", Lines) for control in ("\x00", "\r", "\x0b", "\x1b", "\x7f", "\x85"))


def test_text_is_bounded_in_length() -> None:
    assert _read("字" * 20, Line) == "字" * 20
    assert _refused("字" * 21, Line)


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "1899-12-31T23:59:59+00:00",
        "2201-01-01T00:00:00+08:00",
        "2026-12-12T10:00:00",  # no offset: whose ten o'clock?
        "2026-13-01T10:00:00Z",
        "soon",
        20261212,
    ],
)
def test_a_moment_out_of_the_years_1900_to_2200_or_without_its_offset_is_refused(moment: Any) -> None:
    assert _refused(moment, Moment)
    assert _refused({"at": moment}, dict[str, Moment])


def test_a_moment_within_the_years_keeps_its_offset() -> None:
    read = _read("2026-12-12T10:00:00+08:00", Moment)

    assert isinstance(read, Moment)
    assert read == datetime(2026, 12, 12, 2, 0, tzinfo=UTC)
    assert read.utcoffset() is not None and read.utcoffset().total_seconds() == 8 * 3600  # type: ignore[union-attr]
    assert _read("1900-01-01T00:00:00Z", Moment).year == 1900
    assert _read("2200-12-31T23:59:59+14:00", Moment).year == 2200


def test_a_day_is_a_date_in_the_years_1900_to_2200() -> None:
    assert _read("2026-12-12", Day) == date(2026, 12, 12)
    assert isinstance(_read("2026-12-12", Day), Day)
    assert all(_refused(day, Day) for day in ("0001-01-01", "9999-12-31", "1899-12-31", "2026-02-30", "12/12/2026"))


def test_row_ids_are_bounded_by_their_column() -> None:
    assert _read(2**31 - 1, RowId) == 2**31 - 1
    assert all(_refused(row, RowId) for row in (0, -1, 2**31, 2**63))
    assert _read(2**63 - 1, BigRowId) == 2**63 - 1
    assert all(_refused(row, BigRowId) for row in (0, 2**63, 10**20))


def _routes() -> list[tuple[str, Any]]:
    app = create_app(Settings(security=SecuritySettings(secret_key="unit-test-secret-0123456789")))
    return [
        (f"{method} {route.path}", handler)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        for method in sorted(handler.http_methods)
    ]


def _parameters(handler: Any) -> dict[str, FieldDefinition]:
    """A handler's path and query parameters, its dependencies' included (a child's id is one)."""
    found = dict(handler.parsed_fn_signature.parameters)
    for provide in handler.resolve_dependencies().values():
        found.update(provide.parsed_fn_signature.parameters)
    return {name: field for name, field in found.items() if name != "data" and _is_input(field)}


def _is_input(field: FieldDefinition) -> bool:
    kind = _bare(field.annotation)
    return isinstance(field.kwarg_definition, ParameterKwarg) or kind in (int, float, str, Moment, Day)


def _bare(annotation: Any) -> Any:
    options = [option for option in get_args(annotation) if option is not type(None)]
    return options[0] if get_origin(annotation) in (Union, UnionType) and len(options) == 1 else annotation


def _unbounded_parameter(field: FieldDefinition) -> str | None:
    kind, bounds = _bare(field.annotation), field.kwarg_definition
    if kind in (int, float):
        low = bounds is not None and (bounds.ge is not None or bounds.gt is not None)
        high = bounds is not None and (bounds.le is not None or bounds.lt is not None)
        return None if low and high else "a number without both bounds"
    if kind is str:
        if bounds is None or bounds.pattern is None:
            return "a string without the text rule or a pattern"
        return None if bounds.pattern.endswith(r"$(?!\n)") else f"a pattern that does not match whole: {bounds.pattern}"
    return None


def _bounded_dates(kind: Any) -> dict[str, Any]:
    if kind in (Moment, Day):
        return {"type": "string", "bounded": True}
    if kind is UploadFile:  # a file's bytes: bounded by its route's request_max_body_size (checked below)
        return {"type": "string", "bounded": True, "upload": True}
    raise NotImplementedError(kind)


def _body_fields(body: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every field of a request body, nested ones included, as msgspec reads it (constraints on list items too)."""
    (root,), definitions = msgspec.json.schema_components([body], schema_hook=_bounded_dates)
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(name: str, schema: dict[str, Any], seen: frozenset[str]) -> None:
        if "$ref" in schema:
            ref = schema["$ref"].rsplit("/", 1)[-1]
            if ref not in seen:
                walk(name, definitions[ref], seen | {ref})
            return
        for option in schema.get("anyOf", []):
            walk(name, option, seen)
        if "anyOf" in schema:
            return
        found.append((name, schema))
        for field, inner in schema.get("properties", {}).items():
            walk(f"{name}.{field}", inner, seen)
        if isinstance(schema.get("items"), dict):
            walk(f"{name}[]", schema["items"], seen)
        if isinstance(schema.get("additionalProperties"), dict):
            walk(f"{name}{{}}", schema["additionalProperties"], seen)
        if isinstance(schema.get("propertyNames"), dict):
            walk(f"{name}{{key}}", {"type": "string", **schema["propertyNames"]}, seen)

    walk("body", root, frozenset())
    return found


def _unbounded_field(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and not schema.get("bounded"):
        if schema.get("format") in ("time", "partial-time"):  # a wall-clock time: no date, nothing to overflow
            return None
        if "format" in schema:
            return f"a {schema['format']} without the shared bounds (Moment, Day)"
        pattern = schema.get("pattern")
        if pattern is None:
            return "a string without the text rule or a pattern"
        if not (pattern.startswith("^") and pattern.endswith(r"$(?!\n)")):
            return f"a pattern that does not match whole: {pattern}"
        if "maxLength" not in schema and "{" not in pattern:
            return "a string of unbounded length"
    if kind in ("integer", "number"):
        low = "minimum" in schema or "exclusiveMinimum" in schema
        high = "maximum" in schema or "exclusiveMaximum" in schema
        if not (low and high):
            return "a number without both bounds"
    if kind == "array" and "maxItems" not in schema:
        return "a list of unbounded length"
    if kind == "object" and "properties" not in schema and "maxProperties" not in schema:
        return "a mapping of unbounded size"
    return None


def test_every_input_of_every_operation_is_bounded() -> None:
    unbounded: dict[str, str] = {}
    bodies = 0
    for label, handler in _routes():
        if " /docs" in label:  # Litestar's own pages of the OpenAPI document
            continue
        for name, field in _parameters(handler).items():
            if (why := _unbounded_parameter(field)) is not None:
                unbounded[f"{label} {name}"] = why
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is not None:
            bodies += 1
            for name, schema in _body_fields(data.annotation):
                if (why := _unbounded_field(schema)) is not None:
                    unbounded[f"{label} {name}"] = why
                if schema.get("upload") and handler.resolve_request_max_body_size() is None:
                    unbounded[f"{label} {name}"] = "an upload without a request_max_body_size"

    assert bodies > 30  # the walk reached the request bodies
    assert unbounded == {}
