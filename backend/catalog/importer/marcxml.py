"""Reading MARCXML files as a stream, past records pymarc cannot take."""

from __future__ import annotations

import xml.sax
from collections.abc import Generator
from pathlib import Path
from typing import Any
from xml.sax.handler import feature_external_ges, feature_namespaces

import pymarc

from backend.catalog.importer.entries import _READ_SIZE, ImportProblem, _Item
from backend.catalog.importer.marc_fields import _describe, _from_marc


class _Collector(pymarc.XmlHandler):
    """Collects the records as they are completed; a record whose elements pymarc cannot take (a datafield
    without a tag, a subfield without a code) is collected as the error instead, and the next one is read."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # pymarc's XmlHandler is untyped
        self.parsed: list[pymarc.Record | Exception] = []
        self._broken: Exception | None = None

    def startElementNS(self, name: tuple[str | None, str], qname: str | None, attrs: Any) -> None:
        if name[1] == "record":
            self._broken = None
        if self._broken is None:
            try:
                super().startElementNS(name, qname, attrs)  # type: ignore[no-untyped-call]
            except Exception as exc:  # whatever pymarc raises on the element: KeyError, ValueError...
                self._broken = exc

    def endElementNS(self, name: tuple[str | None, str], qname: str | None) -> None:
        if name[1] == "record" and self._broken is not None:
            self.parsed.append(self._broken)
            self._broken = None
            return
        if self._broken is None:
            try:
                super().endElementNS(name, qname)  # type: ignore[no-untyped-call]
            except Exception as exc:
                self._broken = exc

    def process_record(self, record: pymarc.Record) -> None:
        self.parsed.append(record)


def _read_marcxml(path: Path) -> Generator[_Item, None, None]:
    """pymarc's SAX handler fed block by block: records come out as their closing tag is read."""
    collector = _Collector()
    parser = xml.sax.make_parser()
    parser.setContentHandler(collector)
    parser.setFeature(feature_namespaces, True)
    parser.setFeature(feature_external_ges, False)  # a catalogue file has no business reading other files
    position = 0
    failure: Exception | None = None
    with path.open("rb") as stream:
        while True:
            block = stream.read(_READ_SIZE)
            try:
                if block:
                    parser.feed(block)  # type: ignore[attr-defined]  # expat's reader is incremental
                else:
                    parser.close()  # type: ignore[attr-defined]
            except Exception as exc:  # not well-formed XML, or an element pymarc cannot make a field of
                failure = exc
            for marc in collector.parsed:
                position += 1
                if isinstance(marc, Exception):
                    yield ImportProblem(position, f"record skipped: pymarc cannot read it ({_describe(marc)})")
                else:
                    yield from _from_marc(position, marc)
            collector.parsed.clear()
            if failure is not None:
                reason = f"the XML cannot be read from here on ({_describe(failure)}); the rest of the file is skipped"
                yield ImportProblem(position + 1, reason)
                return
            if not block:
                return
