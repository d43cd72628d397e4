"""Many writers on one PostgreSQL journal: processes appending at once, killed at random points,
and a reader facing a slower transaction. Real server, real processes (``tests.support``)."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import ConcurrencyError, Journal
from events.postgres import PostgresJournal, PostgresJournalReader

pytestmark = pytest.mark.postgres

REPO_ROOT = Path(__file__).resolve().parents[3]
USER = Actor(guild_id=1, user_id=2)
AT = datetime(2024, 1, 2, tzinfo=UTC)
Ack = tuple[str, int, int]  # command id, first position, last position


def start_writer(url: str, name: str, count: int = 0) -> subprocess.Popen[str]:
    """A ``tests.support.pg_writer`` process, once it printed READY."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.pg_writer", url, name, "--count", str(count)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    return proc


def acks_of(lines: list[str]) -> list[Ack]:
    """The ``ACK`` lines of a writer, in the order it printed them."""
    out = []
    for line in lines:
        if line.startswith("ACK "):
            _, command_id, first, last = line.split()
            out.append((command_id, int(first), int(last)))
    return out


def assert_sound(url: str, acked: dict[str, list[Ack]]) -> list[tuple[int, str, str, int]]:
    """The journal holds every acknowledged command at its acknowledged positions, once, and in
    each writer's order; positions are 1..head without a gap; each command's two events are
    adjacent; ``shared``'s versions run 1..n; the hash chain holds. Returns the rows read."""
    journal = Journal.open("", url=url)
    try:
        rows = [
            (env.position, env.command_id, env.stream, env.version)
            for page in journal.read()  # checks every chain link on the way
            for env in page
        ]
        head = journal.head()
        for acks in acked.values():
            assert [first for _, first, _ in acks] == sorted(first for _, first, _ in acks)
            for command_id, first, last in acks:
                assert journal.command_span(command_id) == (first, last)
    finally:
        journal.close()
    assert [p for p, *_ in rows] == list(range(1, head + 1))
    by_position = {p: c for p, c, *_ in rows}
    for acks in acked.values():
        for command_id, first, last in acks:
            assert last == first + 1
            assert by_position[first] == by_position[last] == command_id
    commands = [c for p, c, *_ in rows if p % 2 == 1]
    assert len(commands) == len(set(commands)) == head // 2
    assert [v for _, _, s, v in rows if s == "shared"] == list(range(1, head // 2 + 1))
    return rows


def test_writer_processes_appending_at_once_lose_duplicate_and_reorder_nothing(
    pg_url: str,
) -> None:
    """Four processes append 30 commands each, all contending for one stream with expected
    versions: every command is acknowledged once and stored at its acknowledged positions in
    its writer's order, positions 1..240 have no gap, and ``shared`` has versions 1..120."""
    Journal.open("", url=pg_url).close()  # the tables, before the writers race for them
    writers = {f"w{n}": start_writer(pg_url, f"w{n}", count=30) for n in range(4)}
    output = {name: proc.communicate()[0].splitlines() for name, proc in writers.items()}
    assert all(proc.returncode == 0 for proc in writers.values())
    acked = {name: acks_of(lines) for name, lines in output.items()}
    assert all(len(acks) == 30 for acks in acked.values())
    rows = assert_sound(pg_url, acked)
    assert len(rows) == 240


def test_writers_killed_at_random_points_lose_nothing_acknowledged(pg_url: str) -> None:
    """Three writers append without end; each is SIGKILLed after a random number (seeded) of
    acknowledgements, mid-append or between appends. Every acknowledged command is in the
    journal at its positions, no half command is, positions stay gap-free, and a new writer then
    appends after them (no lock is left behind)."""
    rng = random.Random(15)
    Journal.open("", url=pg_url).close()
    writers = {f"k{n}": start_writer(pg_url, f"k{n}") for n in range(3)}
    acked: dict[str, list[Ack]] = {}
    for name, proc in writers.items():
        assert proc.stdout is not None
        wanted, lines = rng.randint(1, 40), list[str]()
        while len(acks_of(lines)) < wanted:
            lines.append(proc.stdout.readline())
        proc.kill()
        lines += proc.communicate()[0].splitlines()  # ACKs printed before the kill landed
        acked[name] = acks_of(lines)
    after = start_writer(pg_url, "after", count=5)
    acked["after"] = acks_of(after.communicate()[0].splitlines())
    assert after.returncode == 0
    assert len(acked["after"]) == 5
    rows = assert_sound(pg_url, acked)
    assert acked["after"][-1][2] == len(rows)


def _waiting_on_the_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
    return bool(row and row[0])


def test_a_reader_never_sees_a_position_past_one_still_uncommitted(pg_url: str) -> None:
    """A slow transaction holds position 2, uncommitted; a second writer waits for the table
    lock instead of taking position 3; meanwhile readers (journal and read-only reader) see only
    position 1. After the commit both land in order, 2 then 3, and readers see 1..3: a reader
    polling the head never skips a position that a slower transaction fills later."""
    journal = Journal.open("", url=pg_url)
    slow, fast = PostgresJournal(pg_url), PostgresJournal(pg_url)
    reader = PostgresJournalReader(pg_url)
    try:
        journal.append([NewEvent("a", CommandHandled(name="first"))], command_id="c1", actor=USER)
        state = journal.codec.encode(
            CommandHandled(name="slow"), recorded_at=AT, command_id="slow", actor=USER
        )
        transaction = slow._datastore.transaction(commit=True)
        cursor = transaction.__enter__()  # takes the table lock, as every append does
        positions = slow.recorder.append_rows(
            cursor,
            [StoredEvent(originator_id="b", originator_version=1, topic="command_handled",
                         state=state)],
            command_id="slow",
        )  # fmt: skip
        assert positions == [2]
        row = cursor.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        assert row == (2,)  # written (and seen by its own transaction), not committed
        done: list[list[int]] = []
        second = threading.Thread(
            target=lambda: done.append(
                fast.append(
                    [NewEvent("c", CommandHandled(name="fast"))], command_id="fast", actor=USER
                ).positions
            )
        )
        second.start()
        while not _waiting_on_the_lock(pg_url):
            second.join(0.01)
        assert done == []  # the second writer waits: it did not take position 3 past the gap
        assert journal.head() == reader.head() == 1
        assert [e.position for page in journal.read() for e in page] == [1]
        assert [r[0] for page in reader.row_pages() for r in page.rows] == [1]
        transaction.__exit__(None, None, None)  # commit position 2
        second.join()
        assert done == [[3]]
        assert [(e.position, e.command_id) for page in journal.read() for e in page] == [
            (1, "c1"),
            (2, "slow"),
            (3, "fast"),
        ]
    finally:
        for j in (journal, slow, fast):
            j.close()
        reader.close()


def test_without_the_table_lock_a_reader_would_skip_a_position(pg_url: str) -> None:
    """The hazard the lock exists for, shown on the same tables with plain inserts (the
    ``bigserial`` default, no lock): a slow transaction takes id n, a fast one commits n + 1,
    and a reader sees n + 1 while n is missing; once it has moved past n + 1 it never reads n.
    The journal's own appends (previous test) never let this happen."""
    Journal.open("", url=pg_url).close()
    insert = (
        "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
        "VALUES (%s, 1, 't', '') RETURNING notification_id"
    )
    with (
        psycopg.connect(pg_url) as slow,
        psycopg.connect(pg_url, autocommit=True) as fast,
        psycopg.connect(pg_url, autocommit=True) as reader,
    ):
        taken = slow.execute(insert, ("slow",)).fetchone()
        committed = fast.execute(insert, ("fast",)).fetchone()
        assert taken is not None
        assert committed is not None
        assert committed[0] == taken[0] + 1
        seen = [r[0] for r in reader.execute("SELECT notification_id FROM stored_events")]
        assert seen == [committed[0]]  # a reader now at n + 1 has skipped n for good
        slow.commit()
        seen = [r[0] for r in reader.execute("SELECT notification_id FROM stored_events")]
        assert sorted(seen) == [taken[0], committed[0]]


def test_stale_expected_version_from_another_process_is_refused(pg_url: str) -> None:
    """Two separate connection pools (as two replicas) read version 0 of a stream; the second
    to append with it gets ConcurrencyError and writes nothing."""
    a, b = Journal.open("", url=pg_url), Journal.open("", url=pg_url)
    try:
        seen = {"s": b.stream_version("s")}
        a.append([NewEvent("s", CommandHandled(name="a"))], command_id="a", actor=USER,
                 expected_versions=seen)  # fmt: skip
        with pytest.raises(ConcurrencyError, match="expected 0"):
            b.append([NewEvent("s", CommandHandled(name="b"))], command_id="b", actor=USER,
                     expected_versions=seen)  # fmt: skip
        assert (a.head(), b.command_span("b")) == (1, None)
    finally:
        a.close()
        b.close()
