"""CSV files staff open in a spreadsheet program: UTF-8 with a BOM, and no cell the program would run as a formula.

Every CSV export goes through `csv_document`. A reader chooses their own name, so a name such as
`=HYPERLINK("http://evil.example/","x")` would otherwise be a live link (or a DDE command) in the librarian's Excel
or WPS: text cells that start a formula get a leading single quote, which the spreadsheet shows as text (OWASP, CSV
injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# What Excel, WPS and LibreOffice read as the start of a formula (tab and carriage return: they are skipped before
# the rest is parsed).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell's text: text that would start a formula is quoted; numbers and dates are our own and left as they are
    (a negative number stays a number); None is empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
    return str(value)


def csv_document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A CSV file's text, with a BOM so that spreadsheet programs in China read the Chinese right."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return out.getvalue()
