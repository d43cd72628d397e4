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

Where the library does not fit we extend it and keep to its table layout: ``stored_events`` is the
library's table, untouched (streams are stored as text ids); the ``command_ids`` table beside it,
written in the same transaction, is what makes appends idempotent. The library's recorder inserts
one row per statement to learn each rowid; with a single writer the rowids of a batch are
``head + 1 .. head + n``, so we insert a batch with one ``executemany`` and check the head after.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from events.base import Actor, Envelope, NewEvent
from events.codec import EventCodec
from events.records import RawRecord

DEFAULT_PAGE_SIZE = 5000
_T = TypeVar("_T")

Row = tuple[int, str, int, str, bytes]
"""One stored event as read: (position, stream, version, tag, state)."""

_SELECT_ROWS = (
    "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
    "WHERE rowid BETWEEN ? AND ?"
)


class RowPage(msgspec.Struct, frozen=True):
    """The stored events of the positions ``first..last`` (only the wanted tags, when filtered)."""

    first: int
    last: int
    rows: list[Row]


def _row_pages(
    fetch: Callable[[str, Sequence[Any]], list[Row]],
    start: int,
    stop: int | None,
    tags: Sequence[str],
    page_size: int,
    head: int,
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
        yield RowPage(first, last, fetch(sql, [first, last, *wanted]))
        first = last + 1


class JournalError(Exception):
    """Root of journal errors."""


class ConcurrencyError(JournalError):
    """An expected stream version was stale: someone appended first. Nothing was written."""


class RestoreMismatchError(JournalError):
    """Raw records handed to ``append_raw`` do not continue the journal exactly."""


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


class JournalRecorder(SQLiteApplicationRecorder):
    """The library's SQLite application recorder plus the command-id table and bulk inserts."""

    def construct_create_table_statements(self) -> list[str]:
        """The library's ``stored_events`` table, and ``command_ids`` for idempotency."""
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS command_ids ("
            "command_id TEXT PRIMARY KEY, first_position INTEGER, last_position INTEGER)",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        command_id: str | None = kwargs.get("command_id")
        if command_id is not None:
            c.execute(
                "SELECT first_position, last_position FROM command_ids WHERE command_id=?",
                (command_id,),
            )
            row = c.fetchone()
            if row is not None:
                raise _DuplicateCommandError(row[0], row[1])
        head = self._max_notification_id(c) or 0
        c.executemany(
            self.insert_events_statement,
            [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events],
        )
        positions = list(range(head + 1, head + 1 + len(stored_events)))
        if (self._max_notification_id(c) or 0) != head + len(stored_events):
            raise JournalError("positions are not contiguous: is another process writing?")
        if command_id is not None and positions:
            c.execute(
                "INSERT INTO command_ids VALUES (?, ?, ?)",
                (command_id, positions[0], positions[-1]),
            )
        return positions

    def stream_version(self, c: SQLiteCursor, stream: str) -> int:
        """The highest version of ``stream`` (0 when empty)."""
        c.execute(
            # Table names come from the library's recorder, never from input.
            f"SELECT MAX(originator_version) FROM {self.events_table_name} "  # noqa: S608
            "WHERE originator_id=?",
            (stream,),
        )
        row = c.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0


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

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        if not self.is_sqlite_memory_mode:
            connection.cursor().execute("PRAGMA synchronous=NORMAL")
        return connection


class _JournalDatastore(SQLiteDatastore):
    """The library's SQLite datastore on ``_WalNormalPool`` connections."""

    def __init__(self, db_name: str, *, pool_size: int, max_overflow: int) -> None:
        super().__init__(
            db_name=db_name,
            originator_id_type="text",
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        self.pool.close()  # nothing was opened yet; replaced with the same settings
        self.pool = _WalNormalPool(db_name=db_name, pool_size=pool_size, max_overflow=max_overflow)


class Journal:
    """Synchronous journal over one SQLite file. Use from one thread (see ``AsyncJournal``)."""

    def __init__(self, path: Path | str, *, codec: EventCodec | None = None) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._datastore = _JournalDatastore(str(path), pool_size=2, max_overflow=2)
        self.recorder = JournalRecorder(self._datastore)
        self.recorder.create_table()
        self.codec = codec or EventCodec()

    @classmethod
    def open(cls, path: Path | str) -> Journal:
        """Open (creating if needed) the journal at ``path``."""
        return cls(path)

    def close(self) -> None:
        """Close every connection."""
        self._datastore.close()

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
        try:
            with self._datastore.transaction(commit=True) as c:
                next_version: dict[str, int] = {}
                stored: list[StoredEvent] = []
                for new in events:
                    if new.stream not in next_version:
                        current = self.recorder.stream_version(c, new.stream)
                        want = expected.get(new.stream)
                        if want is not None and want != current:
                            raise ConcurrencyError(
                                f"stream {new.stream!r} is at version {current}, expected {want}"
                            )
                        next_version[new.stream] = current
                    next_version[new.stream] += 1
                    state = self.codec.encode(
                        new.event, recorded_at=at, command_id=command_id, actor=actor
                    )
                    stored.append(
                        StoredEvent(
                            originator_id=new.stream,
                            originator_version=next_version[new.stream],
                            topic=new.event.event_tag(),
                            state=state,
                        )
                    )
                positions = self.recorder._insert_events(c, stored, command_id=command_id)
        except _DuplicateCommandError as dup:
            return AppendResult(positions=list(range(dup.first, dup.last + 1)), duplicate=True)
        except IntegrityError as exc:
            raise ConcurrencyError(f"a concurrent append won: {exc}") from None
        return AppendResult(positions=list(positions or []))

    def append_raw(self, records: Sequence[RawRecord]) -> None:
        """Append restored records keeping their positions; they must continue the head exactly.

        Used by restore: one transaction, bulk inserts, byte-identical states, command ids indexed.
        """
        if not records:
            return
        with self._datastore.transaction(commit=True) as c:
            head = self.recorder._max_notification_id(c) or 0
            for offset, record in enumerate(records, start=1):
                if record.position != head + offset:
                    raise RestoreMismatchError(
                        f"record position {record.position} does not follow {head + offset - 1}"
                    )
            c.executemany(
                f"INSERT INTO {self.recorder.events_table_name} "  # noqa: S608
                "(rowid, originator_id, originator_version, topic, state) VALUES (?,?,?,?,?)",
                [(r.position, r.stream, r.version, r.tag, r.state) for r in records],
            )
            spans: dict[str, list[int]] = {}
            for r in records:
                cmd = self.codec.command_id_of(r.state)
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

    # -- reading --------------------------------------------------------------------------------

    def head(self) -> int:
        """The last global position (0 when the journal is empty)."""
        return int(self.recorder.max_notification_id() or 0)

    def stream_version(self, stream: str) -> int:
        """The current version of ``stream`` (0 when it has no events)."""
        with self._datastore.transaction(commit=False) as c:
            return self.recorder.stream_version(c, stream)

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
    ) -> Iterator[RowPage]:
        """Pages covering ``page_size`` positions each, as plain row tuples (the fast path).

        The library's ``select_notifications`` builds a ``Notification`` object per row, which
        cost more than decoding the event itself in a rebuild; this reads the same table with
        one ``SELECT`` per page, by rowid range (positions are gap-free).
        """
        yield from _row_pages(self._fetch, start, stop, tags, page_size, self.head())

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        # One short read transaction per page: a rebuild never holds the library's pool.
        with self._datastore.transaction(commit=False) as c:
            # Plain tuples: the library's connections make a sqlite3.Row per row otherwise.
            c.sqlite_cursor.row_factory = None
            c.execute(sql, params)
            rows: list[Row] = c.fetchall()
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

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Row]:
        return self.connection.execute(sql, params).fetchall()

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
    ) -> Iterator[RowPage]:
        """Pages of row tuples, as ``Journal.row_pages``."""
        yield from _row_pages(self._fetch, start, stop, tags, page_size, self.head())

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


class AsyncJournal:
    """The journal for asyncio code: every call runs on one dedicated writer thread."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-writer")

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def append(
        self,
        events: Sequence[NewEvent],
        *,
        command_id: str,
        actor: Actor,
        expected_versions: Mapping[str, int] | None = None,
        recorded_at: datetime | None = None,
    ) -> AppendResult:
        """``Journal.append`` off the event loop."""
        result: AppendResult = await self._run(
            self.journal.append,
            events,
            command_id=command_id,
            actor=actor,
            expected_versions=expected_versions,
            recorded_at=recorded_at,
        )
        return result

    async def append_raw(self, records: Sequence[RawRecord]) -> None:
        """``Journal.append_raw`` off the event loop."""
        await self._run(self.journal.append_raw, records)

    async def read_raw(self, start: int, limit: int) -> list[RawRecord]:
        """``Journal.read_raw`` off the event loop."""
        records: list[RawRecord] = await self._run(self.journal.read_raw, start, limit)
        return records

    def head(self) -> int:
        """The last global position."""
        return self.journal.head()

    async def close(self) -> None:
        """Finish pending writes and close the journal."""
        await self._run(self.journal.close)
        self._executor.shutdown(wait=True)


@contextlib.contextmanager
def open_journal(path: Path | str) -> Iterator[Journal]:
    """Open a journal for the duration of a ``with`` block."""
    journal = Journal.open(path)
    try:
        yield journal
    finally:
        journal.close()
