"""The CLI's one error-translation place (``cli.explain``): storage errors raised as they come
(SQLite's, the OS's) read as messages; anything else is a bug, left to ``--debug``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import cli
from events.journal import Journal


def test_a_journal_that_is_not_a_database_offers_sync_pull_and_verify(tmp_path: Path) -> None:
    """Opening a ``journal.sqlite`` of garbage fails with SQLite's own error; ``explain`` says the
    journal is damaged and how to get a good copy."""
    path = tmp_path / "journal.sqlite"
    path.write_bytes(b"garbage" * 2000)
    with pytest.raises(sqlite3.DatabaseError) as raised:
        Journal.open(path)
    message = cli.explain(raised.value)
    assert message is not None
    assert "the journal (journal.sqlite) is damaged: file is not a database" in message
    assert "ibpicker sync pull --data-dir NEW_FOLDER" in message
    assert "ibpicker journal verify --data-dir NEW_FOLDER" in message


def test_sqlite_and_os_disk_full_errors_say_the_disk_is_full(tmp_path: Path) -> None:
    """SQLite's "database or disk is full" and the OS's ENOSPC (both real, from ``/dev/full``)
    read as a full disk with nothing lost."""
    con = sqlite3.connect("/dev/full")
    with pytest.raises(sqlite3.OperationalError) as sqlite_full:
        con.execute("CREATE TABLE t (x)")
    con.close()
    with pytest.raises(OSError, match="No space left on device") as os_full:
        Path("/dev/full").write_bytes(b"x")
    for exc in (sqlite_full.value, os_full.value):
        message = cli.explain(exc)
        assert message is not None
        assert "the disk holding the data folder is full: nothing is lost" in message


def test_a_bug_is_not_dressed_up_as_a_message() -> None:
    """An error of no known kind gets no message of its own (the edge shows its type and text
    and points to --debug)."""
    assert cli.explain(ValueError("boom")) is None
