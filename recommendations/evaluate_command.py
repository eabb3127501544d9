"""`shuxiang recs evaluate`: read the files, run the evaluation, print the table and write the JSON."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from recommendations.evaluation import Evaluation, evaluate
from recommendations.loans_csv import MalformedFile, read_items, read_loans, read_readers


class BadArguments(ValueError):
    """Arguments the evaluation cannot run with."""


def parse_cutoffs(text: str) -> list[date]:
    try:
        cutoffs = [date.fromisoformat(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadArguments(f"--cutoffs takes dates as YYYY-MM-DD separated by commas, not {text!r}") from None
    if not cutoffs:
        raise BadArguments("--cutoffs needs at least one date")
    return sorted(cutoffs)


def run_evaluation(
    loans: Path,
    items: Path | None,
    readers: Path | None,
    cutoffs: str,
    horizon_days: int,
    json_path: Path | None,
) -> Evaluation:
    """Evaluate every method on the files; raises `MalformedFile` (with the line) or `BadArguments`."""
    if horizon_days <= 0:
        raise BadArguments("--horizon-days must be positive")
    dates = parse_cutoffs(cutoffs)
    log = read_loans(loans)
    if len(log) == 0:
        raise MalformedFile(loans, 2, "no loans")
    result = evaluate(
        log,
        read_items(items) if items else {},
        read_readers(readers) if readers else {},
        dates,
        horizon_days,
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
