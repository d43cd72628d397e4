"""Fixtures for journal tests: a fresh journal file per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from events.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """An empty journal in a temporary folder, closed after the test."""
    j = Journal.open(tmp_path / "journal.sqlite")
    yield j
    j.close()
