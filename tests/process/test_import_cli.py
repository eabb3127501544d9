"""`shuxiang import-records` on a catalogue large enough to be read in a process of its own, into the embedded
default's PostgreSQL."""

import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.embedded import psql, start_postgres, throwaway_data_dir


def shuxiang(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env.update(SHUXIANG_DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def embedded() -> Iterator[tuple[Path, str]]:
    """The data directory of an embedded installation and the URL of its PostgreSQL, held by the test: the commands
    join the server (as they join the one `shuxiang run` started) and leave it running when they exit."""
    with throwaway_data_dir() as path:
        server, database_url = start_postgres(path)
        try:
            yield path, database_url
        finally:
            server.cleanup()


def test_a_large_catalogue_is_imported_whole_and_once(embedded: tuple[Path, str], tmp_path: Path) -> None:
    installation, database_url = embedded
    assert shuxiang(installation, "migrate").returncode == 0
    assert shuxiang(installation, "seed-demo").returncode == 0
    books = tmp_path / "books.csv"
    with books.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["title", "authors", "summary", "library", "barcode"])
        for n in range(3000):
            library = "TL-TG" if n % 2 else "TL-YA"
            writer.writerow(
                [f"铜陵乡土读本 第{n}册", f"编委会{n % 7}", "江南小城的街巷与人物。" * 8, library, f"BIG{n:07d}"]
            )
    assert books.stat().st_size > 512 * 1024

    first = shuxiang(installation, "import-records", str(books))
    again = shuxiang(installation, "import-records", str(books))

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[:3] == [
        "records: 3000 created, 0 updated",
        "copies: 3000 created, 0 updated",
        "problems: 0",
    ]
    assert "3,000 records" in first.stderr  # the progress bar's last count
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[:2] == ["records: 0 created, 3000 updated", "copies: 0 created, 3000 updated"]
    assert psql(database_url, "SELECT count(*) FROM copy WHERE barcode LIKE 'BIG%'") == [["3000"]]
    assert psql(database_url, "SELECT count(*) FROM record WHERE title LIKE '铜陵乡土读本%'") == [["3000"]]
