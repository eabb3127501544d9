"""The process tests' fixtures: a database of a test's own on the run's PostgreSQL server."""

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from entrypoints.embedded import psql


@pytest.fixture
def database_url(postgres_url: str) -> Iterator[str]:
    """An empty database of its own on the test run's PostgreSQL server."""
    name = f"cli_{uuid.uuid4().hex[:12]}"
    psql(postgres_url, f"CREATE DATABASE {name}")
    yield other_database(postgres_url, name)
    psql(postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


def other_database(database_url: str, name: str) -> str:
    """The URL of database `name` on the same server."""
    return urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
