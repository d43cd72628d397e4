"""The projection runner: resumable catch-up, idempotence, schema resets, atomic rebuilds."""

from __future__ import annotations

from pathlib import Path

from events.journal import Journal
from projections.analytics import Analytics
from projections.journal_index import CommandAuditProjection
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner
from projections.trading import TradeBook
from tests.property.core.harness import snapshot
from tests.unit.projections.conftest import add_commands


def _count(analytics: Analytics, table: str) -> int:
    with analytics.cursor() as cur:
        row = cur.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def test_catch_up_resumes_from_the_tracked_position(journal: Journal, tmp_path: Path) -> None:
    """A second runner on the same file reads only the events appended since the first."""
    live = Analytics(tmp_path / "a.duckdb")
    assert (
        ProjectionRunner(
            journal, live, analytics_projections=all_analytics_projections()
        ).catch_up()
        == 14
    )
    add_commands(journal, 2, start=6)
    runner = ProjectionRunner(journal, live, analytics_projections=all_analytics_projections())
    assert runner.catch_up() == journal.head() - 14
    assert runner.positions()["commands"] == journal.head()
    assert _count(live, "commands") == 8
    live.close()


def test_applying_twice_changes_nothing(journal: Journal, tmp_path: Path) -> None:
    """Catching up again, from a new runner or the same one, reads nothing and changes no row."""
    path = tmp_path / "a.duckdb"
    live = Analytics(path)
    book = TradeBook()
    runner = ProjectionRunner(
        journal, live, state=[book], analytics_projections=all_analytics_projections()
    )
    runner.catch_up()
    live.close()
    before = snapshot(path, all_analytics_projections())
    state_before = book.snapshot()
    live = Analytics(path)
    again = ProjectionRunner(
        journal, live, state=[book], analytics_projections=all_analytics_projections()
    )
    assert again.catch_up() == 0
    for page in journal.read():
        for env in page:
            book.apply(env)  # already applied positions are ignored
    live.close()
    assert snapshot(path, all_analytics_projections()) == before
    assert book.snapshot() == state_before


class CommandsV2(CommandAuditProjection):
    """The command audit with a bumped schema version."""

    schema_version = 2


def test_schema_version_bump_resets_and_rebuilds(journal: Journal, tmp_path: Path) -> None:
    """A projection whose schema version changed is dropped, reset to 0 and rebuilt by catch-up."""
    live = Analytics(tmp_path / "a.duckdb")
    ProjectionRunner(journal, live, analytics_projections=[CommandAuditProjection()]).catch_up()
    with live.cursor() as cur:
        cur.execute("DELETE FROM commands WHERE position < 5")  # damage only the old version sees
    runner = ProjectionRunner(journal, live, analytics_projections=[CommandsV2()])
    assert runner.positions()["commands"] == 0
    assert runner.catch_up() == 14
    assert _count(live, "commands") == 6
    assert live.tracking()["commands"].schema_version == 2
    live.close()


def test_rebuild_swaps_while_live_keeps_serving_then_reopens(
    journal: Journal, tmp_path: Path
) -> None:
    """A live Analytics answers during and after a rebuild, and reopens the new file on catch-up."""
    path = tmp_path / "a.duckdb"
    live = Analytics(path)
    runner = ProjectionRunner(journal, live, analytics_projections=all_analytics_projections())
    runner.catch_up()
    report = rebuild(journal, path, all_analytics_projections())
    assert report.swapped
    assert _count(live, "commands") == 6  # still serving from the file it had open
    add_commands(journal, 1, start=6)
    runner.catch_up()
    assert live.connection is not None
    assert _count(live, "commands") == 7
    assert live.tracking()["commands"].rebuilt_at is not None  # the rebuilt file is the one open
    live.close()


def test_partial_rebuild_keeps_the_other_projections(journal: Journal, tmp_path: Path) -> None:
    """Rebuilding one projection copies the others' rows and positions unchanged."""
    path = tmp_path / "a.duckdb"
    live = Analytics(path)
    ProjectionRunner(journal, live, analytics_projections=all_analytics_projections()).catch_up()
    live.close()
    before = snapshot(path, all_analytics_projections())
    report = rebuild(journal, path, [p for p in all_analytics_projections() if p.name == "bars"])
    assert report.projections == ["bars"]
    assert snapshot(path, all_analytics_projections()) == before
    tracked = Analytics(path, read_only=True)
    try:
        rebuilt = {n for n, t in tracked.tracking().items() if t.rebuilt_at is not None}
    finally:
        tracked.close()
    assert rebuilt == {"bars"}


def test_tables_a_partial_rebuild_copies_keep_their_keys(journal: Journal, tmp_path: Path) -> None:
    """Rebuilding ``trades`` alone copies ``bars`` with its primary key, so the next live
    catch-up upserts re-fetched bars as before instead of faulting the projection (a copy made
    with ``CREATE TABLE AS`` had no key, and every upsert into it failed)."""
    path = tmp_path / "a.duckdb"
    live = Analytics(path)
    ProjectionRunner(journal, live, analytics_projections=all_analytics_projections()).catch_up()
    live.close()
    rebuild(journal, path, [p for p in all_analytics_projections() if p.name == "trades"])
    add_commands(journal, 6, start=6)  # bars of the same symbols and days again: upserts
    live = Analytics(path)
    runner = ProjectionRunner(journal, live, analytics_projections=all_analytics_projections())
    try:
        runner.catch_up()
        assert runner.faults() == []
        assert _count(live, "bars") == len({(f"S{n % 3}", 1 + n % 28) for n in range(12)})
    finally:
        live.close()


def test_dry_run_leaves_the_live_file_alone(journal: Journal, tmp_path: Path) -> None:
    """A dry-run rebuild builds a fresh file and deletes it; the live file is untouched."""
    path = tmp_path / "a.duckdb"
    report = rebuild(journal, path, all_analytics_projections(), dry_run=True)
    assert not report.swapped
    assert not path.exists()
    assert list(tmp_path.glob("a.duckdb*")) == []


def test_rebuild_to_a_position_stops_there(journal: Journal, tmp_path: Path) -> None:
    """--to builds a point-in-time view: positions and rows stop at the given position."""
    path = tmp_path / "a.duckdb"
    rebuild(journal, path, all_analytics_projections(), to=5)
    live = Analytics(path)
    try:
        assert {t.position for t in live.tracking().values()} == {5}
        assert _count(live, "journal_events") == 5
    finally:
        live.close()
