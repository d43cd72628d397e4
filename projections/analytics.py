"""The DuckDB analytics database: one file beside the journal, with projection tracking.

``projection_positions`` records, per projection, the journal position applied, the schema
version, and when it was last rebuilt; it is written in the same transaction as the rows.

A rebuild writes a fresh file and swaps it in with an atomic rename; a live process notices the
new file (by inode) at its next catch-up and reopens it, so it keeps serving throughout.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import msgspec

TRACKING_DDL = (
    "CREATE TABLE IF NOT EXISTS projection_positions ("
    "name VARCHAR PRIMARY KEY, position BIGINT NOT NULL, schema_version INTEGER NOT NULL, "
    "rebuilt_at TIMESTAMPTZ)"
)


# The bot runs in one container with 0.25 vCPU and 0.5 GiB (ADR-009): DuckDB's defaults (a thread
# per core, 80 % of RAM) would fight the event loop and the journal writer for both. Our queries are
# small; measured through the bot benchmark, one thread cut the p99 of 1,000 commands in a row from
# ~78 ms to ~21 ms and grew memory less. A rebuild may pass more.
DEFAULT_THREADS = 1
DEFAULT_MEMORY_LIMIT = "256MB"


class AnalyticsError(Exception):
    """Root of analytics-database errors."""


class AnalyticsBusyError(AnalyticsError):
    """Another process holds the analytics database (DuckDB allows one writer process)."""


class Tracking(msgspec.Struct, frozen=True):
    """One projection's tracking record."""

    name: str
    position: int
    schema_version: int
    rebuilt_at: datetime | None


class Analytics:
    """A DuckDB connection to the analytics file, reopened when a rebuild swaps the file."""

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        threads: int = DEFAULT_THREADS,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.threads = threads
        self.memory_limit = memory_limit
        self._lock = threading.RLock()
        self._con = self._connect()
        self._inode = self._current_inode()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(
                str(self.path),
                read_only=self.read_only,
                config={"threads": self.threads, "memory_limit": self.memory_limit},
            )
        except duckdb.IOException as exc:
            raise AnalyticsBusyError(
                f"{self.path} is held by another process (a running bot?): {exc}"
            ) from None
        if not self.read_only:
            con.execute(TRACKING_DDL)
        return con

    def _current_inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def reopen_if_swapped(self) -> bool:
        """Reopen when a rebuild has renamed a new file over ours; True when it did."""
        inode = self._current_inode()
        if inode is None or inode == self._inode:
            return False
        with self._lock:
            self._con.close()
            self._con = self._connect()
            self._inode = inode
        return True

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for queries (thread-safe: one per use)."""
        with self._lock:
            cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying connection (for the runner, which serialises writes)."""
        return self._con

    def tracking(self) -> dict[str, Tracking]:
        """Every projection's tracking record."""
        with self.cursor() as cur:
            try:
                rows = cur.execute(
                    "SELECT name, position, schema_version, rebuilt_at FROM projection_positions"
                ).fetchall()
            except duckdb.CatalogException:
                return {}
        return {r[0]: Tracking(r[0], int(r[1]), int(r[2]), r[3]) for r in rows}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._con.close()
