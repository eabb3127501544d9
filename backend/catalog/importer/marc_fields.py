"""The fields of a MARC record, MARC21 or CNMARC, as a record draft and its copies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import pymarc

from backend.catalog.importer.entries import ImportProblem, _CopyDraft, _Entry, _Item
from backend.catalog.importer.values import _copy, _draft, _isbd, _isbn, _item_type, _language, _name, _role, _year
from backend.catalog.models import ItemType

# A CNMARC 200$f is the statement of responsibility as printed ("刘慈欣著", "曹雪芹, 高鹗著"): the name is what
# precedes the first separator, without the word saying what the person did.
_NAME_SEPARATORS = re.compile(r"[,，、;；]")
_RESPONSIBILITY_WORD = re.compile(r"\s*等?\s*(?:原著|编著|主编|编译|改编|整理|著|编|撰|译|绘)$")


def _from_marc(position: int, marc: pymarc.Record) -> Iterator[_Item]:
    cnmarc = _is_cnmarc(marc)
    try:
        entry = _cnmarc_entry(position, marc) if cnmarc else _marc21_entry(position, marc)
    except Exception as exc:  # a record pymarc accepted with fields shaped unlike MARC (missing data, odd tags)
        yield ImportProblem(position, f"record skipped: its fields cannot be read ({_describe(exc)})")
        return
    if not entry.record.title:
        yield ImportProblem(position, f"record skipped: it has no title ({'200$a' if cnmarc else '245$a'} is empty)")
        return
    yield entry


def _is_cnmarc(marc: pymarc.Record) -> bool:
    return not marc.get_fields("245") and any(f.get_subfields("a") for f in marc.get_fields("200"))


def _marc21_entry(position: int, marc: pymarc.Record) -> _Entry:
    notes: list[ImportProblem] = []
    authors = [
        {"name": name, "role": _role(f.get_subfields("e", "4"))}
        for f in marc.get_fields("100", "700")
        if (name := _name(_first(f.get_subfields("a"))))
    ]
    published = sorted(marc.get_fields("260", "264"), key=lambda f: (f.tag == "264" and f.indicator2 != "1", f.tag))
    fixed = _control(marc, "008")
    clc = _first(_subfields(marc, "093", "a")) or _first(
        v for f in marc.get_fields("084") if f.get("2", "").lower().startswith("clc") for v in f.get_subfields("a")
    )
    record = _draft(
        isbn13=_isbn(position, _subfields(marc, "020", "a"), notes),
        title=_isbd(_first(_subfields(marc, "245", "a"))),
        subtitle=_isbd(_first(_subfields(marc, "245", "b"))),
        authors=authors,
        publisher=_isbd(_first(v for f in published for v in f.get_subfields("b"))),
        year=_year(_first(v for f in published for v in f.get_subfields("c"))) or _year(fixed[7:11]),
        clc_class=clc,
        subjects=_subfields(marc, "650", "a"),
        language=_language(_first(_subfields(marc, "041", "a"))) or _language(fixed[35:38]),
        summary="\n".join(_subfields(marc, "520", "a")),
    )
    default_type = _leader_item_type(marc)
    copies: list[_CopyDraft] = []
    for number, f in enumerate(marc.get_fields("952", "852"), start=1):
        label = f"copy {number} ({f.tag})"
        if f.tag == "952":  # Koha: $a home library, $b where it is, $o call number, $c shelving location, $y type
            home, current = _first(f.get_subfields("a")), _first(f.get_subfields("b"))
            shelf = _first(f.get_subfields("o")) or _first(f.get_subfields("c"))
            item_type = _item_type(_first(f.get_subfields("y")), default_type)
        else:  # 852: $b location, $h classification part and $i item part of the call number
            home, current = _first(f.get_subfields("b")), ""
            shelf = " ".join(f.get_subfields("h", "i"))
            item_type = default_type
        barcode = _first(f.get_subfields("p"))
        copies.append(_copy(position, label, barcode, home or current, current, shelf, item_type))
    return _Entry(position, record, copies, notes)


def _cnmarc_entry(position: int, marc: pymarc.Record) -> _Entry:
    notes: list[ImportProblem] = []
    added = [
        {"name": name, "role": "author" if f.tag == "701" else _role(f.get_subfields("4"))}
        for f in marc.get_fields("701", "702")
        if (name := _unimarc_name(f))
    ]
    # 701 is the catalogued main author; 200$f only repeats it as printed, so it stands in when 701 is absent.
    if not marc.get_fields("701"):
        first = _first(_NAME_SEPARATORS.split(_first(_subfields(marc, "200", "f")))[:1])
        name = _RESPONSIBILITY_WORD.sub("", first).strip()
        if name:
            added.insert(0, {"name": name, "role": "author"})
    general = _first(_subfields(marc, "100", "a"))  # 100$a/09-12: the first publication date
    record = _draft(
        isbn13=_isbn(position, _subfields(marc, "010", "a"), notes),
        title=_isbd(_first(_subfields(marc, "200", "a"))),
        subtitle=_isbd(_first(_subfields(marc, "200", "e"))),
        authors=added,
        publisher=_isbd(_first(_subfields(marc, "210", "c") + _subfields(marc, "214", "c"))),
        year=_year(_first(_subfields(marc, "210", "d") + _subfields(marc, "214", "d"))) or _year(general[9:13]),
        clc_class=_first(_subfields(marc, "690", "a")),
        subjects=_subfields(marc, "606", "a"),
        language=_language(_first(_subfields(marc, "101", "a"))),
        summary="\n".join(_subfields(marc, "330", "a")),
    )
    default_type = _leader_item_type(marc)
    copies: list[_CopyDraft] = []
    for number, f in enumerate(marc.get_fields("905"), start=1):
        # $d class number and $e book number make the call number (索书号), written "I247.55/12".
        shelf = "/".join(f.get_subfields("d", "e"))
        label = f"copy {number} (905)"
        barcode = _first(f.get_subfields("b"))
        copies.append(_copy(position, label, barcode, _first(f.get_subfields("a")), "", shelf, default_type))
    return _Entry(position, record, copies, notes)


def _subfields(marc: pymarc.Record, tag: str, code: str) -> list[str]:
    return [value.strip() for f in marc.get_fields(tag) for value in f.get_subfields(code) if value.strip()]


def _control(marc: pymarc.Record, tag: str) -> str:
    fields = marc.get_fields(tag)
    return (fields[0].data or "") if fields else ""


def _first(values: Iterable[str]) -> str:
    return next((value.strip() for value in values if value.strip()), "")


def _unimarc_name(f: pymarc.Field) -> str:
    # $a is the entry element; $b the rest of a Western name ("Liu" + "Ken"); Chinese names are whole in $a.
    surname, forename = _first(f.get_subfields("a")), _first(f.get_subfields("b"))
    return _name(f"{surname}, {forename}" if surname and forename else surname)


def _leader_item_type(marc: pymarc.Record) -> ItemType:
    # Leader/06 type of record and /07 bibliographic level mean the same in MARC21 and UNIMARC.
    leader = str(marc.leader)
    if leader[6:7] in ("g", "i", "j"):  # projected medium, sound recordings
        return ItemType.AUDIOVISUAL
    if leader[7:8] == "s":
        return ItemType.PERIODICAL
    return ItemType.BOOK


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
