"""Migration 0004 on a catalogue with barcodes in mixed case: upper-cased, unless two would become one."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from entrypoints.embedded import psql
from tests.integration.defects.test_suspension_scope_migration import _MIGRATE, migrate

_COPIES = (
    "INSERT INTO library (code, name, level, path, phone, latitude, longitude, address, opening_hours, lending, "
    "returns, holds_pickup, events, self_service, timezone, active, created_at, updated_at) "
    "VALUES ('TL', '铜陵市图书馆', 'central', '/1/', '', 0, 0, '', '{{}}', TRUE, TRUE, TRUE, TRUE, FALSE, "
    "'Asia/Shanghai', TRUE, now(), now())",
    "INSERT INTO record (title, subtitle, authors, publisher, clc_class, subjects, language, summary, cover_url, "
    "created_at, updated_at) VALUES ('三体', '', '[]', '', '', '[]', '', '', '', now(), now())",
    "INSERT INTO copy (barcode, record_id, home_library_id, current_library_id, status, item_type, shelf_location, "
    "floating, created_at, updated_at) SELECT b, r.id, l.id, l.id, 'available', 'book', '', FALSE, now(), now() "
    "FROM record r, library l, (VALUES {barcodes}) AS v (b)",
)


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    name = f"barcodes_{uuid.uuid4().hex[:12]}"
    psql(postgres_url, f"CREATE DATABASE {name}")
    yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    psql(postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


def catalogue(database_url: str, *barcodes: str) -> None:
    migrate(database_url, "models.0003_suspension_scope")
    for statement in _COPIES:
        psql(database_url, statement.format(barcodes=", ".join(f"('{b}')" for b in barcodes)))


def test_barcodes_are_upper_cased_and_stripped(database_url: str) -> None:
    catalogue(database_url, "tlc0000001", " TLC0000002", "TLC0000003")

    migrate(database_url, "models.0004_barcode_case")

    assert psql(database_url, "SELECT barcode FROM copy ORDER BY barcode") == [
        ["TLC0000001"],
        ["TLC0000002"],
        ["TLC0000003"],
    ]


def test_barcodes_that_would_become_one_stop_the_migration_and_are_named(database_url: str) -> None:
    catalogue(database_url, "tlc0000001", "TLC0000001", "TLC0000002")

    refused = subprocess.run(
        [sys.executable, "-c", _MIGRATE, database_url, "models.0004_barcode_case"],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert refused.returncode != 0
    assert "differ only in case" in refused.stderr and "tlc0000001 (copy 1), TLC0000001 (copy 2)" in refused.stderr

    assert sorted(psql(database_url, "SELECT barcode FROM copy")) == [["TLC0000001"], ["TLC0000002"], ["tlc0000001"]]
