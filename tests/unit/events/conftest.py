"""Fixtures for journal tests: a fresh journal per test, on each backend.

``journal`` is the contract: every test using it runs on the SQLite file and on a fresh database
of the session's real PostgreSQL server (``tests.support.postgres``; started only when a
PostgreSQL case runs). ``sqlite_journal`` is for what only the SQLite file has (its pragmas, its
read-only reader).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from events.journal import Journal
from tests.support.postgres import pg_url, postgres  # noqa: F401  (fixtures)


@pytest.fixture
def sqlite_journal(tmp_path: Path) -> Iterator[Journal]:
    """An empty SQLite journal in a temporary folder, closed after the test."""
    j = Journal.open(tmp_path / "journal.sqlite")
    yield j
    j.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    """An empty journal on each backend (SQLite file; fresh PostgreSQL database), closed after."""
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else None
    j = Journal.open(tmp_path / "journal.sqlite", url=url)
    yield j
    j.close()
