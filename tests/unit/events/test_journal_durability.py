"""The journal's SQLite settings: WAL with synchronous=NORMAL on every pooled connection."""

from __future__ import annotations

import threading

from events.journal import Journal


def _settings(journal: Journal) -> tuple[str, int]:
    with journal._datastore.transaction(commit=False) as c:
        c.execute("PRAGMA journal_mode")
        mode = str(c.fetchone()[0])
        c.execute("PRAGMA synchronous")
        sync = int(c.fetchone()[0])
    return mode, sync


def test_every_connection_is_wal_with_synchronous_normal(sqlite_journal: Journal) -> None:
    """Reader and writer connections, from any thread, use WAL and synchronous=NORMAL (1)."""
    journal = sqlite_journal
    seen: list[tuple[str, int]] = [_settings(journal)]
    worker = threading.Thread(target=lambda: seen.append(_settings(journal)))
    worker.start()
    worker.join()
    with journal._datastore.transaction(commit=True) as c:
        c.execute("PRAGMA synchronous")
        seen.append(("wal", int(c.fetchone()[0])))
    assert seen == [("wal", 1)] * 3
