"""The DuckDB analytics database: one file beside the journal, with projection tracking.

``projection_positions`` records, per projection, the journal position applied, the schema
version, and when it was last rebuilt; it is written in the same transaction as the rows.

A rebuild writes a fresh file and swaps it in with an atomic rename; a live process notices the
new file (by inode) at its next catch-up and reopens it, so it keeps serving throughout.
"""

from __future__ import annotations

import os
import re
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


class AnalyticsCorruptError(AnalyticsError):
    """The analytics file is not a DuckDB database (emptied, garbage, cut short): it is only a
    projection of the journal, so ``ibpicker journal rebuild`` makes a new one."""


class DiskFullError(AnalyticsError):
    """The disk holding the analytics file is full. Nothing acknowledged is lost: the journal
    holds every committed command, and the analytics are rebuilt from it."""


def disk_full_message(where: str) -> str:
    """What a full disk means for the data folder ``where``: nothing acknowledged is lost."""
    return (
        f"the disk holding {where} is full: nothing is lost (the journal holds every command it "
        "acknowledged, and a write that did not finish never counted); free some space, then "
        "run it again"
    )


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def classify_open_error(path: Path, exc: duckdb.Error) -> AnalyticsError:
    """What a DuckDB error from opening ``path`` means, as an error whose message says what to do.

    DuckDB reports a lock held by another process, a file that is not a database and a full disk
    all as ``IOException``; only its text tells them apart (a busy file was once reported for
    all three, hiding a damaged file behind "a running bot?")."""
    text = str(exc)
    folder = path.parent
    if "No space left on device" in text or "disk is full" in text.lower():
        return DiskFullError(disk_full_message(str(folder)))
    holder = _LOCK_HOLDER.search(text)
    if holder is not None or "Could not set lock" in text:
        who = f"process {holder.group(2)} ({holder.group(1)})" if holder else "another process"
        return AnalyticsBusyError(
            f"{path} is in use by {who}: a bot or console already runs on {folder}. One process "
            "per data folder: stop it first, or use another --data-dir"
        )
    return AnalyticsCorruptError(
        f"{path} is damaged ({text.splitlines()[0] if text else type(exc).__name__}). It is only "
        "a projection of the journal: rebuild it with `ibpicker journal rebuild --data-dir "
        f"{folder}` (the journal is untouched)"
    )


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
        except duckdb.Error as exc:
            raise classify_open_error(self.path, exc) from exc
        if not self.read_only:
            try:
                con.execute(TRACKING_DDL)
            except duckdb.Error as exc:
                con.close()
                raise classify_open_error(self.path, exc) from exc
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


REBUILD_SUFFIX = ".rebuild-"


def remove_rebuild_leftovers(live_path: Path) -> list[Path]:
    """Delete the half-built ``<analytics>.rebuild-<pid>`` files (and their WALs) beside
    ``live_path``; return what was deleted.

    A rebuild killed with ``kill -9`` leaves its fresh file behind. Only a process holding the
    data folder's writer lock (``events.journal.WriterLock``) calls this, and a rebuild holds it
    while it builds, so every such file is dead: it runs at each start of a writer and of a
    rebuild.
    """
    removed = []
    for leftover in live_path.parent.glob(f"{live_path.name}{REBUILD_SUFFIX}*"):
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed
