"""The projection invariants on a PostgreSQL journal: the state folds' incremental == full ==
prefix + catch-up, and the analytics projections rebuilt from PostgreSQL equal to those from
SQLite.

One database for the module, emptied before each example (``TRUNCATE``): creating a database per
example would cost more than the example.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.journal import Journal
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from tests.property.core.harness import append_all, snapshot
from tests.property.core.test_projection_properties import (
    INVARIANT,
    Commands,
    check_state_invariant,
    feeding_every_projection,
)
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def module_journal(postgres: PostgresServer) -> Iterator[Journal]:
    """A journal in a database of the module's own, open for all its examples."""
    journal = Journal.open("", url=postgres.create_database())
    yield journal
    journal.close()


def empty(journal: Journal) -> Journal:
    """``journal``, emptied (a new example starts from nothing)."""
    assert journal.url is not None
    with psycopg.connect(journal.url, autocommit=True) as conn:
        conn.execute("TRUNCATE stored_events, event_chain, command_ids")
    return journal


@settings(INVARIANT, max_examples=50)
@given(cmds=feeding_every_projection(), data=st.data())
def test_state_invariant_holds_on_postgres(
    module_journal: Journal, cmds: Commands, data: st.DataObject
) -> None:
    """For any journal stored in PostgreSQL, each state projection is the same whether it
    followed every append, folded the whole journal, or folded a prefix and caught up. 50
    examples (about 20 s): the 200-example run of the same check is on SQLite
    (tests/property/core); here it proves the backend changes nothing, in a lean suite."""
    check_state_invariant(empty(module_journal), cmds, data)


@settings(INVARIANT, max_examples=10)
@given(cmds=feeding_every_projection())
def test_analytics_rebuilt_from_postgres_equal_those_from_sqlite(
    module_journal: Journal, cmds: Commands
) -> None:
    """For any journal, every analytics projection rebuilt from the PostgreSQL journal has the
    same tables and position as one rebuilt from a SQLite journal of the same commands. 10
    examples: the backend only changes where the bytes are read from; the 200-example
    incremental == rebuild invariant runs on SQLite (tests/property/core)."""
    projections = all_analytics_projections()
    journal = empty(module_journal)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        local = Journal.open(folder / "journal.sqlite")
        try:
            for target in (journal, local):
                append_all(target, cmds)
            assert [r for p in journal.row_pages() for r in p.rows] == [
                r for p in local.row_pages() for r in p.rows
            ]
            rebuild(journal, folder / "pg.duckdb", projections, jobs=1)
            rebuild(local, folder / "sqlite.duckdb", projections, jobs=1)
        finally:
            local.close()
        assert snapshot(folder / "pg.duckdb", projections) == snapshot(
            folder / "sqlite.duckdb", projections
        )
