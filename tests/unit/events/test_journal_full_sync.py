"""A SQLite journal opened with ``synchronous="FULL"`` (the explicit comparison setting that
``benchmarks/scale.py`` uses): every pooled connection flushes at each commit; the default
stays ``NORMAL``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from events.journal import Journal


def _synchronous(journal: Journal, *, commit: bool) -> int:
    with journal._datastore.transaction(commit=commit) as c:
        c.execute("PRAGMA synchronous")
        return int(c.fetchone()[0])


@pytest.mark.parametrize(("asked", "pragma"), [("FULL", 2), ("NORMAL", 1)])
def test_every_connection_has_the_synchronous_asked_for(
    tmp_path: Path, asked: str, pragma: int
) -> None:
    """Reader and writer connections, from any thread, report it (FULL 2, NORMAL 1)."""
    journal = Journal.open(tmp_path / "journal.sqlite", synchronous=asked)  # type: ignore[arg-type]
    try:
        seen = [_synchronous(journal, commit=False), _synchronous(journal, commit=True)]
        worker = threading.Thread(target=lambda: seen.append(_synchronous(journal, commit=False)))
        worker.start()
        worker.join()
        assert seen == [pragma] * 3
    finally:
        journal.close()


def test_the_default_is_normal_and_nothing_else_is_taken(tmp_path: Path) -> None:
    """Without the setting a journal is NORMAL; a value other than NORMAL or FULL is refused
    before anything is opened (the folder stays free for the next writer)."""
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        Journal.open(tmp_path / "journal.sqlite", synchronous="OFF")  # type: ignore[arg-type]
    journal = Journal.open(tmp_path / "journal.sqlite")
    try:
        assert _synchronous(journal, commit=True) == 1
    finally:
        journal.close()
