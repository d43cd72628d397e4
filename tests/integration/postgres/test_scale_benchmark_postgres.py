"""``benchmarks/scale.py``'s parts on the real PostgreSQL server, small: the lag run follows
through the replica's own follower, and the writer runs take the SQLite durability setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import scale
from events.journal import Journal

pytestmark = pytest.mark.postgres


def test_the_lag_is_measured_through_the_replica_runtime(pg_url: str, tmp_path: Path) -> None:
    """Every event the steady writer appends gets one lag, from its append to the end of the
    ``ReplicaRuntime`` catch-up that applied it (so never negative); the replica's DuckDB file
    has applied them all."""
    Journal.open("", url=pg_url).close()
    lags = scale.replica_lag(pg_url, tmp_path / "replica", rate=40, seconds=1)
    assert len(lags) == 40
    assert min(lags) > 0
    reader = Journal.open("", url=pg_url)
    try:
        assert reader.head() == 40
    finally:
        reader.close()


def test_the_writers_report_cpu_and_open_sqlite_as_asked(tmp_path: Path) -> None:
    """One SQLite writer with ``synchronous=FULL`` appends its commands into a journal that the
    product opens as usual afterwards; its figures carry the writer's CPU per command."""
    path = tmp_path / "full" / "journal.sqlite"
    figures = scale.writers(str(path), 1, 30, synchronous="FULL")
    assert figures["commands_per_s"] > 0
    assert figures["client_cpu_ms"] > 0
    journal = Journal.open(path)
    try:
        assert journal.head() == 30
    finally:
        journal.close()
