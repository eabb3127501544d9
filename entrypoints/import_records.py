"""`shuxiang import-records`: a catalogue file into the database, with a progress bar and a summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from backend.catalog.importer import ImportSummary, import_records
from backend.settings import Settings
from entrypoints.cli import with_orm


def run_import(settings: Settings, path: Path, format: str | None) -> int:
    """Import catalogue records and copies from a MARC (ISO 2709), MARCXML or CSV file and print the summary.

    Returns the exit code: 0 when everything was imported, 1 when some records or copies were skipped (the summary
    lists them with their position and the reason).
    """
    # Redrawn in place on a terminal; in a log (output redirected) a line every few seconds is enough.
    bar = ProgressBar(sys.stderr, interval=0.2 if sys.stderr.isatty() else 5.0)
    summaries: list[ImportSummary] = []

    async def work() -> None:
        summaries.append(await import_records(path, format=format, progress=bar))

    try:
        with_orm(settings, work)
    finally:
        bar.finish()
    summary = summaries[0]
    print("\n".join(summary.lines()))
    return 1 if summary.problems else 0


class ProgressBar:
    """Records read so far, and how fast, on stderr; drawn at most every `interval` seconds."""

    WIDTH = 30

    def __init__(self, stream: TextIO, *, interval: float = 0.2, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._drawn_done = -1
        self._latest: tuple[int, int | None] = (0, None)
        self._in_place = stream.isatty()
        self._drawn_width = 0

    def __call__(self, done: int, total: int | None) -> None:
        self._latest = (done, total)
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= self._interval:
            self._draw(now)

    def finish(self) -> None:
        """Draw the final count (the last updates may have come too fast to show) and end the line."""
        if self._drawn_at is None and self._latest[0] == 0:
            return  # nothing was read: no bar to leave behind an error message
        if self._drawn_done != self._latest[0]:
            self._draw(self._clock())
        if self._in_place:
            self._stream.write("\n")
            self._stream.flush()

    def line(self, now: float) -> str:
        done, total = self._latest
        rate = done / max(now - self._started, 1e-6)
        counted = f"{done:,} records  {rate:,.0f}/s"
        if not total:
            return counted
        total = max(total, done)  # damaged stretches of a file can add positions the estimate lacks
        share = done / total
        filled = round(share * self.WIDTH)
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%}  {done:,}/{total:,} records  {rate:,.0f}/s"

    def _draw(self, now: float) -> None:
        self._drawn_at = now
        self._drawn_done = self._latest[0]
        text = self.line(now)
        if self._in_place:
            # Pad over the previous text: a shorter line must not leave its tail on screen.
            self._stream.write("\r" + text.ljust(self._drawn_width))
            self._drawn_width = len(text)
        else:
            self._stream.write(text + "\n")
        self._stream.flush()
