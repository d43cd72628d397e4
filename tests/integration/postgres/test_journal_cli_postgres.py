"""``ibpicker journal status|tail|show|export|rebuild|verify`` on a PostgreSQL journal.

The same 6 commands (14 events) are appended to a SQLite journal and to a PostgreSQL one; every
command prints the same on both (``IBPICKER_JOURNAL_URL`` selects the database).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from events.journal import Journal
from projections.cli import register
from tests.unit.projections.conftest import add_commands


@pytest.fixture
def twins(tmp_path: Path, pg_url: str) -> tuple[str, str, str]:
    """(SQLite data folder, PostgreSQL URL, data folder for the PostgreSQL run's analytics),
    each journal holding the same 6 commands."""
    sqlite_dir, pg_dir = tmp_path / "sqlite", tmp_path / "pg"
    for journal in (Journal.open(sqlite_dir / "journal.sqlite"), Journal.open("", url=pg_url)):
        add_commands(journal, 6)
        journal.close()
    pg_dir.mkdir()
    return str(sqlite_dir), pg_url, str(pg_dir)


def run(monkeypatch: pytest.MonkeyPatch, url: str | None, *args: str) -> tuple[int, str, str]:
    """Invoke the journal group with ``IBPICKER_JOURNAL_URL`` set to ``url`` (or unset)."""
    if url is None:
        monkeypatch.delenv("IBPICKER_JOURNAL_URL", raising=False)
    else:
        monkeypatch.setenv("IBPICKER_JOURNAL_URL", url)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["journal", *args])
    return result.exit_code, result.stdout, result.stderr


def test_inspection_commands_print_the_same_on_both_backends(
    twins: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """status, tail, show and export (jsonl, csv, filtered by tag) exit 0 and print the same
    from the PostgreSQL journal as from the SQLite one holding the same events."""
    sqlite_dir, url, pg_dir = twins
    for args in (
        ["status", "--json"],
        ["tail", "-n", "5"],
        ["tail", "-n", "3", "--type", "trade_opened"],
        ["show", "3", "--json"],
        ["show", "14"],
        ["export"],
        ["export", "--format", "csv", "--from", "2", "--to", "9"],
    ):
        on_sqlite = run(monkeypatch, None, *args, "--data-dir", sqlite_dir)
        on_pg = run(monkeypatch, url, *args, "--data-dir", pg_dir)
        assert on_sqlite[0] == on_pg[0] == 0, (args, on_pg)
        assert on_pg[1] == on_sqlite[1], args
    assert (
        json.loads(run(monkeypatch, url, "status", "--json", "--data-dir", pg_dir)[1])["head"] == 14
    )


def test_rebuild_from_postgres_builds_the_same_projections(
    twins: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """rebuild reads the PostgreSQL journal into the replica's own analytics file: every
    projection reaches position 14 with the same rows as a rebuild from the SQLite journal."""
    sqlite_dir, url, pg_dir = twins
    assert run(monkeypatch, None, "rebuild", "--data-dir", sqlite_dir)[0] == 0
    code, out, err = run(monkeypatch, url, "rebuild", "--json", "--data-dir", pg_dir)
    assert code == 0, err
    assert json.loads(out)["to_position"] == 14
    assert (Path(pg_dir) / "analytics.duckdb").exists()
    status = [
        json.loads(run(monkeypatch, u, "status", "--json", "--data-dir", d)[1])["projections"]
        for u, d in ((None, sqlite_dir), (url, pg_dir))
    ]
    strip = [[{k: v for k, v in p.items() if k != "rebuilt_at"} for p in s] for s in status]
    assert strip[0] == strip[1]
    assert all(p["position"] == 14 and p["lag"] == 0 for p in strip[1])


def test_a_url_that_is_not_postgres_exits_2_without_echoing_it(
    twins: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad IBPICKER_JOURNAL_URL is refused with exit 2, naming the variable, not its value."""
    _, _, pg_dir = twins
    code, _, err = run(monkeypatch, "mysql://u:hunter2@h/db", "status", "--data-dir", pg_dir)
    assert code == 2
    assert "IBPICKER_JOURNAL_URL" in err
    assert "hunter2" not in err


def test_an_unreachable_database_is_one_line_without_its_password(
    twins: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database nobody listens on is a one-line error (exit 2) with the password redacted."""
    _, _, pg_dir = twins
    url = "postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2"
    code, _, err = run(monkeypatch, url, "tail", "--data-dir", pg_dir)
    assert code == 2
    assert err.startswith("error: cannot reach the journal at postgresql://u:***@127.0.0.1:1/db")
    assert "hunter2" not in err
