"""The append-only journal: the eventsourcing library's SQLite application recorder, our codec.

Guarantees (they are the library's, plus idempotency by command id):

1. Global order is commit order; positions (the library's notification ids, SQLite rowids) are
   gap-free and start at 1. Nothing ever updates or deletes an event.
2. Per-stream optimistic concurrency on ``(stream, version)``: an append with a stale expected
   version raises ``ConcurrencyError`` and writes nothing.
3. Idempotent appends: one command id appends once. A second append with the same command id
   writes nothing and reports the first append's positions (``duplicate=True``).
4. One writer: the library's API is synchronous, so ``AsyncJournal`` runs every call on one
   dedicated thread, never on the event loop.

5. Self-verifying: ``event_chain(position, hash)`` holds a hash chain over the stored events
   (``events.chain``), written in the same transaction as each append. Reads through ``row_pages``
   check every row's link and raise ``JournalCorruptError`` naming the position of a changed byte,
   so nothing downstream (a projection, a rebuild, the shipper) ever treats it as the truth.
6. One writer per data folder: a writable ``Journal`` on a file holds ``WriterLock`` (an OS lock on
   ``<folder>/writer.lock``) until closed; a second process is refused with ``WriterBusyError``
   naming the holder.

Where the library does not fit we extend it and keep to its table layout: ``stored_events`` is the
library's table, untouched (streams are stored as text ids); the ``command_ids`` and
``event_chain`` tables beside it, written in the same transaction, make appends idempotent and the
journal self-verifying. The library's recorder inserts one row per statement to learn each rowid;
with a single writer the rowids of a batch are ``head + 1 .. head + n``, so we insert a batch with
one ``executemany`` and check the head after.

Over 500 lines on purpose: this module is the one owner of the guarantees above (recorder, writer
lock, append, restore, the read-only reader and the writer thread over the same SQLite file);
splitting it would spread them. ``WriterLock`` and ``JournalReader`` are the seams if it grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import (
    Any,
    ClassVar,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    overload,
)

import msgspec
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from events.base import Actor, Envelope, NewEvent
from events.chain import GENESIS, broken_links, extend, record_rows
from events.codec import EventCodec
from events.errors import EventsError
from events.records import RawRecord

DEFAULT_PAGE_SIZE = 5000
_T = TypeVar("_T")
_P = ParamSpec("_P")

Row = tuple[int, str, int, str, bytes]
"""One stored event as read: (position, stream, version, tag, state)."""

_SELECT_ROWS = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
    "WHERE rowid BETWEEN ? AND ?"
)
_SELECT_CHAIN = "SELECT position, hash FROM event_chain WHERE position BETWEEN ? AND ?"
CHAIN_DDL = (
    "CREATE TABLE IF NOT EXISTS event_chain (position INTEGER PRIMARY KEY, hash BLOB NOT NULL)"
)
COMMAND_IDS_DDL = (
    "CREATE TABLE IF NOT EXISTS command_ids ("
    "command_id TEXT PRIMARY KEY, first_position INTEGER, last_position INTEGER)"
)


class RowPage(msgspec.Struct, frozen=True):
    """The stored events of the positions ``first..last`` (only the wanted tags, when filtered)."""

    first: int
    last: int
    rows: list[Row]


def _row_pages(
    fetch: Callable[[str, Sequence[Any]], list[Any]],
    start: int,
    stop: int | None,
    tags: Sequence[str],
    page_size: int,
    head: int,
    *,
    check_chain: bool,
) -> Iterator[RowPage]:
    end = head if stop is None else min(stop, head)
    sql = _SELECT_ROWS
    wanted = sorted(set(tags))
    if wanted:
        sql += f" AND topic IN ({', '.join('?' * len(wanted))})"
    sql += " ORDER BY rowid"
    first = max(start, 1)
    while first <= end:
        last = min(first + page_size - 1, end)
        rows: list[Row] = fetch(sql, [first, last, *wanted])
        if check_chain:
            check_links(rows, dict(fetch(_SELECT_CHAIN, [first - 1, last])))
        yield RowPage(first, last, rows)
        first = last + 1


def check_links(rows: Sequence[Row], stored: dict[int, bytes]) -> None:
    """Raise ``JournalCorruptError`` at the first row whose chain link does not hold."""
    for position in broken_links(rows, stored):
        row = next(r for r in rows if r[0] == position)
        raise JournalCorruptError(position, fault_message(row))


def fault_message(row: Row) -> str:
    """What a broken chain link at ``row`` means, and what to do about it."""
    position, stream, version, tag, _ = row
    return (
        f"journal fault at position {position} ({tag} on {stream} v{version}): its stored bytes "
        "do not match the journal's hash chain, so it was changed on disk after it was written. "
        "Nothing treats it as the truth: restore a good copy with `ibpicker sync pull` onto a "
        "fresh --data-dir, then `ibpicker journal verify` there"
    )


class JournalError(EventsError):
    """Root of journal errors."""


class ConcurrencyError(JournalError):
    """An expected stream version was stale: someone appended first. Nothing was written."""


class RestoreMismatchError(JournalError):
    """Raw records handed to ``append_raw`` do not continue the journal exactly."""


class JournalCorruptError(JournalError):
    """A stored event does not match the journal's hash chain (a changed byte): a journal fault."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


class WriterBusyError(JournalError):
    """Another process holds the data folder's writer lock: this one must not write."""

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(
            f"{folder} is in use by another writer: {holder}. One writer per data folder: stop "
            "it first, or use another --data-dir"
        )
        self.folder = folder
        self.holder = holder


WRITER_LOCK_FILE = "writer.lock"


class WriterLock:
    """One writer per data folder: an OS lock (``flock``) on ``<folder>/writer.lock``.

    The holder writes its process id and command into the file, so a refused writer can say who
    holds it. The OS releases the lock when the holder exits, however it exits (``kill -9``
    included), so there is nothing stale to clean up. Within one process the lock is shared
    (counted): the journal, a rebuild and the service of one process are one writer, and
    ``flock`` would otherwise refuse a second descriptor of the same process.
    """

    _held: ClassVar[dict[str, list[int]]] = {}  # lock path -> [fd, users]
    _guard = threading.Lock()

    def __init__(self, folder: Path, *, command: str | None = None) -> None:
        self.folder = folder
        self.path = folder / WRITER_LOCK_FILE
        self.command = command or _command_line()
        self._key = str(self.path.resolve())
        self._acquired = False

    def acquire(self) -> WriterLock:
        """Take the lock, or raise ``WriterBusyError`` naming the holder (never waits)."""
        with self._guard:
            held = self._held.get(self._key)
            if held is not None:
                held[1] += 1
                self._acquired = True
                return self
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
                os.close(fd)
                raise WriterBusyError(self.folder, holder or "another process") from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} ({self.command})\n".encode(), 0)
            self._held[self._key] = [fd, 1]
            self._acquired = True
            return self

    def release(self) -> None:
        """Give the lock back (the OS lock goes when this process's last user releases it)."""
        with self._guard:
            if not self._acquired:
                return
            self._acquired = False
            held = self._held.get(self._key)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del self._held[self._key]
                with contextlib.suppress(OSError):
                    os.ftruncate(held[0], 0)
                os.close(held[0])  # closing the descriptor releases the flock


def _command_line() -> str:
    args = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
    return " ".join(args)[:200]


class _DuplicateCommandError(Exception):
    def __init__(self, first: int, last: int) -> None:
        super().__init__(first, last)
        self.first = first
        self.last = last


class AppendResult(msgspec.Struct, frozen=True):
    """What an append did: the positions of its events, and whether it was a repeat."""

    positions: list[int]
    duplicate: bool = False

    @property
    def last_position(self) -> int:
        """The highest position of this append (0 when it appended nothing)."""
        return self.positions[-1] if self.positions else 0


class AppendReads(msgspec.Struct, frozen=True):
    """What an append reads in its write transaction: the head, the current version of each
    stream it appends to, and the positions its command id already has (``None``: new)."""

    head: int
    versions: dict[str, int]
    command_span: tuple[int, int] | None = None


class JournalAppends(ApplicationRecorder):
    """Idempotent, chained appends through a recorder's cursor: one copy for both backends.

    The statements are written for SQLite (``?`` parameters, ``rowid`` as the position); the
    PostgreSQL recorder (``events.postgres``) runs them through a cursor that maps those two
    things to psycopg's. Each backend says how to read its head and insert rows at positions.
    """

    events_table_name: str

    def _head(self, c: Any) -> int:
        raise NotImplementedError

    def _insert_rows(self, c: Any, head: int, stored_events: Sequence[StoredEvent]) -> None:
        raise NotImplementedError

    def _chain_at(self, c: Any, head: int) -> bytes:
        # PostgreSQL reads it with the head, in the same round trip.
        return chain_at(c, head)

    def read_for_append(
        self, c: Any, streams: Sequence[str], command_id: str | None
    ) -> AppendReads:
        """What an append must read inside its write transaction, before it writes.

        One statement per read here (SQLite: in-process calls, no round trips); the PostgreSQL
        recorder reads them all in one statement (one round trip under the table lock).
        """
        span = None
        if command_id is not None:
            c.execute(
                "SELECT first_position, last_position FROM command_ids WHERE command_id=?",
                (command_id,),
            )
            row = c.fetchone()
            if row is not None:
                span = (int(row[0]), int(row[1]))
        versions = {stream: self.stream_version(c, stream) for stream in streams}
        return AppendReads(head=self._head(c), versions=versions, command_span=span)

    def append_rows(
        self, c: Any, stored_events: Sequence[StoredEvent], *, command_id: str | None
    ) -> list[int]:
        """Insert ``stored_events`` at ``head + 1..``, chained, under ``command_id`` (once)."""
        reads = self.read_for_append(c, [], command_id)
        if reads.command_span is not None:
            raise _DuplicateCommandError(*reads.command_span)
        return self.write_rows(c, reads.head, stored_events, command_id=command_id)

    def write_rows(
        self,
        c: Any,
        head: int,
        stored_events: Sequence[StoredEvent],
        *,
        command_id: str | None,
    ) -> list[int]:
        """Insert ``stored_events`` at ``head + 1..`` (``head`` as ``read_for_append`` read it
        in this transaction), extend the chain, and record ``command_id``'s positions."""
        positions = list(range(head + 1, head + 1 + len(stored_events)))
        rows = [
            (p, str(s.originator_id), s.originator_version, s.topic, s.state)
            for p, s in zip(positions, stored_events, strict=True)
        ]
        links = list(extend(self._chain_at(c, head), rows))
        span = (command_id, positions[0], positions[-1]) if command_id and positions else None
        self._insert_all(c, head, stored_events, links, span)
        return positions

    def _insert_all(
        self,
        c: Any,
        head: int,
        stored_events: Sequence[StoredEvent],
        links: Sequence[tuple[int, bytes]],
        command: tuple[str, int, int] | None,
    ) -> None:
        """Insert the events at ``head + 1..``, their chain ``links`` and the ``command`` id's
        positions (one statement each here; the PostgreSQL recorder sends them as one)."""
        self._insert_rows(c, head, stored_events)
        c.executemany("INSERT INTO event_chain VALUES (?, ?)", links)
        if command is not None:
            c.execute("INSERT INTO command_ids VALUES (?, ?, ?)", command)

    def stream_version(self, c: Any, stream: str) -> int:
        """The highest version of ``stream`` (0 when empty)."""
        c.execute(
            # Table names come from the library's recorder, never from input.
            f"SELECT MAX(originator_version) FROM {self.events_table_name} "  # noqa: S608
            "WHERE originator_id=?",
            (stream,),
        )
        row = c.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0


class JournalRecorder(JournalAppends, SQLiteApplicationRecorder):
    """The library's SQLite application recorder plus the command-id table and bulk inserts."""

    def construct_create_table_statements(self) -> list[str]:
        """The library's ``stored_events``, ``command_ids`` (idempotency), ``event_chain``."""
        return [
            *super().construct_create_table_statements(),
            COMMAND_IDS_DDL,
            CHAIN_DDL,
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return self.append_rows(c, stored_events, command_id=kwargs.get("command_id"))

    def _head(self, c: Any) -> int:
        return self._max_notification_id(c) or 0

    def _insert_rows(self, c: Any, head: int, stored_events: Sequence[StoredEvent]) -> None:
        c.executemany(
            self.insert_events_statement,
            [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events],
        )
        if (self._max_notification_id(c) or 0) != head + len(stored_events):
            raise JournalError("positions are not contiguous: is another process writing?")


def chain_at(c: Any, position: int) -> bytes:
    """The chain hash at ``position`` (``GENESIS`` at 0) through cursor ``c``.

    Raises ``JournalCorruptError`` when it is missing: the chain is complete up to the head once
    a writer has opened the journal (``Journal._migrate_chain``), so a hole means damage.
    """
    if position == 0:
        return GENESIS
    c.execute("SELECT hash FROM event_chain WHERE position = ?", (position,))
    row = c.fetchone()
    if row is None:
        raise JournalCorruptError(
            position,
            f"journal fault: the hash chain has no entry for position {position}; run "
            "`ibpicker journal verify`",
        )
    return bytes(row[0])


Synchronous = Literal["NORMAL", "FULL"]
"""SQLite's ``synchronous`` for a journal file: ``NORMAL`` (the product's, see
``_WalNormalPool``) or ``FULL`` (the WAL flushed to disk at every commit: the durability class
of PostgreSQL with ``fsync`` on; for comparisons such as ``benchmarks/scale.py``)."""


class _WalNormalPool(SQLiteConnectionPool):
    """The library's pool; each new connection also sets ``synchronous=NORMAL``.

    The library opens the file in WAL mode and leaves SQLite's default ``synchronous=FULL``, which
    syncs the WAL to disk on every commit (the largest part of an append's latency here). With WAL,
    ``NORMAL`` syncs only at checkpoints: a committed append survives a crash of the process (the
    WAL is in the OS's page cache), and the file can never be corrupted; only an OS crash or a power
    loss can lose the last commits before the next checkpoint. Those are covered by shipping: the
    journal's truth beyond this machine is its segments in Blob Storage, and a restarted container
    restores from them (DESIGN.md, Sync), so the bound on loss is the shipping policy's, as it is
    for a lost disk anyway. SQLite's docs call this combination safe for WAL mode.
    """

    synchronous: Synchronous = "NORMAL"

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        if not self.is_sqlite_memory_mode:
            connection.cursor().execute(f"PRAGMA synchronous={self.synchronous}")
        return connection


class _JournalDatastore(SQLiteDatastore):
    """The library's SQLite datastore on ``_WalNormalPool`` connections."""

    def __init__(
        self,
        db_name: str,
        *,
        pool_size: int,
        max_overflow: int,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        super().__init__(
            db_name=db_name,
            originator_id_type="text",
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        self.pool.close()  # nothing was opened yet; replaced with the same settings
        self.pool = _WalNormalPool(db_name=db_name, pool_size=pool_size, max_overflow=max_overflow)
        self.pool.synchronous = synchronous


class JournalStore(Protocol):
    """What ``Journal`` needs of the library's datastore (SQLite here, PostgreSQL in
    ``events.postgres``): transactions over a cursor, and closing."""

    def transaction(self, *, commit: bool) -> contextlib.AbstractContextManager[Any]:
        """A cursor in a transaction, committed at the end when ``commit``."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...


class Journal:
    """Synchronous journal over one SQLite file. Use from one thread (see ``AsyncJournal``).

    ``Journal.open(path, url="postgresql://…")`` opens the same journal on PostgreSQL instead
    (``events.postgres.PostgresJournal``).
    """

    recorder: JournalAppends
    _datastore: JournalStore
    url: str | None = None
    """The PostgreSQL URL of a journal in a database (``None``: the SQLite file ``path``)."""

    def __init__(
        self,
        path: Path | str,
        *,
        codec: EventCodec | None = None,
        command: str | None = None,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        """Open the journal for writing: take the folder's ``WriterLock``, create the tables,
        and chain any events stored before the chain existed (``_migrate_chain``).

        ``synchronous="FULL"`` flushes the WAL at every commit instead of at checkpoints
        (``Synchronous``); the product keeps ``NORMAL``. Raises ``WriterBusyError`` when another
        process writes to the folder.
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        self.path = Path(path)
        self.writer_lock: WriterLock | None = None
        if str(path) != ":memory:":
            self.writer_lock = WriterLock(self.path.parent, command=command).acquire()
        try:
            datastore = _JournalDatastore(
                str(path), pool_size=2, max_overflow=2, synchronous=synchronous
            )
            recorder = JournalRecorder(datastore)
            recorder.create_table()
            self._datastore, self.recorder = datastore, recorder
            self.codec = codec or EventCodec()
            self._migrate_chain()
        except BaseException:
            if self.writer_lock is not None:
                self.writer_lock.release()
            raise

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        command: str | None = None,
        url: str | None = None,
        synchronous: Synchronous = "NORMAL",
    ) -> Journal:
        """Open (creating if needed) the journal at ``path`` (see ``__init__``), or, with a
        ``postgresql://`` ``url``, the journal in that database (``path`` and ``synchronous``
        are then unused: the server's settings decide its durability)."""
        if url is not None:
            from events.postgres import PostgresJournal  # psycopg is loaded on that path only

            return PostgresJournal(url, command=command)
        return cls(path, command=command, synchronous=synchronous)

    def close(self) -> None:
        """Close every connection and give back the writer lock."""
        self._datastore.close()
        if self.writer_lock is not None:
            self.writer_lock.release()
            self.writer_lock = None

    def _migrate_chain(self, page_size: int = 50_000) -> None:
        """Migration: chain the events stored before ``event_chain`` existed.

        Journals written before the hash chain have events and no chain rows; the first writer to
        open one computes the chain for every position past the chain's end, a page per
        transaction (a crash resumes where it stopped). These events are trusted as they are now:
        the chain guards them from here on. Nothing to do on a journal that already has it.
        """
        with self._datastore.transaction(commit=False) as c:
            c.execute("SELECT MAX(position) FROM event_chain")
            row = c.fetchone()
        chained = int(row[0] or 0) if row is not None else 0
        head = self.head()
        while chained < head:
            last = min(chained + page_size, head)
            with self._datastore.transaction(commit=True) as c:
                prev = chain_at(c, chained)
                c.sqlite_cursor.row_factory = None
                c.execute(_SELECT_ROWS + " ORDER BY rowid", (chained + 1, last))
                rows = c.fetchall()
                c.executemany("INSERT INTO event_chain VALUES (?, ?)", list(extend(prev, rows)))
            chained = last

    # -- writing --------------------------------------------------------------------------------

    def append(
        self,
        events: Sequence[NewEvent],
        *,
        command_id: str,
        actor: Actor,
        expected_versions: Mapping[str, int] | None = None,
        recorded_at: datetime | None = None,
    ) -> AppendResult:
        """Append one command's events in one transaction (see the module's guarantees)."""
        if not events:
            return AppendResult(positions=[])
        at = recorded_at or datetime.now(UTC)
        expected = dict(expected_versions or {})
        # Encoded before the transaction: nothing in a state depends on what the journal holds,
        # and on PostgreSQL every statement inside it runs under the table lock.
        states = [
            self.codec.encode(new.event, recorded_at=at, command_id=command_id, actor=actor)
            for new in events
        ]
        streams = list(dict.fromkeys(new.stream for new in events))
        try:
            with self._datastore.transaction(commit=True) as c:
                reads = self.recorder.read_for_append(c, streams, command_id)
                if reads.command_span is not None:
                    raise _DuplicateCommandError(*reads.command_span)
                for stream in streams:
                    want, current = expected.get(stream), reads.versions[stream]
                    if want is not None and want != current:
                        raise ConcurrencyError(
                            f"stream {stream!r} is at version {current}, expected {want}"
                        )
                next_version = dict(reads.versions)
                stored: list[StoredEvent] = []
                for new, state in zip(events, states, strict=True):
                    next_version[new.stream] += 1
                    stored.append(
                        StoredEvent(
                            originator_id=new.stream,
                            originator_version=next_version[new.stream],
                            topic=new.event.event_tag(),
                            state=state,
                        )
                    )
                positions = self.recorder.write_rows(c, reads.head, stored, command_id=command_id)
        except _DuplicateCommandError as dup:
            return AppendResult(positions=list(range(dup.first, dup.last + 1)), duplicate=True)
        except (ConcurrencyError, IntegrityError) as exc:
            # The same command id committed first elsewhere (a retry that reached another
            # process or replica): its events are this append's, not a version conflict.
            span = self.command_span(command_id)
            if span is not None:
                return AppendResult(positions=list(range(span[0], span[1] + 1)), duplicate=True)
            if isinstance(exc, ConcurrencyError):
                raise
            raise ConcurrencyError(f"a concurrent append won: {exc}") from None
        return AppendResult(positions=list(positions or []))

    def append_raw(
        self, records: Sequence[RawRecord], *, checkpoints: Mapping[int, bytes] | None = None
    ) -> bytes:
        """Append restored records keeping their positions; they must continue the head exactly.

        One transaction, bulk inserts, byte-identical states, command ids indexed, the chain
        extended. ``checkpoints`` maps positions to the chain hash the records must reach there
        (a segment's last hash): a mismatch raises ``RestoreMismatchError`` and writes nothing.
        Returns the chain hash at the new head.
        """
        with self._datastore.transaction(commit=True) as c:
            return _append_raw(c, self.codec, records, checkpoints or {})

    def restore_session(self) -> RestoreSession:
        """A transaction for a whole restore (see ``RestoreSession``)."""
        return RestoreSession(self)

    def chain_at(self, position: int) -> bytes:
        """The chain hash at ``position`` (``GENESIS`` at 0)."""
        with self._datastore.transaction(commit=False) as c:
            return chain_at(c, position)

    # -- reading --------------------------------------------------------------------------------

    def head(self) -> int:
        """The last global position (0 when the journal is empty)."""
        return int(self.recorder.max_notification_id() or 0)

    def stream_version(self, stream: str) -> int:
        """The current version of ``stream`` (0 when it has no events)."""
        with self._datastore.transaction(commit=False) as c:
            return self.recorder.stream_version(c, stream)

    def last_in_stream(self, stream: str) -> Envelope | None:
        """The latest event of ``stream``, read from the journal now (``None``: no events).

        Its position is not read (0): the library's stored event carries the stream's version,
        not the global position; a caller deciding on the stream's latest state needs only that.
        """
        found = self.recorder.select_events(stream, desc=True, limit=1)
        if not found:
            return None
        return self.decode(
            RawRecord(0, stream, found[0].originator_version, found[0].topic, found[0].state)
        )

    def read_raw(
        self, start: int, limit: int, *, stop: int | None = None, tags: Sequence[str] = ()
    ) -> list[RawRecord]:
        """Up to ``limit`` undecoded records from position ``start`` (inclusive) on."""
        notifications = self.recorder.select_notifications(
            start=start, limit=limit, stop=stop, topics=list(tags)
        )
        return [
            RawRecord(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in notifications
        ]

    def read_raw_pages(
        self,
        start: int = 1,
        stop: int | None = None,
        *,
        tags: Sequence[str] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[list[RawRecord]]:
        """Pages of undecoded records from ``start`` to ``stop`` (inclusive)."""
        for page in self.row_pages(start, stop, tags=tags, page_size=page_size):
            if page.rows:
                yield [RawRecord(*row) for row in page.rows]

    def row_pages(
        self,
        start: int = 1,
        stop: int | None = None,
        *,
        tags: Sequence[str] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        check_chain: bool = True,
    ) -> Iterator[RowPage]:
        """Pages covering ``page_size`` positions each, as plain row tuples (the fast path).

        The library's ``select_notifications`` builds a ``Notification`` object per row, which
        cost more than decoding the event itself in a rebuild; this reads the same table with
        one ``SELECT`` per page, by rowid range (positions are gap-free). Every row's chain link
        is checked (``JournalCorruptError`` at a changed byte) unless ``check_chain`` is false.
        """
        yield from _row_pages(
            self._fetch, start, stop, tags, page_size, self.head(), check_chain=check_chain
        )

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        # One short read transaction per page: a rebuild never holds the library's pool.
        with self._datastore.transaction(commit=False) as c:
            # Plain tuples: the library's connections make a sqlite3.Row per row otherwise.
            c.sqlite_cursor.row_factory = None
            c.execute(sql, params)
            rows: list[Any] = c.fetchall()
        return rows

    def decode(self, record: RawRecord) -> Envelope:
        """Decode one raw record (upcasting it when old)."""
        return self.codec.decode(
            position=record.position,
            stream=record.stream,
            version=record.version,
            tag=record.tag,
            state=record.state,
        )

    def read(
        self,
        start: int = 1,
        stop: int | None = None,
        *,
        tags: Sequence[str] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[list[Envelope]]:
        """Pages of decoded envelopes, thousands per query, never one event per query."""
        decode = self.decode
        for page in self.read_raw_pages(start, stop, tags=tags, page_size=page_size):
            yield [decode(r) for r in page]

    def get(self, position: int) -> Envelope | None:
        """The event at ``position``, or ``None``."""
        page = self.read_raw(position, 1, stop=position)
        return self.decode(page[0]) if page else None

    def command_span(self, command_id: str) -> tuple[int, int] | None:
        """The first and last positions appended by ``command_id``, if it was appended."""
        with self._datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT first_position, last_position FROM command_ids WHERE command_id=?",
                (command_id,),
            )
            row = c.fetchone()
        return (int(row[0]), int(row[1])) if row is not None else None

    def raw_connection(self) -> sqlite3.Connection:
        """A separate read-only connection for whole-table checks (``journal verify``)."""
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)


def _append_raw(
    c: Any, codec: EventCodec, records: Sequence[RawRecord], checkpoints: Mapping[int, bytes]
) -> bytes:
    c.execute("SELECT MAX(rowid) FROM stored_events")
    row = c.fetchone()
    head = int(row[0] or 0) if row is not None else 0
    prev = chain_at(c, head)
    if not records:
        return prev
    for offset, record in enumerate(records, start=1):
        if record.position != head + offset:
            raise RestoreMismatchError(
                f"record position {record.position} does not follow {head + offset - 1}"
            )
    links = list(extend(prev, record_rows(records)))
    for position, digest in links:
        want = checkpoints.get(position)
        if want is not None and want != digest:
            raise RestoreMismatchError(
                f"the events up to position {position} do not match the hash chain recorded "
                "when they were shipped (altered in Blob, or shipped from a corrupt journal)"
            )
    c.executemany(
        "INSERT INTO stored_events "
        "(rowid, originator_id, originator_version, topic, state) VALUES (?,?,?,?,?)",
        [(r.position, r.stream, r.version, r.tag, r.state) for r in records],
    )
    c.executemany("INSERT INTO event_chain VALUES (?, ?)", links)
    spans: dict[str, list[int]] = {}
    for r in records:
        cmd = codec.command_id_of(r.state)
        span = spans.get(cmd)
        if span is None:
            spans[cmd] = [r.position, r.position]
        else:
            span[1] = r.position
    c.executemany(
        "INSERT INTO command_ids VALUES (?, ?, ?) ON CONFLICT(command_id) "
        "DO UPDATE SET last_position=excluded.last_position",
        [(cmd, first, last) for cmd, (first, last) in spans.items()],
    )
    return links[-1][1]


class RestoreSession:
    """One SQLite transaction around a whole restore: it is all appended, or none of it is.

    Restore appends in batches between downloads; with one transaction for every batch, a restore
    that is refused half-way (a bad segment, a missing tail) or killed (``kill -9``: SQLite drops
    the uncommitted WAL frames on the next open) leaves the local journal exactly as it was. It
    uses a connection of its own (the pool's readers keep seeing the journal as it was until the
    commit); the journal's writer lock keeps any other process from writing meanwhile.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._memory = str(journal.path) == ":memory:"
        self._connection: sqlite3.Connection | None = None
        self.chain = GENESIS

    def begin(self) -> None:
        """Start the transaction (``BEGIN IMMEDIATE``: the write lock is taken now)."""
        if self._memory:
            return
        con = sqlite3.connect(self._journal.path, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("BEGIN IMMEDIATE")
        self._connection = con

    def append(
        self, records: Sequence[RawRecord], *, checkpoints: Mapping[int, bytes] | None = None
    ) -> bytes:
        """``Journal.append_raw`` inside the session; returns the chain hash at the new head."""
        if self._connection is None:
            self.chain = self._journal.append_raw(records, checkpoints=checkpoints)
        else:
            self.chain = _append_raw(
                self._connection.cursor(), self._journal.codec, records, checkpoints or {}
            )
        return self.chain

    def commit(self) -> None:
        """Make everything appended durable and visible."""
        if self._connection is not None:
            self._connection.execute("COMMIT")
            self._connection.close()
            self._connection = None

    def rollback(self) -> None:
        """Drop everything appended in the session."""
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")
            self._connection.close()
            self._connection = None


class JournalReader:
    """A read-only view of a journal file for checks that must never write (``journal verify``).

    It opens SQLite with ``mode=ro``: no table creation, no pragma changes, so the file stays
    byte-identical. It offers the reading half of ``Journal``.
    """

    def __init__(self, path: Path | str, *, codec: EventCodec | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise JournalError(f"no journal at {self.path}")
        self.connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        self.codec = codec or EventCodec()

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.connection.execute(sql, params).fetchall()

    def has_chain(self) -> bool:
        """Whether the file has an ``event_chain`` table (journals older than it do not)."""
        row = self.connection.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'event_chain'"
        ).fetchone()
        return bool(row and row[0])

    def chain_end(self) -> int:
        """The last chained position (0 without a chain table)."""
        if not self.has_chain():
            return 0
        row = self.connection.execute("SELECT MAX(position) FROM event_chain").fetchone()
        return int(row[0] or 0)

    def chain_hashes(self, first: int, last: int) -> dict[int, bytes]:
        """The stored chain hashes of positions ``first..last`` (those present)."""
        if not self.has_chain():
            return {}
        return dict(self._fetch(_SELECT_CHAIN, [first, last]))

    def head(self) -> int:
        """The highest stored position (0 when empty)."""
        row = self.connection.execute("SELECT MAX(rowid) FROM stored_events").fetchone()
        return int(row[0] or 0)

    def row_pages(
        self,
        start: int = 1,
        stop: int | None = None,
        *,
        tags: Sequence[str] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        check_chain: bool = True,
    ) -> Iterator[RowPage]:
        """Pages of row tuples, as ``Journal.row_pages`` (a journal without a chain table, not
        yet migrated, is read unchecked)."""
        yield from _row_pages(
            self._fetch,
            start,
            stop,
            tags,
            page_size,
            self.head(),
            check_chain=check_chain and self.has_chain(),
        )

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class _OnWriterThread(Generic[_P, _T]):
    """A ``Journal`` method as an awaitable ``AsyncJournal`` method run on its writer thread.

    The signature stays declared once, on ``Journal``: the descriptor's type carries its
    parameters (``ParamSpec``) and return type, so mypy checks every awaited call against them,
    which a ``__getattr__`` forwarder would not. The method is looked up on the wrapped journal at
    call time, so a subclass's override is the one that runs.
    """

    def __init__(self, method: Callable[Concatenate[Journal, _P], _T]) -> None:
        self.name = method.__name__
        self.__doc__ = f"``Journal.{self.name}`` on the writer thread, off the event loop."

    @overload
    def __get__(self, obj: None, owner: type[AsyncJournal]) -> Self: ...

    @overload
    def __get__(
        self, obj: AsyncJournal, owner: type[AsyncJournal]
    ) -> Callable[_P, Coroutine[Any, Any, _T]]: ...

    def __get__(
        self, obj: AsyncJournal | None, owner: type[AsyncJournal]
    ) -> Self | Callable[_P, Coroutine[Any, Any, _T]]:
        if obj is None:
            return self
        method: Callable[_P, _T] = getattr(obj.journal, self.name)

        async def on_writer(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            return await obj.run(method, *args, **kwargs)

        return on_writer


class AsyncJournal:
    """The journal for asyncio code: every call runs on one dedicated writer thread."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")

    async def run(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``fn`` on the writer thread (a ``RestoreSession``'s steps, for one)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    append = _OnWriterThread(Journal.append)
    append_raw = _OnWriterThread(Journal.append_raw)
    chain_at = _OnWriterThread(Journal.chain_at)
    read_raw = _OnWriterThread(Journal.read_raw)

    def head(self) -> int:
        """The last global position (a read of the head the writer keeps; no thread hop)."""
        return self.journal.head()

    async def close(self) -> None:
        """Finish pending writes and close the journal."""
        await self.run(self.journal.close)
        self._executor.shutdown(wait=True)


@contextlib.contextmanager
def open_journal(path: Path | str) -> Iterator[Journal]:
    """Open a journal for the duration of a ``with`` block."""
    journal = Journal.open(path)
    try:
        yield journal
    finally:
        journal.close()
