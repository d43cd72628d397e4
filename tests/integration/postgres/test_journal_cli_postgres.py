"""``ibpicker journal status|tail|show|export|rebuild|verify`` on a PostgreSQL journal.

The same 6 commands (14 events) are appended to a SQLite journal and to a PostgreSQL one; every
command prints the same on both (``IBPICKER_JOURNAL_URL`` selects the database).
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import Journal, JournalReader
from events.postgres import migrate
from projections.cli import register
from tests.unit.projections.conftest import add_commands

pytestmark = pytest.mark.postgres


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


def test_verify_checks_a_postgres_journal_and_finds_a_changed_byte(
    twins: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify on the PostgreSQL journal reports it sound (same checks as on a file, over a
    snapshot of the database); after one stored byte is changed in the database, it exits 1
    naming that position."""
    _, url, pg_dir = twins
    assert run(monkeypatch, url, "rebuild", "--data-dir", pg_dir)[0] == 0
    code, out, err = run(monkeypatch, url, "verify", "--json", "--data-dir", pg_dir)
    assert code == 0, err
    report = json.loads(out)
    assert (report["sound"], report["head"], report["events_checked"]) == (True, 14, 14)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE stored_events SET state = state || '\\x00'::bytea WHERE notification_id = 5"
        )
    code, out, _ = run(monkeypatch, url, "verify", "--json", "--data-dir", pg_dir)
    assert code == 1
    assert any(5 in p["positions"] for p in json.loads(out)["problems"])


def test_migrate_copies_every_position_and_command_id_and_resumes(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """migrate, interrupted after its first pages, then run again: it resumes after the
    database's head, and the copy equals the SQLite journal event by event (positions, streams,
    versions, states, command ids); the folder's projections equal a rebuild from the copy; a
    later append on PostgreSQL repeats a migrated command id as a duplicate."""
    folder = tmp_path / "data"
    source = Journal.open(folder / "journal.sqlite")
    add_commands(source, 20)  # 47 events
    source.close()
    assert run(monkeypatch, None, "rebuild", "--data-dir", str(folder))[0] == 0

    class MigrationKilledError(Exception):
        """Stands for the process dying between two pages."""

    def stop_after_two(_: int, calls: list[int] = []) -> None:  # noqa: B006
        calls.append(1)
        if len(calls) == 2:
            raise MigrationKilledError

    reader, target = JournalReader(folder / "journal.sqlite"), Journal.open("", url=pg_url)
    with pytest.raises(MigrationKilledError):
        migrate(reader, target, page_size=10, progress=stop_after_two)
    assert target.head() == 20
    target.close()
    reader.close()

    monkeypatch.delenv("IBPICKER_JOURNAL_URL", raising=False)
    args = ["migrate", "--to", pg_url, "--page-size", "10", "--json", "--data-dir", str(folder)]
    code, out, err = run(monkeypatch, None, *args)
    assert code == 0, err
    outcome = json.loads(out)
    assert (outcome["copied"], outcome["already"], outcome["head"]) == (27, 20, 47)
    assert outcome["differences"] == []
    assert outcome["sound"] is True
    assert len(outcome["projections"]) > 1
    assert set(outcome["projections"].values()) == {"ok"}

    again = json.loads(run(monkeypatch, None, *args)[1])
    assert (again["copied"], again["already"]) == (0, 47)
    copy = Journal.open("", url=pg_url)
    original = JournalReader(folder / "journal.sqlite")
    try:
        assert [r for p in copy.row_pages() for r in p.rows] == [
            r for p in original.row_pages() for r in p.rows
        ]
        assert copy.command_span("cmd-7") is not None
        repeat = copy.append(
            [NewEvent("audit:0", CommandHandled(name="again"))],
            command_id="cmd-7",
            actor=Actor(guild_id=1, user_id=2),
        )
        assert repeat.duplicate
        assert repeat.positions == list(range(*_span(copy, "cmd-7")))
    finally:
        copy.close()
        original.close()


def _span(journal: Journal, command_id: str) -> tuple[int, int]:
    span = journal.command_span(command_id)
    assert span is not None
    return span[0], span[1] + 1


def test_migrate_refuses_a_database_holding_another_journal(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database whose events are not this journal's prefix is refused (exit 1), unchanged."""
    folder = tmp_path / "data"
    source = Journal.open(folder / "journal.sqlite")
    add_commands(source, 3)
    source.close()
    other = Journal.open("", url=pg_url)
    add_commands(other, 1, start=9)
    other.close()
    code, _, err = run(monkeypatch, None, "migrate", "--to", pg_url, "--data-dir", str(folder))
    assert code == 1
    assert "hash chains differ at position 3" in err
    check = Journal.open("", url=pg_url)
    assert check.head() == 3
    check.close()


def test_migrate_back_copies_the_postgres_journal_into_an_empty_folder(
    twins: tuple[str, str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """migrate-back writes the PostgreSQL journal into the folder's SQLite file byte for byte
    (the same rows as the twin SQLite journal), and refuses a folder that already holds events."""
    sqlite_dir, url, _ = twins
    back = tmp_path / "back"
    code, out, err = run(monkeypatch, None, "migrate-back", "--from", url, "--json",
                         "--data-dir", str(back))  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {"copied": 14, "differences": []}
    copy, twin = (
        JournalReader(back / "journal.sqlite"),
        JournalReader(Path(sqlite_dir) / "journal.sqlite"),
    )
    try:
        assert [r for p in copy.row_pages() for r in p.rows] == [
            r for p in twin.row_pages() for r in p.rows
        ]
    finally:
        copy.close()
        twin.close()
    code, _, err = run(monkeypatch, None, "migrate-back", "--from", url, "--data-dir", str(back))
    assert code == 2
    assert "already holds events" in err
