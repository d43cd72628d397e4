"""The set checks of ``journal verify`` in SQL, so its memory does not grow with the journal.

``journal verify`` checks that each stream's versions run 1, 2, 3, … in position order and that
every command's events form one run of positions equal to the span its ``command_ids`` row
records. Done with Python dicts and sets (a version per stream, the span of every command, every
command id seen) it took 280 MiB more at 1M events (814k commands) and was killed in the ADR's
container (0.5 GiB). Here SQLite does the set work with its own bounded page cache and temporary
files: the stream check is one window query over the journal's own table, and the command check
writes each run (command id, first, last) to a scratch file and joins it with a copy of the
recorded spans there. Problems come out in position order, as the one-pass check gave them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

Report = Callable[[str, list[int]], None]
"""Receives one problem: its message and the positions it is about."""

SCRATCH_CACHE_KIB = 16_000
"""The scratch database's page cache (SQLite spills the rest to its file)."""


def version_problems(con: sqlite3.Connection, head: int) -> Iterator[tuple[str, int, str]]:
    """``(stream, position, message)`` of every event whose version is not its stream's previous
    version + 1 in position order (up to ``head``), in position order.

    The journal's own table, read through ``con``: SQLite sorts by stream on disk where needed.
    """
    rows = con.execute(
        "SELECT position, stream, version, prev + 1 FROM ("
        "SELECT rowid AS position, originator_id AS stream, originator_version AS version, "
        "LAG(originator_version, 1, 0) OVER (PARTITION BY originator_id ORDER BY rowid) AS prev "
        "FROM stored_events WHERE rowid <= ?) WHERE version IS NOT prev + 1 ORDER BY position",
        (head,),
    )
    for position, stream, version, expected in rows:
        if version > expected:
            what = f"skips versions {expected}..{version - 1}"
        else:
            what = f"repeats or reorders (expected version {expected})"
        yield (
            stream,
            position,
            f"stream {stream!r}: version {version} at position {position} {what}",
        )


def stream_count(con: sqlite3.Connection, head: int) -> int:
    """How many streams the journal holds up to ``head``."""
    row = con.execute(
        "SELECT COUNT(DISTINCT originator_id) FROM stored_events WHERE rowid <= ?", (head,)
    ).fetchone()
    return int(row[0]) if row else 0


def run_problem(
    cmd: str, first: int, last: int, again: bool, span: tuple[int, int] | None
) -> str | None:
    """The message for one run of a command's events (``None`` when it is right).

    ``again``: an earlier run carries the same command; ``span``: its ``command_ids`` row.
    """
    if again:
        return (
            f"command {cmd!r} appears again at {first}..{last}, apart from its first run "
            "(one command id must append once)"
        )
    if span is None:
        return f"events {first}..{last} carry command {cmd!r}, which has no command_ids row"
    if span != (first, last):
        return (
            f"command_ids row {cmd!r} says {span[0]}..{span[1]}, its events are at {first}..{last}"
        )
    return None


class CommandRuns:
    """Checks each command's run of positions against its recorded span, in a scratch file.

    ``feed`` takes each page's positions and command ids; a run may continue into the next page,
    so the last run of a page stays open. ``close`` reports every problem through ``report`` and
    deletes the scratch file.
    """

    def __init__(self, report: Report, *, scratch_dir: Path | None = None) -> None:
        self.report = report
        self.commands = 0
        self._open: tuple[str, int, int] | None = None
        fd, name = tempfile.mkstemp(prefix="ibpicker-verify-", suffix=".sqlite", dir=scratch_dir)
        os.close(fd)
        self.path = Path(name)
        self.db = sqlite3.connect(self.path, isolation_level=None, uri=False)
        # A scratch file nobody reads after this process: no rollback journal, no fsync.
        self.db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;"
            f"PRAGMA cache_size = -{SCRATCH_CACHE_KIB};"
            # No column types: a value keeps its type, so a row holding a text position compares
            # unequal to its events and is reported.
            "CREATE TABLE spans (command_id PRIMARY KEY, first_position, last_position);"
            "CREATE TABLE runs (seq INTEGER PRIMARY KEY, cmd, first_position, last_position);"
        )
        self.db.execute("BEGIN")

    def load_spans(self, journal: Path) -> None:
        """Copy a journal's ``command_ids`` rows in (SQLite to SQLite, read-only on the journal)."""
        self.db.execute("COMMIT")
        self.db.execute("ATTACH DATABASE ? AS journal", (f"file:{quote(str(journal))}?mode=ro",))
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO spans "
                "SELECT command_id, first_position, last_position FROM journal.command_ids"
            )
        finally:
            self.db.execute("DETACH DATABASE journal")
        self.db.execute("BEGIN")

    def add_spans(self, spans: Iterable[tuple[str, int, int]]) -> None:
        """Recorded spans given directly (command id, first, last)."""
        self.db.executemany("INSERT OR REPLACE INTO spans VALUES (?, ?, ?)", spans)

    def feed(self, positions: list[int], commands: list[str]) -> None:
        """Take the next events' positions and command ids (in position order)."""
        if not positions:
            return
        starts = [0, *(i for i in range(1, len(commands)) if commands[i] != commands[i - 1])]
        ends = [*(i - 1 for i in starts[1:]), len(commands) - 1]
        runs = [
            (commands[a], positions[a], positions[b]) for a, b in zip(starts, ends, strict=True)
        ]
        if self._open is not None:
            cmd, first, _ = self._open
            if runs[0][0] == cmd:
                runs[0] = (cmd, first, runs[0][2])
            else:
                runs.insert(0, self._open)
        self._open = runs.pop()
        self._store(runs)

    def _store(self, runs: list[tuple[str, int, int]]) -> None:
        self.db.executemany(
            "INSERT INTO runs (cmd, first_position, last_position) VALUES (?, ?, ?)", runs
        )

    def close(self) -> None:
        """Report every wrong run (in position order), then every span no event carries."""
        if self._open is not None:
            self._store([self._open])
            self._open = None
        db = self.db
        try:
            db.execute("CREATE INDEX runs_by_command ON runs (cmd, seq)")
            db.execute("COMMIT")
            wrong = db.execute(
                "SELECT cmd, first_position, last_position, again, recorded, sf, sl FROM ("
                "SELECT r.seq, r.cmd, r.first_position, r.last_position, "
                "EXISTS (SELECT 1 FROM runs o WHERE o.cmd = r.cmd AND o.seq < r.seq) AS again, "
                "s.command_id IS NOT NULL AS recorded, s.first_position AS sf, "
                "s.last_position AS sl "
                "FROM runs r LEFT JOIN spans s ON s.command_id = r.cmd) "
                "WHERE again OR NOT recorded OR sf IS NOT first_position "
                "OR sl IS NOT last_position ORDER BY seq"
            )
            for cmd, first, last, again, recorded, span_first, span_last in wrong:
                span = (span_first, span_last) if recorded else None
                message = run_problem(cmd, first, last, bool(again), span)
                if message is not None:
                    self.report(message, [first, last])
            unseen = db.execute(
                "SELECT command_id, first_position, last_position FROM spans s "
                "WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.cmd = s.command_id) "
                "ORDER BY s.rowid"
            )
            for cmd, first, last in unseen:
                self.report(
                    f"command_ids row {cmd!r} spans {first}..{last} but no event carries it",
                    [first, last],
                )
            row = db.execute("SELECT COUNT(DISTINCT cmd) FROM runs").fetchone()
            self.commands = int(row[0]) if row else 0
        finally:
            self.discard()

    def discard(self) -> None:
        """Close and delete the scratch file (what ``close`` ends with; safe to repeat)."""
        with contextlib.suppress(sqlite3.ProgrammingError):
            self.db.close()
        self.path.unlink(missing_ok=True)
