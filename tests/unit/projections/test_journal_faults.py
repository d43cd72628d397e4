"""A changed byte in the journal is a journal fault at its position, never the truth.

Reproduction 5 of issue 10: ``size 1234`` changed to ``1239`` inside a stored ``trade_opened``.
``journal verify`` reports a journal fault at that position (the projections are not blamed) and
``journal rebuild`` refuses to make it canonical. Also: a journal from before the chain is
chained on the first open by a writer (a migration), and a killed rebuild's file is cleaned up.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import typer
from typer.testing import CliRunner

from events.base import Actor, NewEvent
from events.journal import Journal
from events.trading import TradeOpened
from projections.cli import register
from projections.workspace import Workspace
from tests.unit.projections.conftest import add_commands

AT = datetime(2024, 2, 1, 15, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def journal_cli(*args: str) -> tuple[int, str]:
    """Run ``ibpicker journal ARGS`` in-process; return the exit code and all output."""
    root = typer.Typer()
    register(root)
    result = CliRunner().invoke(root, ["journal", *args])
    return result.exit_code, result.output


def _folder_with_a_trade(folder: Path) -> int:
    """A data folder with commands, a trade of size 1234, analytics built; the trade's position."""
    journal = Journal.open(folder / "journal.sqlite")
    add_commands(journal, 4)
    trade = TradeOpened(
        trade_id="T1", guild_id=1, user_id=2, symbol="AAPL", direction="long",
        entry=Decimal("187.5"), size=Decimal(1234), opened_at=AT,
    )  # fmt: skip
    result = journal.append(
        [NewEvent("trade:1:T1", trade)], command_id="open-trade", actor=Actor(guild_id=1, user_id=2)
    )
    add_commands(journal, 2, start=10)
    journal.close()
    Workspace.open(folder).close()  # builds every projection
    return result.positions[0]


def _change_byte(folder: Path, position: int, old: bytes, new: bytes) -> None:
    con = sqlite3.connect(folder / "journal.sqlite")
    (state,) = con.execute(
        "SELECT state FROM stored_events WHERE rowid = ?", (position,)
    ).fetchone()
    assert old in state
    con.execute(
        "UPDATE stored_events SET state = ? WHERE rowid = ?", (state.replace(old, new), position)
    )
    con.commit()
    con.close()


def test_a_changed_byte_is_a_journal_fault_and_rebuild_refuses_it(tmp_path: Path) -> None:
    """Reproduction 5: after ``1234`` became ``1239`` in a stored trade_opened, verify exits 1
    with a journal fault at the trade's position and blames no projection; rebuild exits 1,
    swaps nothing in (the trades table still says 1234) and leaves no half-built file."""
    position = _folder_with_a_trade(tmp_path)
    assert journal_cli("verify", "--data-dir", str(tmp_path))[0] == 0
    _change_byte(tmp_path, position, b"1234", b"1239")

    code, output = journal_cli("verify", "--data-dir", str(tmp_path), "--json")
    report = json.loads(output)
    assert code == 1
    assert [p["kind"] for p in report["problems"]] == ["journal_fault"]
    assert report["problems"][0]["positions"] == [position]
    assert f"journal fault at position {position} (trade_opened" in report["problems"][0]["message"]
    assert {c["outcome"] for c in report["projections"]} == {"not checked: journal unsound"}

    code, output = journal_cli("rebuild", "--data-dir", str(tmp_path))
    assert code == 1
    assert f"journal fault at position {position}" in output
    assert not list(tmp_path.glob("analytics.duckdb.rebuild-*"))
    with Workspace.open(tmp_path, catch_up=False) as ws, ws.analytics.cursor() as cur:  # type: ignore[union-attr]
        sizes = cur.execute("SELECT size FROM trades WHERE trade_id = 'T1'").fetchall()
    assert [float(s) for (s,) in sizes] == [1234.0]


def test_a_journal_from_before_the_chain_is_chained_on_the_first_writer_open(
    tmp_path: Path,
) -> None:
    """A journal without ``event_chain`` (as written before it existed) verifies sound with a
    note that it is not chained; the first writer to open it computes the chain (a migration),
    after which verify checks every link and a changed byte is caught."""
    position = _folder_with_a_trade(tmp_path)
    con = sqlite3.connect(tmp_path / "journal.sqlite")
    con.execute("DROP TABLE event_chain")
    con.commit()
    con.close()
    code, output = journal_cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert "not chained yet" in json.loads(output)["chain"]

    Journal.open(tmp_path / "journal.sqlite").close()  # the migration
    code, output = journal_cli("verify", "--data-dir", str(tmp_path), "--json")
    assert code == 0
    assert json.loads(output)["chain"].startswith("checked: every link")
    _change_byte(tmp_path, position, b"1234", b"1239")
    assert journal_cli("verify", "--data-dir", str(tmp_path))[0] == 1


def test_kill_9_during_rebuild_leaves_nothing_behind_after_the_next_start(tmp_path: Path) -> None:
    """A ``journal rebuild`` killed with SIGKILL while it builds leaves its
    ``analytics.duckdb.rebuild-<pid>`` file; the next start of a writer on the folder removes it
    (the writer lock proves no rebuild is running)."""
    journal = Journal.open(tmp_path / "journal.sqlite")
    add_commands(journal, 4000)
    journal.close()
    child = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "journal", "rebuild",
         "--data-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    fresh = tmp_path / f"analytics.duckdb.rebuild-{child.pid}"
    while not fresh.exists() and child.poll() is None:
        pass  # the rebuild creates it first thing; a kill any time after that is the case
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the rebuild finished before it could be killed"
    assert fresh.exists()
    Workspace.open(tmp_path, catch_up=False).close()
    assert not list(tmp_path.glob("analytics.duckdb.rebuild-*"))
