"""The production commands as an operator runs them against a PostgreSQL server: `shuxiang migrate`, then
`shuxiang bootstrap`."""

import os
import subprocess
import sys
from pathlib import Path

from entrypoints.embedded import psql


def shuxiang(database_url: str, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env.update(
        SHUXIANG_DATABASE_URL=database_url,
        SHUXIANG_SECRET_KEY="an-operator-chosen-secret-key",
        SHUXIANG_ADMIN_PASSWORD=password,
    )
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
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


def test_bootstrap_creates_a_network_all_or_nothing(database_url: str) -> None:
    assert shuxiang(database_url, "migrate").returncode == 0

    weak = shuxiang(database_url, *BOOTSTRAP, password="short")
    libraries_after_refusal = psql(database_url, "SELECT count(*) FROM library")
    assert weak.returncode != 0 and "at least 10 characters" in weak.stderr
    assert libraries_after_refusal == [["0"]]

    done = shuxiang(database_url, *BOOTSTRAP, password="a-long-enough-password")
    assert done.returncode == 0, done.stderr
    assert psql(database_url, "SELECT code, level, path = '/' || id || '/' FROM library") == [["HZ", "central", "t"]]
    assert psql(database_url, "SELECT username, role FROM staff_user") == [["root", "network_admin"]]

    again = shuxiang(database_url, *BOOTSTRAP, password="a-long-enough-password")
    assert again.returncode != 0


def test_import_records_loads_a_csv_once_and_reports_bad_rows(database_url: str, tmp_path: Path) -> None:
    assert shuxiang(database_url, "migrate").returncode == 0
    assert shuxiang(database_url, "seed-demo").returncode == 0
    books = tmp_path / "books.csv"
    books.write_text(
        "isbn,title,authors,year,library,barcode\n"
        "978-7-5366-9293-0,三体,刘慈欣,2008,TL-TG,CSV0000001\n"
        "7536692935,三体,刘慈欣,2008,TL-YA,CSV0000002\n"
        ",无题名馆藏,,2001,TL-NOWHERE,CSV0000003\n",
        encoding="utf-8",
    )

    first = shuxiang(database_url, "import-records", str(books))
    copies_after_first = psql(database_url, "SELECT count(*) FROM copy WHERE barcode LIKE 'CSV%'")
    again = shuxiang(database_url, "import-records", str(books))

    assert first.returncode == 1  # one copy named a library that does not exist
    assert "TL-NOWHERE" in first.stdout + first.stderr
    assert psql(database_url, "SELECT count(*) FROM record WHERE isbn13 = '9787536692930'") == [["1"]]
    assert copies_after_first == [["2"]]
    assert again.returncode == 1
    assert psql(database_url, "SELECT count(*) FROM copy WHERE barcode LIKE 'CSV%'") == [["2"]]


def test_a_command_refuses_settings_it_cannot_use_naming_each_variable_without_a_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUXIANG_")}
    env.update(SHUXIANG_HOLD_SHELF_DAY="3", SHUXIANG_HOLDS_PREFER_LOCAL="sometimes")
    refused = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )

    assert refused.returncode == 1
    assert "SHUXIANG_HOLD_SHELF_DAY: not a setting (did you mean SHUXIANG_HOLD_SHELF_DAYS?)" in refused.stderr
    assert "SHUXIANG_HOLDS_PREFER_LOCAL: 'sometimes' is not a bool" in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
