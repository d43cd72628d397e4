"""``journal verify`` reports broken journals precisely (exit 1) and never repairs them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from events.base import Actor, NewEvent
from events.journal import Journal
from projections.cli import register
from tests.property.core.harness import append_all
from tests.property.core.strategies import commands

Commands = list[tuple[Actor, list[NewEvent]]]
Breakage = Callable[[sqlite3.Connection, int], str]


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def gap(con: sqlite3.Connection, position: int) -> str:
    """Delete one event (not the last): a hole in the positions."""
    con.execute("DELETE FROM stored_events WHERE rowid = ?", (position,))
    return "gap"


def corrupt(con: sqlite3.Connection, position: int) -> str:
    """Overwrite one event's stored bytes with garbage."""
    con.execute("UPDATE stored_events SET state = x'c1ff00' WHERE rowid = ?", (position,))
    return "decode"


def unknown_tag(con: sqlite3.Connection, position: int) -> str:
    """Give one event a tag no type claims."""
    con.execute("UPDATE stored_events SET topic = 'never_heard_of' WHERE rowid = ?", (position,))
    return "decode"


def version_jump(con: sqlite3.Connection, position: int) -> str:
    """Push one event's stream version forward, breaking contiguity."""
    con.execute(
        "UPDATE stored_events SET originator_version = originator_version + 5 WHERE rowid = ?",
        (position,),
    )
    return "stream_version"


@settings(max_examples=12, deadline=None)
@given(
    cmds=commands(max_commands=6).filter(lambda c: sum(len(b) for _, b in c) >= 2),
    breakage=st.sampled_from([gap, corrupt, unknown_tag, version_jump]),
    data=st.data(),
)
def test_verify_reports_and_never_repairs(
    cmds: Commands, breakage: Breakage, data: st.DataObject
) -> None:
    """Invariant: for any journal broken by a gap, corrupt bytes, an unknown tag or a version
    jump, verify exits 1 naming the broken position, and the file is byte-identical after."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        journal = Journal.open(folder / "journal.sqlite")
        append_all(journal, cmds)
        head = journal.head()
        journal.close()
        position = data.draw(st.integers(1, head - 1), label="broken position")
        con = sqlite3.connect(folder / "journal.sqlite")
        kind = breakage(con, position)
        con.commit()
        con.close()
        before = hashlib.sha256((folder / "journal.sqlite").read_bytes()).hexdigest()
        result = CliRunner().invoke(_app(), ["journal", "verify", "--data-dir", tmp, "--json"])
        after = hashlib.sha256((folder / "journal.sqlite").read_bytes()).hexdigest()
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        assert not report["sound"]
        assert any(p["kind"] == kind and position in p["positions"] for p in report["problems"])
        assert before == after
