"""The production commands as an operator runs them: `shuxiang migrate`, then `shuxiang bootstrap`."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def shuxiang(data_dir: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env.update(SHUXIANG_DATA_DIR=str(data_dir), SHUXIANG_ADMIN_PASSWORD=password)
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


BOOTSTRAP = (
    "bootstrap",
    "--code",
    "HZ",
    "--name",
    "杭州图书馆",
    "--lat",
    "30.27",
    "--lng",
    "120.16",
    "--admin",
    "root",
)


def test_bootstrap_creates_a_network_all_or_nothing(tmp_path: Path) -> None:
    assert shuxiang(tmp_path, "migrate").returncode == 0

    weak = shuxiang(tmp_path, *BOOTSTRAP, password="short")
    libraries_after_refusal = sqlite3.connect(tmp_path / "shuxiang.sqlite3").execute("SELECT count(*) FROM library")
    assert weak.returncode != 0 and "at least 10 characters" in weak.stderr
    assert libraries_after_refusal.fetchone() == (0,)

    done = shuxiang(tmp_path, *BOOTSTRAP, password="a-long-enough-password")
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "shuxiang.sqlite3")
    assert db.execute("SELECT code, level, path FROM library").fetchall() == [("HZ", "central", "/1/")]
    assert db.execute("SELECT username, role FROM staff_user").fetchall() == [("root", "network_admin")]

    again = shuxiang(tmp_path, *BOOTSTRAP, password="a-long-enough-password")
    assert again.returncode != 0


def test_import_records_loads_a_csv_once_and_reports_bad_rows(tmp_path: Path) -> None:
    assert shuxiang(tmp_path, "migrate").returncode == 0
    assert shuxiang(tmp_path, "seed-demo").returncode == 0
    books = tmp_path / "books.csv"
    books.write_text(
        "isbn,title,authors,year,library,barcode\n"
        "978-7-5366-9293-0,三体,刘慈欣,2008,TL-TG,CSV0000001\n"
        "7536692935,三体,刘慈欣,2008,TL-YA,CSV0000002\n"
        ",无题名馆藏,,2001,TL-NOWHERE,CSV0000003\n",
        encoding="utf-8",
    )

    first = shuxiang(tmp_path, "import-records", str(books))
    again = shuxiang(tmp_path, "import-records", str(books))

    assert first.returncode == 1  # one copy named a library that does not exist
    assert "TL-NOWHERE" in first.stdout + first.stderr
    db = sqlite3.connect(tmp_path / "shuxiang.sqlite3")
    assert db.execute("SELECT count(*) FROM record WHERE isbn13 = '9787536692930'").fetchone() == (1,)
    assert db.execute("SELECT count(*) FROM copy WHERE barcode LIKE 'CSV%'").fetchone() == (2,)
    assert again.returncode == 1
    assert db.execute("SELECT count(*) FROM copy WHERE barcode LIKE 'CSV%'").fetchone() == (2,)
