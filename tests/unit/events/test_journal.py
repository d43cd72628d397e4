"""The journal contract on both backends (SQLite, PostgreSQL): appends, idempotency, concurrency,
paged reads, bulk restore; and the SQLite file's own: close, the read-only reader."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import (
    AppendResult,
    AsyncJournal,
    ConcurrencyError,
    Journal,
    JournalReader,
    RestoreMismatchError,
)
from events.records import RawRecord

AT = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
USER = Actor(guild_id=1, user_id=2)


def audit(name: str = "picks") -> CommandHandled:
    """A small event to append."""
    return CommandHandled(name=name)


def test_append_assigns_positions_and_versions(journal: Journal) -> None:
    """One append of three events on two streams gets positions 1..3 and per-stream versions."""
    result = journal.append(
        [NewEvent("a", audit()), NewEvent("b", audit()), NewEvent("a", audit())],
        command_id="c1",
        actor=USER,
        recorded_at=AT,
    )
    assert result.positions == [1, 2, 3]
    assert not result.duplicate
    assert journal.head() == 3
    assert (journal.stream_version("a"), journal.stream_version("b")) == (2, 1)
    envs = [e for page in journal.read() for e in page]
    assert [(e.stream, e.version) for e in envs] == [("a", 1), ("b", 1), ("a", 2)]
    assert all(e.command_id == "c1" and e.actor == USER and e.recorded_at == AT for e in envs)


def test_same_command_id_appends_once(journal: Journal) -> None:
    """A repeated command id writes nothing and reports the first append's positions."""
    first = journal.append(
        [NewEvent("a", audit()), NewEvent("a", audit())], command_id="c", actor=USER
    )
    again = journal.append([NewEvent("a", audit("other"))], command_id="c", actor=USER)
    assert again.duplicate
    assert again.positions == first.positions == [1, 2]
    assert journal.head() == 2
    assert journal.command_span("c") == (1, 2)


def test_stale_expected_version_raises_and_writes_nothing(journal: Journal) -> None:
    """An append expecting an old stream version raises ConcurrencyError; the head is unchanged."""
    journal.append([NewEvent("a", audit())], command_id="c1", actor=USER)
    with pytest.raises(ConcurrencyError, match="expected 0"):
        journal.append(
            [NewEvent("b", audit()), NewEvent("a", audit())],
            command_id="c2",
            actor=USER,
            expected_versions={"a": 0},
        )
    assert journal.head() == 1
    assert journal.stream_version("b") == 0
    assert journal.command_span("c2") is None


def test_matching_expected_version_appends(journal: Journal) -> None:
    """An append whose expected version is current goes through."""
    journal.append([NewEvent("a", audit())], command_id="c1", actor=USER)
    result = journal.append(
        [NewEvent("a", audit())], command_id="c2", actor=USER, expected_versions={"a": 1}
    )
    assert result.positions == [2]


def test_threads_sharing_a_journal_keep_positions_gap_free(journal: Journal) -> None:
    """Four threads append 25 commands each through one journal: positions 1..100, none lost."""
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                journal.append([NewEvent(f"s{n}", audit())], command_id=f"{n}-{i}", actor=USER)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    positions = [e.position for page in journal.read() for e in page]
    assert positions == list(range(1, 101))
    assert [journal.stream_version(f"s{n}") for n in range(4)] == [25] * 4


def test_second_writer_with_stale_version_loses(journal: Journal) -> None:
    """Two handles decide on version 0 of a stream; the second to append gets ConcurrencyError."""
    other = Journal.open(journal.path, url=journal.url)
    try:
        seen = {"a": other.stream_version("a")}
        journal.append(
            [NewEvent("a", audit())], command_id="c1", actor=USER, expected_versions=seen
        )
        with pytest.raises(ConcurrencyError):
            other.append(
                [NewEvent("a", audit())], command_id="c2", actor=USER, expected_versions=seen
            )
        assert journal.head() == 1
    finally:
        other.close()


def test_read_is_paged_and_filters_tags(journal: Journal) -> None:
    """read() yields pages of page_size, honours start/stop, and filters by tag."""
    for i in range(12):
        journal.append([NewEvent("a", audit(f"n{i}"))], command_id=f"c{i}", actor=USER)
    pages = list(journal.read(page_size=5))
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [e.position for e in next(journal.read(start=4, stop=6))] == [4, 5, 6]
    assert list(journal.read(tags=["trade_opened"])) == []
    assert journal.get(3) is not None
    assert journal.get(99) is None


def test_append_raw_continues_head_byte_identical(journal: Journal, tmp_path: Path) -> None:
    """Restored records keep positions, states and command spans of the source journal."""
    journal.append([NewEvent("a", audit()), NewEvent("b", audit())], command_id="c1", actor=USER)
    journal.append([NewEvent("a", audit())], command_id="c2", actor=USER)
    records = journal.read_raw(1, 10)
    copy = Journal.open(tmp_path / "copy.sqlite")
    try:
        copy.append_raw(records[:1])
        copy.append_raw(records[1:])
        assert copy.read_raw(1, 10) == records
        assert copy.command_span("c1") == (1, 2)
        assert copy.command_span("c2") == (3, 3)
        dup = copy.append([NewEvent("a", audit())], command_id="c2", actor=USER)
        assert dup.duplicate
    finally:
        copy.close()


def test_append_raw_refuses_a_gap(journal: Journal) -> None:
    """Records that do not start at head + 1 are refused and nothing is written."""
    state = journal.codec.encode(audit(), recorded_at=AT, command_id="x", actor=USER)
    with pytest.raises(RestoreMismatchError, match="does not follow 0"):
        journal.append_raw([RawRecord(2, "a", 1, "command_handled", state)])
    assert journal.head() == 0


def test_close_releases_the_file(tmp_path: Path) -> None:
    """After close, the file opens again with the same head, and SQLite can take a write lock."""
    path = tmp_path / "j.sqlite"
    j = Journal.open(path)
    j.append([NewEvent("a", audit())], command_id="c", actor=USER)
    j.close()
    con = sqlite3.connect(path, timeout=0.1)
    con.execute("BEGIN EXCLUSIVE")
    con.rollback()
    con.close()
    again = Journal.open(path)
    try:
        assert again.head() == 1
    finally:
        again.close()


def test_reader_is_read_only(sqlite_journal: Journal) -> None:
    """JournalReader reads the same rows and cannot write."""
    journal = sqlite_journal
    journal.append([NewEvent("a", audit())], command_id="c", actor=USER)
    reader = JournalReader(journal.path)
    try:
        assert reader.head() == 1
        assert next(r for p in reader.row_pages() for r in p.rows)[:4] == (
            1,
            "a",
            1,
            "command_handled",
        )
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.connection.execute("DELETE FROM stored_events")
    finally:
        reader.close()


async def test_async_journal_appends_off_the_loop(journal: Journal) -> None:
    """AsyncJournal appends and reads through its writer thread."""
    aj = AsyncJournal(journal)
    result = await aj.append([NewEvent("a", audit())], command_id="c", actor=USER)
    assert result.positions == [1]
    assert [r.position for r in await aj.read_raw(1, 10)] == [1]
    assert aj.head() == 1
    await aj.close()


class _ThreadNoting(Journal):
    """A journal that notes the thread each forwarded call ran on."""

    threads: list[str]

    def append(self, *args: Any, **kwargs: Any) -> AppendResult:
        self.threads.append(threading.current_thread().name)
        return super().append(*args, **kwargs)

    def append_raw(self, *args: Any, **kwargs: Any) -> bytes:
        self.threads.append(threading.current_thread().name)
        return super().append_raw(*args, **kwargs)

    def chain_at(self, position: int) -> bytes:
        self.threads.append(threading.current_thread().name)
        return super().chain_at(position)

    def read_raw(self, *args: Any, **kwargs: Any) -> list[RawRecord]:
        self.threads.append(threading.current_thread().name)
        return super().read_raw(*args, **kwargs)


async def test_async_journal_forwards_each_method_to_the_one_writer_thread(
    tmp_path: Path,
) -> None:
    """Every forwarded method runs the wrapped journal's own (overridden) method, with its
    arguments as given, on the one writer thread, never on the event loop's thread."""
    source = Journal.open(tmp_path / "source.sqlite")
    source.append([NewEvent("a", audit()), NewEvent("b", audit())], command_id="c", actor=USER)
    target = _ThreadNoting(tmp_path / "target.sqlite")
    target.threads = []
    aj = AsyncJournal(target)
    try:
        await aj.append_raw(source.read_raw(1, 1))
        result = await aj.append([NewEvent("c", audit())], command_id="c2", actor=USER)
        assert result.positions == [2]
        assert [r.position for r in await aj.read_raw(1, 10, stop=1)] == [1]
        assert await aj.chain_at(1) == source.chain_at(1)  # the same record, the same link
    finally:
        await aj.close()
        source.close()
    loop_thread = threading.current_thread().name
    assert len(target.threads) == 4
    assert len(set(target.threads)) == 1
    assert target.threads[0].startswith("journal-writer")
    assert loop_thread not in target.threads
