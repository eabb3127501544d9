"""Loading records and their copies into the union catalogue from MARC (ISO 2709, MARCXML; MARC21, CNMARC) and CSV."""

# Files are read as a stream and written in batches, one transaction each, so a million-record file needs neither a
# million-record memory nor one transaction that a single bad row could roll back. Re-running a file is safe: a
# record is found again by its ISBN-13 (without one, by exact title and first author) and a copy by its barcode, and
# both are updated instead of duplicated. A large file is read, and its records' words segmented for search, in a
# process of its own while this one writes: each has a core.

from __future__ import annotations

from backend.catalog.importer.batches import BATCH_SIZE
from backend.catalog.importer.csv_rows import CSV_COLUMNS
from backend.catalog.importer.entries import ImportProblem
from backend.catalog.importer.pipeline import FORMATS, READER_PROCESS_MIN_BYTES, format_of, import_records
from backend.catalog.importer.writer import ImportProgress, ImportSummary

__all__ = [
    "BATCH_SIZE",
    "CSV_COLUMNS",
    "FORMATS",
    "READER_PROCESS_MIN_BYTES",
    "ImportProblem",
    "ImportProgress",
    "ImportSummary",
    "format_of",
    "import_records",
]
