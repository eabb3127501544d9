"""Migration 0003 on a database with suspensions: those set before levels were recorded become the network's."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from entrypoints.embedded import psql

_MIGRATE = (
    "import asyncio, sys; from backend import db; from tortoise.migrations.api.migrate import migrate; "
    "asyncio.run(migrate(config=db.tortoise_config(sys.argv[1]), target=sys.argv[2]))"
)


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    name = f"suspensions_{uuid.uuid4().hex[:12]}"
    psql(postgres_url, f"CREATE DATABASE {name}")
    yield urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
    psql(postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


def migrate(database_url: str, target: str) -> None:
    subprocess.run([sys.executable, "-c", _MIGRATE, database_url, target], check=True, timeout=120)


def test_suspensions_set_before_the_migration_are_the_networks_to_lift(database_url: str) -> None:
    migrate(database_url, "models.0002_circulation_terms")
    psql(
        database_url,
        "INSERT INTO reader (card_number, reader_type, name, keeps_reading_history, created_at, updated_at) "
        "VALUES ('20000000014', 'adult', '', FALSE, now(), now())",
    )
    psql(
        database_url,
        "INSERT INTO suspension (reader_id, kind, reason, starts_at) "
        "SELECT id, 'blacklisted', '恶意损毁图书', now() FROM reader",
    )

    migrate(database_url, "models.0003_suspension_scope")
    psql(
        database_url,
        "INSERT INTO suspension (reader_id, kind, reason, starts_at) "  # as code that does not know levels would
        "SELECT id, 'suspended', '长期逾期未还', now() FROM reader",
    )

    assert psql(database_url, "SELECT scope_path FROM suspension ORDER BY id") == [["/"], ["/"]]
