"""A projection can never take the process down or block the journal.

An event a projection cannot load is isolated: that projection stops just before it and says
which event and why; the other projections and the journal go on; ``journal status`` and
``journal verify`` report it; after a fix, ``journal rebuild`` recovers it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest
import typer
from typer.testing import CliRunner

from events.base import Envelope
from events.journal import Journal
from projections.analytics import Analytics
from projections.base import AnalyticsProjection, Page
from projections.journal_index import CommandAuditProjection
from projections.rebuild import rebuild
from projections.registry import all_analytics_projections
from projections.runner import ProjectionRunner, read_faults
from projections.trading import TradeBook
from tests.unit.projections.conftest import add_commands


class PoisonedCommands(CommandAuditProjection):
    """The command audit, failing on the event at ``poison`` as a bad handler would."""

    poison: ClassVar[int] = 0

    def load_page(self, con: duckdb.DuckDBPyConnection, page: Page, *, after: int) -> None:
        """Raise when the poisoned position is among the events loaded."""
        if any(after < row[0] == self.poison for row in page.rows):
            raise ValueError("Rescaling Decimal value would cause data loss")
        super().load_page(con, page, after=after)


def _poisoned_at(position: int) -> list[AnalyticsProjection]:
    """Every analytics projection, the command audit failing at ``position``."""
    PoisonedCommands.poison = position
    return [PoisonedCommands() if p.name == "commands" else p for p in all_analytics_projections()]


def _positions(path: Path) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute("SELECT name, position FROM projection_positions").fetchall()
    finally:
        con.close()
    return {name: int(position) for name, position in rows}


def test_live_catch_up_isolates_the_event_and_keeps_everything_else_going(
    journal: Journal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The command audit fails on the command_handled at position 8: catch-up does not raise,
    the audit stops at 7 with a fault naming position 8, its tag and the error (also logged);
    every other projection reaches the head, later appends are applied to them, and the faulted
    projection is not read again."""
    live = Analytics(tmp_path / "a.duckdb")
    runner = ProjectionRunner(journal, live, analytics_projections=_poisoned_at(8))
    assert runner.catch_up() == 14
    faults = runner.faults()
    assert [(f.name, f.position, f.tag) for f in faults] == [("commands", 8, "command_handled")]
    assert "Rescaling Decimal" in faults[0].error
    assert "projection commands stopped at position 8 (command_handled)" in caplog.text
    positions = runner.positions()
    assert positions["commands"] == 7
    assert all(v == 14 for k, v in positions.items() if k != "commands")
    add_commands(journal, 2, start=6)
    assert runner.catch_up() == journal.head() - 14
    assert runner.positions()["commands"] == 7
    assert runner.positions()["bars"] == journal.head()
    live.close()


def test_rebuild_isolates_inside_a_multi_page_transaction_and_a_fixed_rebuild_recovers(
    journal: Journal, tmp_path: Path
) -> None:
    """A rebuild (transactions spanning many pages) meets the bad event: it goes again a page per
    transaction, stops the audit at the event before, builds every other projection, and says
    which event in its report. Rebuilt again with the handler fixed, nothing is faulted and the
    audit equals a clean build."""
    add_commands(journal, 30, start=6)
    path = tmp_path / "a.duckdb"
    report = rebuild(journal, path, _poisoned_at(41), page_size=4)
    assert len(report.faults) == 1
    assert "projection commands stopped at position 41 (command_handled)" in report.faults[0]
    positions = _positions(path)
    assert positions["commands"] == 40
    assert all(v == journal.head() for k, v in positions.items() if k != "commands")
    fixed = rebuild(journal, path, all_analytics_projections(), page_size=4)
    assert fixed.faults == []
    assert _positions(path)["commands"] == journal.head()
    live = Analytics(path)
    with live.cursor() as cur:
        assert read_faults(cur) == {}
    live.close()


class PoisonedBook(TradeBook):
    """The trade book, failing on one trade as a bad fold would."""

    def when(self, envelope: Envelope) -> None:
        """Raise on the trade opened at position 10."""
        if envelope.position == 10:
            raise KeyError("trade t3")
        super().when(envelope)


def test_a_state_projection_that_fails_stops_there_and_the_others_go_on(
    journal: Journal, tmp_path: Path
) -> None:
    """An in-memory fold raising on the trade at position 10 stops before it with a fault; the
    catch-up goes on for the analytics projections and for the other state projections."""
    book, other = PoisonedBook(), TradeBook()
    live = Analytics(tmp_path / "a.duckdb")
    runner = ProjectionRunner(
        journal, live, state=[book, other], analytics_projections=all_analytics_projections()
    )
    runner.catch_up()
    assert book.fault is not None
    assert (book.fault.position, book.fault.tag, book.position) == (10, "trade_opened", 9)
    assert other.fault is None
    assert other.position == journal.head()
    assert runner.positions()["trades"] == journal.head()
    live.close()


def test_status_and_verify_report_the_fault(journal: Journal, tmp_path: Path) -> None:
    """``journal status`` shows the faulted projection's event and why; ``journal verify`` exits
    1 with a ``projection_fault`` naming it (the journal itself is sound)."""
    from projections.cli import register

    live = Analytics(tmp_path / "analytics.duckdb")
    ProjectionRunner(journal, live, analytics_projections=_poisoned_at(8)).catch_up()
    live.close()
    journal.close()
    root = typer.Typer()
    register(root)
    status = CliRunner().invoke(root, ["journal", "status", "--data-dir", str(tmp_path), "--json"])
    by_name = {p["name"]: p for p in json.loads(status.stdout)["projections"]}
    assert "stopped at position 8 (command_handled)" in by_name["commands"]["fault"]
    assert by_name["bars"]["fault"] is None
    result = CliRunner().invoke(root, ["journal", "verify", "--data-dir", str(tmp_path), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert [p["kind"] for p in report["problems"]] == ["projection_fault"]
    assert report["problems"][0]["positions"] == [8]
