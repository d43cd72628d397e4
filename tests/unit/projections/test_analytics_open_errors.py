"""Opening the analytics file tells its failures apart (issue 10, item 6): another process holding
it, a file that is not a database, and a full disk each raise their own ``AnalyticsError`` with a
message saying what to do (all three used to be "held by another process (a running bot?)")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from projections.analytics import (
    Analytics,
    AnalyticsBusyError,
    AnalyticsCorruptError,
    DiskFullError,
)

HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); input()"


@pytest.mark.parametrize("content", [b"", b"garbage" * 1000, os.urandom(50_000)])
def test_a_file_that_is_not_a_database_is_damaged_and_rebuild_is_offered(
    tmp_path: Path, content: bytes
) -> None:
    """An emptied, garbage or random ``analytics.duckdb`` raises ``AnalyticsCorruptError`` naming
    the file and ``ibpicker journal rebuild`` for its folder."""
    path = tmp_path / "analytics.duckdb"
    path.write_bytes(content)
    with pytest.raises(AnalyticsCorruptError) as damaged:
        Analytics(path)
    assert f"{path} is damaged" in str(damaged.value)
    assert f"ibpicker journal rebuild --data-dir {tmp_path}" in str(damaged.value)


def test_a_full_disk_is_named_as_such(tmp_path: Path) -> None:
    """A file on a device where every write fails with ENOSPC (``/dev/full``) raises
    ``DiskFullError``: the disk is full and nothing acknowledged is lost."""
    path = tmp_path / "analytics.duckdb"
    path.symlink_to("/dev/full")
    with pytest.raises(DiskFullError) as full:
        Analytics(path)
    assert "is full: nothing is lost" in str(full.value)


def test_a_file_held_by_another_process_names_that_process(tmp_path: Path) -> None:
    """While another process has the file open, opening it raises ``AnalyticsBusyError`` naming
    that process's id."""
    path = tmp_path / "analytics.duckdb"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        try:
            assert holder.stdout.readline().strip() == "ready"
            with pytest.raises(AnalyticsBusyError) as busy:
                Analytics(path)
            assert f"in use by process {holder.pid}" in str(busy.value)
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
