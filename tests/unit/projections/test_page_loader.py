"""The page loader: threaded loading and multi-page transactions give the same tables."""

from __future__ import annotations

from pathlib import Path

import duckdb

from events.journal import Journal
from projections.analytics import Analytics
from projections.base import Batch
from projections.journal_index import CommandAuditProjection
from projections.rebuild import limit_memory
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner, _catch_up, prepare, read_faults
from tests.property.core.harness import snapshot
from tests.unit.projections.conftest import add_commands


def _build(journal: Journal, path: Path, *, page_size: int, commit_every: int) -> None:
    fresh = Analytics(path)
    try:
        projections = all_analytics_projections()
        prepare(fresh, projections)
        _catch_up(
            journal,
            fresh,
            (),
            projections,
            to=None,
            page_size=page_size,
            progress=None,
            commit_every=commit_every,
        )
    finally:
        fresh.close()


def test_threaded_multi_page_transactions_equal_one_page_at_a_time(
    journal: Journal, tmp_path: Path
) -> None:
    """Pages of 4 loaded on the worker, committed every 10 events, equal a plain catch-up."""
    add_commands(journal, 20, start=6)
    _build(journal, tmp_path / "plain.duckdb", page_size=10_000, commit_every=0)
    _build(journal, tmp_path / "threaded.duckdb", page_size=4, commit_every=10)
    projections = all_analytics_projections()
    plain = snapshot(tmp_path / "plain.duckdb", projections)
    assert snapshot(tmp_path / "threaded.duckdb", projections) == plain


class _FailingAudit(CommandAuditProjection):
    """The command audit, failing on the third page it is given."""

    def __init__(self) -> None:
        self.calls = 0

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom")
        super().load_batch(con, batch)


def test_a_failing_page_on_the_worker_rolls_back_and_is_redone_a_page_at_a_time(
    journal: Journal, tmp_path: Path
) -> None:
    """An error on the worker rolls back the open multi-page transaction (DuckDB has no
    savepoints) and the catch-up goes again from what is committed, a page per transaction: no
    row is lost or doubled, and a failure that does not happen again leaves no fault."""
    live = Analytics(tmp_path / "a.duckdb")
    try:
        failing = _FailingAudit()
        prepare(live, [failing])
        _catch_up(
            journal,
            live,
            (),
            [failing],
            to=None,
            page_size=3,
            progress=None,
            commit_every=1_000,
        )
        with live.cursor() as cur:
            row = cur.execute("SELECT COUNT(*), COUNT(DISTINCT position) FROM commands").fetchone()
            faults = read_faults(cur)
        assert row == (6, 6)
        assert failing.calls > 3
        assert faults == {}
        assert live.tracking()["commands"].position == journal.head()
    finally:
        live.close()


def test_a_fresh_file_is_built_under_the_memory_limit(tmp_path: Path) -> None:
    """limit_memory caps DuckDB's buffer pool of the connection building a fresh file."""
    fresh = Analytics(tmp_path / "fresh.duckdb")
    try:
        limit_memory(fresh)
        row = fresh.connection.execute("SELECT current_setting('memory_limit')").fetchone()
    finally:
        fresh.close()
    assert row is not None
    assert row[0] in {"95.3 MiB", "100.0 MB"}


def test_a_projection_ahead_of_the_page_keeps_only_its_new_rows(
    journal: Journal, tmp_path: Path
) -> None:
    """The event index, ahead of the audit, takes only rows above its position from a page."""
    every = all_analytics_projections()
    index = next(p for p in every if p.name == "journal_events")
    ahead = Analytics(tmp_path / "ahead.duckdb")
    ProjectionRunner(journal, ahead, analytics_projections=[index]).catch_up(to=5)
    ProjectionRunner(
        journal, ahead, analytics_projections=[index, CommandAuditProjection()]
    ).catch_up()
    ahead.close()
    both = [index, CommandAuditProjection()]
    straight = Analytics(tmp_path / "straight.duckdb")
    ProjectionRunner(journal, straight, analytics_projections=both).catch_up()
    straight.close()
    assert snapshot(tmp_path / "ahead.duckdb", both) == snapshot(tmp_path / "straight.duckdb", both)
