"""What one append costs on the wire, and what it measures, on the real PostgreSQL server.

An append is two round trips (BEGIN, the lock and every read together; then the inserts and
COMMIT), a read one; the lock wait is the server's own figure. Round trips are counted from
libpq's protocol trace of the journal's pooled connections (each Sync or Flush the client sends
is one wait for the server), so nothing here depends on timing.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import ConcurrencyError, Journal
from events.postgres import PostgresJournal

pytestmark = pytest.mark.postgres

USER = Actor(guild_id=1, user_id=2)


class Trips:
    """The round trips counted by ``traced`` (set when its block ends)."""

    count = -1


@contextlib.contextmanager
def traced(journal: PostgresJournal, folder: Path) -> Iterator[Trips]:
    """Count the round trips of the block on every pooled connection of ``journal`` (libpq's
    protocol trace, ``waits``)."""
    datastore = journal._writes.datastore
    size = datastore.pool.max_size
    files = [folder / f"trace-{n}.txt" for n in range(size)]
    trips = Trips()

    @contextlib.contextmanager
    def every_connection() -> Iterator[list[psycopg.Connection[Any]]]:
        # Taken all at once (the pool opens as many as it may), so the block can use no other.
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(datastore.get_connection()) for _ in range(size)]

    with contextlib.ExitStack() as handles:
        with every_connection() as conns:
            for conn, path in zip(conns, files, strict=True):
                conn.pgconn.trace(handles.enter_context(path.open("w")).fileno())
                conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield trips
        finally:
            with every_connection() as conns:
                for conn in conns:
                    conn.pgconn.untrace()  # flushes the trace
    trips.count = sum(waits(f.read_text()) for f in files)


def waits(trace: str) -> int:
    """The batches the client sent and then waited for: a Sync or Flush right after a
    statement (psycopg may send a second Flush while it reads the same answer)."""
    sent = [f[2] for f in (line.split("\t") for line in trace.splitlines()) if f[0] == "F"]
    return sum(1 for a, b in itertools.pairwise(sent) if a == "Execute" and b in ("Sync", "Flush"))


def append(journal: Journal, n: int, *, expected: int | None = None) -> None:
    journal.append(
        [NewEvent("s", CommandHandled(name=f"c{n}"))],
        command_id=f"c{n}",
        actor=USER,
        expected_versions={"s": expected} if expected is not None else None,
    )


def test_an_append_is_two_round_trips_and_a_read_one(pg_url: str, tmp_path: Path) -> None:
    """Ten appends (each with its stream's expected version and a new command id) cost 20 round
    trips, a repeated command id 2 (its reads find it; ROLLBACK), a stream version read 1.
    Before, psycopg's transaction block in pipeline mode and one statement per read made an
    append seven, a repeat five and a read three."""
    journal = PostgresJournal(pg_url)
    try:
        append(journal, 0)
        with traced(journal, tmp_path) as appends:
            for n in range(1, 11):
                append(journal, n, expected=n)
        with traced(journal, tmp_path) as repeat:
            append(journal, 5)  # the same command id again
        with traced(journal, tmp_path) as read:
            assert journal.stream_version("s") == 11
        assert (appends.count, repeat.count, read.count) == (20, 2, 1)
    finally:
        journal.close()


def test_the_lock_wait_is_the_time_until_the_holder_committed(pg_url: str) -> None:
    """A writer that finds the table locked counts, in ``lock_wait_s``, at least the time from
    its BEGIN (the server's ``xact_start``) until the holder's last statement before COMMIT,
    both read from the server's clock."""
    journal = PostgresJournal(pg_url)
    holder = psycopg.connect(pg_url)
    try:
        append(journal, 0)
        before = journal.lock_wait_s
        holder.execute("LOCK TABLE stored_events IN EXCLUSIVE MODE")
        writer = threading.Thread(target=append, args=(journal, 1))
        writer.start()
        started = None
        with psycopg.connect(pg_url, autocommit=True) as monitor:  # fresh statistics each read
            while started is None:
                row = monitor.execute(
                    "SELECT xact_start FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                ).fetchone()
                started = row[0] if row else None
                writer.join(0.01)
        row = holder.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        held_until = row[0]
        holder.commit()
        writer.join()
        assert journal.head() == 2
        assert journal.lock_wait_s - before >= (held_until - started).total_seconds() > 0
    finally:
        holder.close()
        journal.close()


def test_a_write_refused_at_commit_leaves_nothing_and_the_next_goes_on(pg_url: str) -> None:
    """The inserts' errors arrive with COMMIT's Sync, after the reads: a chain row already at
    the next position (planted) refuses the append whole (no event, no command id), and the
    same connections append the next command at that position."""
    journal = PostgresJournal(pg_url)
    try:
        append(journal, 0)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("INSERT INTO event_chain VALUES (2, '\\x00')")
        with pytest.raises(ConcurrencyError):
            append(journal, 1)
        assert journal.head() == 1
        assert journal.command_span("c1") is None
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("DELETE FROM event_chain WHERE position = 2")
        append(journal, 2, expected=1)
        assert journal.head() == 2
        assert journal.command_span("c2") == (2, 2)
    finally:
        journal.close()


@pytest.mark.parametrize("size", [1, 16, 17, 40])
def test_appends_of_any_size_land_chained_in_one_or_three_statements(
    pg_url: str, size: int
) -> None:
    """Up to 16 events insert with one statement (events, chain links, command id), larger
    appends one statement per table: either way the positions, versions, chain and command id
    come out the same, and the next append (16 or fewer) continues them."""
    journal = PostgresJournal(pg_url)
    try:
        events = [NewEvent(f"s{n % 3}", CommandHandled(name=f"e{n}")) for n in range(size)]
        assert journal.append(events, command_id="big", actor=USER).positions == list(
            range(1, size + 1)
        )
        append(journal, 0)
        rows = [row for page in journal.row_pages() for row in page.rows]  # chain checked
        assert [r[0] for r in rows] == list(range(1, size + 2))
        assert [journal.stream_version(f"s{n}") for n in range(3)] == [
            len(range(n, size, 3)) for n in range(3)
        ]
        assert (journal.command_span("big"), journal.command_span("c0")) == (
            (1, size),
            (size + 1, size + 1),
        )
        assert journal.append(events, command_id="big", actor=USER).duplicate
    finally:
        journal.close()
