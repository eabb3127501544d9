"""The one form a barcode is stored and looked up in: scanners and spreadsheets disagree on case and spaces."""

from __future__ import annotations


def normalise_barcode(barcode: str) -> str:
    """`tlc0000001 ` and `TLC0000001` are one label on one copy: surrounding spaces dropped, letters upper-cased.
    Every barcode that enters (cataloguing, an import, a desk or self-service scan) passes through here first."""
    return barcode.strip().upper()
