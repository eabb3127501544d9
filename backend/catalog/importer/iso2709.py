"""Reading ISO 2709 (binary MARC) files, record by record, past damaged records."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pymarc

from backend.catalog.importer.entries import _READ_SIZE, ImportProblem, _Item
from backend.catalog.importer.marc_fields import _describe, _from_marc

_END_OF_RECORD = b"\x1d"
_LEADER_LENGTH = 24


def _count_iso2709_records(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        while block := stream.read(_READ_SIZE):
            count += block.count(_END_OF_RECORD)
    return count


def _read_iso2709(path: Path) -> Generator[_Item, None, None]:
    """Records split at their end-of-record mark, not by the length their leader declares: a damaged record (bytes
    lost or inserted, a cut leader) then costs that record only, where pymarc's MARCReader stops reading."""
    position = 0
    offset = 0  # of `buffer` in the file
    with path.open("rb") as stream:
        buffer = b""
        while block := stream.read(_READ_SIZE):
            buffer += block
            *chunks, buffer = buffer.split(_END_OF_RECORD)
            for chunk in chunks:
                data = chunk + _END_OF_RECORD
                for start, end in _record_spans(data):
                    position += 1
                    yield from _iso2709_item(position, offset + start, data[start:end])
                offset += len(data)
        if buffer.strip():
            position += 1
            start = offset + len(buffer) - len(buffer.lstrip())
            yield ImportProblem(position, f"at byte {start}: the file ends before the end of this record (truncated)")


def _record_spans(data: bytes) -> list[tuple[int, int]]:
    """The parts of the bytes up to an end-of-record mark that are one record each: usually all of them; a damaged
    record or garbage before a good one is a part of its own."""
    start = len(data) - len(data.lstrip())  # line breaks some tools put between records
    if start == len(data) - 1:
        return []  # nothing but blanks before the mark
    if _declared_length(data, start) == len(data) - start:
        return [(start, len(data))]
    # A record whose declared length ends exactly at this mark, after a damaged one: keep the good one.
    for candidate in range(start + 1, len(data) - _LEADER_LENGTH):
        if _declared_length(data, candidate) == len(data) - candidate:
            return [(start, candidate), (candidate, len(data))]
    return [(start, len(data))]


def _declared_length(data: bytes, start: int) -> int | None:
    head = data[start : start + 5]
    return int(head) if len(head) == 5 and head.isdigit() else None


def _iso2709_item(position: int, offset: int, data: bytes) -> Iterator[_Item]:
    declared = _declared_length(data, 0)
    if declared is None:
        reason = "is not a MARC record (it does not start with a 5-digit record length: a cut leader or stray bytes)"
        yield ImportProblem(position, f"at byte {offset}: {len(data)} bytes skipped: {reason}")
        return
    if declared != len(data):
        reason = f"the leader declares {declared} bytes but the record has {len(data)} (bytes lost or inserted)"
        yield ImportProblem(position, f"at byte {offset}: record skipped: {reason}")
        return
    try:
        marc = pymarc.Record(data, to_unicode=True, **_encoding_of(data))
    except Exception as exc:  # pymarc raises whatever the damage provokes: IndexError, ValueError, its own errors
        yield ImportProblem(position, f"at byte {offset}: record skipped: pymarc cannot parse it ({_describe(exc)})")
        return
    yield from _from_marc(position, marc)


def _encoding_of(data: bytes) -> dict[str, Any]:
    """How to decode the record: leader/09 "a" says UTF-8, but many exports (CNMARC above all) leave it blank."""
    if data[9:10] == b"a":
        return {"force_utf8": True}
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # MARC-8 text with diacritics is almost never valid UTF-8, and ASCII is the same in both.
        return {"force_utf8": True}
    if _is_cnmarc_directory(data):
        return {"file_encoding": "gb18030"}  # what Chinese library systems write when they do not write UTF-8
    return {}  # MARC-8, pymarc's default for MARC21


def _is_cnmarc_directory(data: bytes) -> bool:
    try:
        base = int(data[12:17])
    except ValueError:
        return False
    directory = data[_LEADER_LENGTH : base - 1]
    tags = {directory[i : i + 3] for i in range(0, len(directory), 12)}
    return b"200" in tags and b"245" not in tags
