"""Makes `tests.*` helpers importable as modules of the test tree, and starts the PostgreSQL server of the run."""

from collections.abc import Iterator

import pytest

from entrypoints.embedded import throwaway_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An empty database `shuxiang` on a PostgreSQL server of this test run; fails, never skips, when the server
    cannot start."""
    with throwaway_postgres() as url:
        yield url
