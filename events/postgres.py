"""The journal on PostgreSQL: the eventsourcing library's PostgreSQL persistence, our codec.

Selected by ``Journal.open(..., url="postgresql://…")`` (``IBPICKER_JOURNAL_URL``). The same
events, codec, stable tags and tables as the SQLite journal (``events.journal``), and the same
guarantees, kept across processes and machines instead of one file:

1. Global order is commit order and positions (the library's ``notification_id``) are gap-free.
   Every write transaction first takes the library's ``LOCK TABLE stored_events IN EXCLUSIVE
   MODE`` (the library's own statements), so writers are serialised and commit in position order:
   a reader never sees a position while a smaller one is still uncommitted, so it can never skip
   one that a slower transaction fills later. Plain reads (``SELECT``) are not blocked by it.
   Positions are ``head + 1..`` read under that lock, not the ``bigserial`` sequence: a sequence
   value is spent by a rolled-back or killed transaction, which would leave a hole.
2. Per-stream optimistic concurrency: the stream's version is read under the lock, so a stale
   expected version raises ``ConcurrencyError``; the ``(stream, version)`` primary key backs it.
3. Idempotency by command id: ``command_ids`` is written in the same transaction as the events
   (``events.journal.JournalAppends``, one copy of that logic for both backends).
4. Several writers (processes, replicas) at once are safe; the SQLite writer lock does not apply.
5. Self-verifying: ``event_chain`` is extended in the same transaction, as on SQLite.

The SQL of ``events.journal`` is written for SQLite; ``_Cursor`` runs it on psycopg by mapping
its two SQLite-isms (``?`` parameters and ``rowid`` as the position) and nothing else, so each
statement exists once. Two exceptions, for an append's time under the lock: its reads are one
statement (``_read_for_append``) and its inserts one (``_insert_all``), so an append is two round
trips (``_Transactions.transaction``). Restoring from segments stays with the SQLite journal
(PostgreSQL has its own backups and point-in-time restore); ``journal export`` writes segments
from either.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from events.codec import EventCodec
from events.journal import (
    AppendReads,
    Journal,
    JournalAppends,
    JournalError,
    JournalReader,
    RestoreSession,
)
from events.pg_auth import password_source
from events.records import RawRecord

URL_SCHEMES = ("postgresql://", "postgres://")
_ROWID = re.compile(r"\browid\b")
# Any constant: the advisory lock that lets one process at a time create the tables.
_CREATE_LOCK_KEY = 0x1B71C4E5


@functools.cache
def _read_for_append(streams: int) -> str:
    """The reads of ``read_for_append`` as one statement, for an append to ``streams`` streams
    (``events.journal``'s SQLite terms, mapped by ``to_psycopg``).

    One scalar subquery per stream rather than ``unnest`` of an array: with ``unnest`` the
    planner kept a custom plan for every execution (0.17 ms of planning each, measured); with
    these it settles on the prepared generic plan. The last column is the server's clock when
    the reads ran, just after the lock was granted (``_Transactions`` reads it just before).
    """
    version = (
        "COALESCE((SELECT MAX(originator_version) FROM stored_events WHERE originator_id = ?), 0)"
    )
    versions = f"ARRAY[{', '.join([version] * streams)}]" if streams else "'{}'::integer[]"
    # Only this module's constant text is joined in; every value is a ``?`` parameter.
    return (
        "SELECT h.head, (SELECT hash FROM event_chain WHERE position = h.head), "  # noqa: S608
        "(SELECT ARRAY[first_position, last_position] FROM command_ids WHERE command_id = ?), "
        f"{versions}, EXTRACT(EPOCH FROM clock_timestamp()) "
        "FROM (SELECT COALESCE(MAX(rowid), 0) AS head FROM stored_events) AS h"
    )


_COMBINED_ROWS = 16
"""Appends of up to this many events insert with one statement (``_insert_all``)."""


@functools.cache
def _insert_all(rows: int, command: bool) -> str:
    """One statement inserting ``rows`` events, their chain links and (``command``) the command
    id's positions, in ``events.journal``'s SQLite terms (``to_psycopg`` maps them)."""
    # Only this module's constant text is joined; every value is a ``?`` parameter.
    events = ", ".join(["(?, ?, ?, ?, ?)"] * rows)
    chain = "INSERT INTO event_chain (position, hash) VALUES " + ", ".join(["(?, ?)"] * rows)  # noqa: S608
    sql = (
        "WITH e AS (INSERT INTO stored_events "  # noqa: S608
        f"(rowid, originator_id, originator_version, topic, state) VALUES {events}) "
    )
    if command:
        return f"{sql}, c AS ({chain}) INSERT INTO command_ids VALUES (?, ?, ?)"  # noqa: S608
    return sql + chain


_BEGIN, _COMMIT, _ROLLBACK = SQL("BEGIN"), SQL("COMMIT"), SQL("ROLLBACK")
_DDL = (
    "CREATE TABLE IF NOT EXISTS command_ids ("
    "command_id text PRIMARY KEY, first_position bigint NOT NULL, last_position bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS event_chain (position bigint PRIMARY KEY, hash bytea NOT NULL)",
)


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database (``postgresql://`` or ``postgres://``)."""
    return url.startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def to_psycopg(sql: str) -> str:
    """A statement of ``events.journal`` (SQLite: ``?``, ``rowid``) in psycopg's terms."""
    return _ROWID.sub("notification_id", sql.replace("%", "%%").replace("?", "%s"))


class _Cursor:
    """A psycopg cursor (plain tuple rows) that takes the journal's SQLite statements."""

    def __init__(self, cursor: psycopg.Cursor[TupleRow]) -> None:
        self._cursor = cursor
        self.chain_hint: tuple[int, bytes | None] | None = None
        """(head, chain hash at it) as the recorder last read them in this transaction."""
        self.locked_at: float | None = None
        """The server's clock (epoch seconds) when the append's reads ran, under the lock."""

    def execute(self, query: str | SQL | Composed, params: Sequence[Any] | None = None) -> _Cursor:
        """Run one statement."""
        self._cursor.execute(to_psycopg(query) if isinstance(query, str) else query, params)
        return self

    def executemany(self, query: str, params_seq: Sequence[Sequence[Any]]) -> None:
        """Run one statement per parameter row (pipelined by psycopg)."""
        self._cursor.executemany(to_psycopg(query), params_seq)

    def fetchone(self) -> TupleRow | None:
        """The next row, or ``None``."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[TupleRow]:
        """The remaining rows."""
        return self._cursor.fetchall()


class PostgresJournalRecorder(JournalAppends, PostgresApplicationRecorder):
    """The library's PostgreSQL application recorder plus ``command_ids`` and ``event_chain``."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        super().__init__(datastore)
        self.sql_create_statements.extend(SQL(ddl).format() for ddl in _DDL)
        self.writes = _Transactions(datastore, self)

    def read_for_append(
        self, c: Any, streams: Sequence[str], command_id: str | None
    ) -> AppendReads:
        """Every read of an append in one statement, so one round trip under the table lock:
        the head and the chain hash at it, the command id's positions, each stream's version.
        It also notes the server's clock once the lock was granted (``_Cursor.locked_at``)."""
        c.execute(_read_for_append(len(streams)), (command_id, *streams))
        row = c.fetchone()
        assert row is not None  # an aggregate without GROUP BY: always one row
        head, chain, span, versions, clock = row
        c.chain_hint = (int(head), bytes(chain) if chain is not None else None)
        c.locked_at = float(clock)
        return AppendReads(
            head=int(head),
            versions={s: int(v) for s, v in zip(streams, versions, strict=True)},
            command_span=(int(span[0]), int(span[1])) if span is not None else None,
        )

    def _chain_at(self, c: Any, head: int) -> bytes:
        hint = getattr(c, "chain_hint", None)
        if hint is not None and hint[0] == head and hint[1] is not None:
            return bytes(hint[1])
        return super()._chain_at(c, head)

    def _insert_rows(self, c: Any, head: int, stored_events: Sequence[StoredEvent]) -> None:
        # Explicit positions read under the table lock: gap-free, unlike the bigserial default.
        c.executemany(
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?, ?)",
            _positioned(head, stored_events),
        )

    def _insert_all(
        self,
        c: Any,
        head: int,
        stored_events: Sequence[StoredEvent],
        links: Sequence[tuple[int, bytes]],
        command: tuple[str, int, int] | None,
    ) -> None:
        # One statement for the three tables (one Bind and Execute instead of three, less of
        # the client's time under the lock); a large append goes one statement per table.
        if not 0 < len(stored_events) <= _COMBINED_ROWS:
            super()._insert_all(c, head, stored_events, links, command)
            return
        params: list[Any] = []
        for row in _positioned(head, stored_events):
            params += row
        for link in links:
            params += link
        if command is not None:
            params += command
        c.execute(_insert_all(len(stored_events), command is not None), params)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's entry point, through the same locked, chained, idempotent path."""
        with self.writes.transaction(commit=True) as c:
            return self.append_rows(c, stored_events, command_id=kwargs.get("command_id"))


def _positioned(head: int, stored_events: Sequence[StoredEvent]) -> list[tuple[Any, ...]]:
    """The events' rows at positions ``head + 1..``, in the columns' order."""
    return [
        (position, s.originator_id, s.originator_version, s.topic, s.state)
        for position, s in enumerate(stored_events, start=head + 1)
    ]


class _Transactions:
    """The journal's transactions on the library's pool; a write one takes the table lock first.

    Taking it first (before reading the head, a stream's version or a command id) is what makes
    those reads current: under READ COMMITTED each statement after the lock sees every commit made
    before it was granted, and no other writer can commit until this one ends.
    """

    def __init__(self, datastore: PostgresDatastore, recorder: PostgresJournalRecorder) -> None:
        self.datastore = datastore
        self.lock_wait_s = 0.0
        """Seconds this journal's write transactions spent waiting for the table lock."""
        self._lock = recorder.lock_table_statements
        # Wakes the library's LISTEN subscribers (other replicas) at commit, as NOTIFY does, and
        # reads the server's clock just before the lock statements.
        notify = SQL("SELECT pg_notify({0}, ''), EXTRACT(EPOCH FROM clock_timestamp())")
        self._notify = notify.format(Literal(recorder.channel_name))

    @contextlib.contextmanager
    def transaction(self, *, commit: bool) -> Iterator[_Cursor]:
        """A cursor in a transaction, committed at the end when ``commit``.

        A write transaction is two round trips: BEGIN, NOTIFY, the lock and the append's reads
        (``read_for_append``) travel together, then the inserts, COMMIT and a Sync. That is
        pipeline mode with BEGIN and COMMIT sent as statements: psycopg's ``transaction()``
        syncs around its block in pipeline mode (four round trips of its own). An append refused
        after its reads (a stale version, a repeated command id) sends ROLLBACK with the Sync;
        after an error of the server's, ROLLBACK is one round trip more. A read
        (``commit=False``) runs its statements one by one on the library's autocommit
        connection: under READ COMMITTED a transaction would give them no common snapshot
        anyway, and it would cost two round trips more.

        ``lock_wait_s`` grows by the server's time from just before the lock statements to the
        reads under the lock: the wait, plus the time those statements take to arrive.
        """
        with self.datastore.get_connection() as conn:
            if not commit:
                with conn.cursor(row_factory=tuple_row) as raw:
                    yield _Cursor(raw)
                return
            assert conn.autocommit  # the library's connections: BEGIN is ours to send
            try:
                with (
                    conn.pipeline(),
                    conn.cursor(row_factory=tuple_row) as raw,
                    conn.cursor(row_factory=tuple_row) as stamp,
                ):
                    raw.execute(_BEGIN)
                    stamp.execute(self._notify)
                    for statement in self._lock:
                        raw.execute(statement)
                    cursor = _Cursor(raw)
                    try:
                        yield cursor
                    except psycopg.Error:
                        raise  # the server's: ROLLBACK after the Sync, below
                    except BaseException:
                        raw.execute(_ROLLBACK)  # refused here (a stale version, a repeat)
                        raise
                    raw.execute(_COMMIT)
                    if cursor.locked_at is not None:  # the reads ran: the stamp's row is here
                        row = stamp.fetchone()
                        assert row is not None
                        self.lock_wait_s += max(0.0, cursor.locked_at - float(row[1]))
                # Leaving the pipeline sent the Sync: a failed insert or COMMIT raised there.
            finally:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    with contextlib.suppress(psycopg.Error):  # a broken one leaves the pool
                        conn.rollback()

    def close(self) -> None:
        """Close the pool."""
        self.datastore.close()


def password_kwargs(password: Callable[[], str] | None) -> dict[str, Any]:
    """``password=`` for a psycopg connect when the password comes from ``password`` (a token
    source, ``events.pg_auth``), else nothing (the URL's own password applies)."""
    return {"password": password()} if password is not None else {}


def open_datastore(
    url: str, *, pool_size: int = 2, password: Callable[[], str] | None = None
) -> PostgresDatastore:
    """The library's PostgreSQL datastore for ``url`` (text stream ids, a small pool).

    Connection parameters beyond host, port, user, password and database (``sslmode=require``
    for Azure, for one) are passed through to psycopg. ``password``, when given, is asked for
    the password each time the pool opens a connection (an Entra ID token, ``events.pg_auth``).
    """
    if not is_postgres_url(url):
        raise JournalError(
            f"not a PostgreSQL URL: {redact(url)!r} (expected postgresql://user@host:port/db)"
        )
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise JournalError(f"bad PostgreSQL URL {redact(url)!r}: {exc}") from None
    datastore = PostgresDatastore(
        dbname=str(params.pop("dbname", "postgres")),
        host=str(params.pop("host", "127.0.0.1")),
        port=str(params.pop("port", "5432")),
        user=str(params.pop("user", "postgres")),
        password=str(params.pop("password", "")),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per transaction; a connection a failover broke
        # fails one call, and the pool replaces it.
        originator_id_type="text",
        get_password_func=password,
    )
    if params and isinstance(datastore.pool.kwargs, dict):
        datastore.pool.kwargs.update(params)
    return datastore


class PostgresJournal(Journal):
    """The journal in a PostgreSQL database; the ``Journal`` API, many writers at once."""

    def __init__(
        self,
        url: str,
        *,
        codec: EventCodec | None = None,
        command: str | None = None,
        password: Callable[[], str] | None = None,
    ) -> None:
        """Connect, and create the tables once (other processes wait on an advisory lock).

        ``command`` is accepted for ``Journal.open``'s signature; there is no writer lock to
        name its holder in. ``password`` gives the password of each new connection (default:
        the managed identity's Entra ID token for an Azure server's URL without a password,
        ``events.pg_auth``). Raises ``JournalError`` when the database cannot be reached or
        signed in to.
        """
        del command
        self.url = self._url = url
        self.path = Path(redact(url))  # for messages only: there is no file
        self.writer_lock = None
        self.password = password if password is not None else password_source(url)
        password_kwargs(self.password)  # a missing or refusing identity fails here, plainly
        datastore = open_datastore(url, password=self.password)
        try:
            recorder = PostgresJournalRecorder(datastore)
            with datastore.get_connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK_KEY,))
                try:
                    recorder.create_table()
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK_KEY,))
        except PersistenceError as exc:
            datastore.close()
            raise JournalError(f"cannot open the journal at {redact(url)}: {exc}") from None
        self._datastore, self.recorder = recorder.writes, recorder
        self._writes = recorder.writes
        self._channel = recorder.channel_name
        self.codec = codec or EventCodec()

    @property
    def lock_wait_s(self) -> float:
        """Seconds this journal's appends have waited for the table lock (other writers')."""
        return self._writes.lock_wait_s

    def _migrate_chain(self, page_size: int = 50_000) -> None:
        """Nothing to migrate: a PostgreSQL journal has had its chain from its first event."""

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            rows: list[Any] = c.fetchall()
        return rows

    def restore_session(self) -> RestoreSession:
        """Refused: restoring from segments writes a SQLite journal (see the module)."""
        raise JournalError(
            "restore from segments is for the SQLite journal; a PostgreSQL journal is restored "
            "by the database's own backups (point-in-time restore)"
        )

    def raw_connection(self) -> Any:
        """A separate read-only connection (psycopg, autocommit, read-only transactions)."""
        return psycopg.connect(
            self._url,
            autocommit=True,
            options="-c default_transaction_read_only=on",
            **password_kwargs(self.password),
        )

    async def notifications(self) -> AsyncIterator[None]:
        """Yield once when listening, then once per notification that appends were committed
        (by any process: every write transaction NOTIFYs the library's channel at commit).

        Several commits may arrive as one notification, or between two: a listener reads from
        its position to the head at each wake, never counts them. A lost connection raises
        ``JournalError``; the caller reconnects by iterating again (and polls meanwhile).
        """
        channel = SQL("LISTEN {0}").format(Identifier(self._channel))
        try:
            # A token refresh is an HTTP call to the identity endpoint: not on the event loop.
            secret = await asyncio.to_thread(password_kwargs, self.password)
            conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True, **secret)
        except psycopg.Error as exc:
            raise JournalError(f"cannot listen on {redact(self._url)}: {exc}") from None
        try:
            await conn.execute(channel)
            # Listening from here on: whatever commits later wakes the caller, so a read of the
            # head after this yield misses nothing.
            yield None
            async for _ in conn.notifies():
                yield None
        except psycopg.Error as exc:
            raise JournalError(f"stopped listening on {redact(self._url)}: {exc}") from None
        finally:
            await conn.close()


class PostgresJournalReader(JournalReader):
    """A read-only view of a PostgreSQL journal (``journal status|tail|show|export``).

    Its session is read-only (``default_transaction_read_only``): the server refuses any write
    through it. It offers the reading half of ``Journal``, like ``JournalReader`` on a file.
    """

    def __init__(
        self,
        url: str,
        *,
        codec: EventCodec | None = None,
        password: Callable[[], str] | None = None,
    ) -> None:
        """Connect (``password`` as for ``PostgresJournal``); ``JournalError`` when the
        database cannot be reached or signed in to, or holds no journal."""
        self.url = url
        self.path = Path(redact(url))
        self.codec = codec or EventCodec()
        secret = password_kwargs(password if password is not None else password_source(url))
        try:
            self._conn = psycopg.connect(
                url,
                autocommit=True,
                row_factory=tuple_row,
                options="-c default_transaction_read_only=on",
                **secret,
            )
        except psycopg.Error as exc:
            raise JournalError(f"cannot reach the journal at {redact(url)}: {exc}") from None
        if not self._table("stored_events"):
            self._conn.close()
            raise JournalError(f"no journal at {redact(url)}")

    def _table(self, name: str) -> bool:
        row = self._conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._conn.execute(to_psycopg(sql), params).fetchall()

    def has_chain(self) -> bool:
        """Always: a PostgreSQL journal is created with its chain table."""
        return self._table("event_chain")

    def chain_end(self) -> int:
        """The last chained position."""
        return int(self._fetch("SELECT MAX(position) FROM event_chain", [])[0][0] or 0)

    def head(self) -> int:
        """The highest stored position (0 when empty)."""
        return int(self._fetch("SELECT MAX(rowid) FROM stored_events", [])[0][0] or 0)

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def copy_to_sqlite(url: str, path: Path, *, page_size: int = 20_000) -> int:
    """Copy the PostgreSQL journal at ``url``, as one snapshot, into a new SQLite journal file.

    Rows are copied as stored (no check, no re-encoding), so ``journal verify`` over the copy
    judges the database's own bytes, and the copy can be shipped as segments (the backup the
    reverse of ``migrate`` is for). Returns the events copied.
    """
    Journal.open(path).close()  # the SQLite tables
    copied = 0
    secret = password_kwargs(password_source(url))
    with psycopg.connect(url, row_factory=tuple_row, **secret) as src:
        src.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # one snapshot for all
        src.read_only = True
        dst = sqlite3.connect(path)
        try:
            for table, columns in _TABLES.items():
                marks = ", ".join("?" * len(columns))
                with src.cursor(name=f"copy_{table}") as cur:  # server-side: page by page
                    cur.execute(to_psycopg(f"SELECT {', '.join(columns)} FROM {table}"))  # noqa: S608
                    while rows := cur.fetchmany(page_size):
                        dst.executemany(
                            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                            rows,
                        )
                        copied += len(rows) if table == "stored_events" else 0
            dst.commit()
        finally:
            dst.close()
    return copied


_TABLES = {
    "stored_events": ("rowid", "originator_id", "originator_version", "topic", "state"),
    "event_chain": ("position", "hash"),
    "command_ids": ("command_id", "first_position", "last_position"),
}


class MigrateReport(msgspec.Struct, frozen=True):
    """What ``migrate`` did: the events copied now, those already there, and the head."""

    copied: int
    already: int
    head: int


def migrate(
    source: JournalReader,
    target: Journal,
    *,
    page_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> MigrateReport:
    """Copy ``source`` into ``target`` keeping every position, state and command id.

    One transaction per page, each checked against the source's hash chain at its last position
    (``append_raw``'s checkpoints), so an interrupted migration resumes after the target's head;
    a target whose events are not the source's own (its chain differs at its head) is refused.
    """
    head, start = source.head(), target.head()
    if start > head:
        raise JournalError(
            f"the target holds {start} events and the source only {head}: not this journal's copy"
        )
    if (
        start
        and source.has_chain()
        and target.chain_at(start) != source.chain_hashes(start, start).get(start)
    ):
        raise JournalError(
            f"the target holds other events than this journal (the hash chains differ at "
            f"position {start}): migrate into an empty database"
        )
    copied = 0
    for page in source.row_pages(start + 1, head, page_size=page_size):
        records = [RawRecord(*row) for row in page.rows]
        target.append_raw(records, checkpoints=source.chain_hashes(page.last, page.last))
        copied += len(records)
        if progress is not None:
            progress(len(records))
    return MigrateReport(copied=copied, already=start, head=head)


def differences(
    source: JournalReader, target: JournalReader, *, page_size: int = 5000
) -> list[str]:
    """Where two journals differ, event by event (position, stream, version, tag, state bytes)
    and in their command ids, each read with its hash chain checked; empty when the same."""
    found: list[str] = []
    if source.head() != target.head():
        found.append(f"heads differ: {source.head()} and {target.head()}")
    pairs = zip(
        (r for page in source.row_pages(page_size=page_size) for r in page.rows),
        (r for page in target.row_pages(page_size=page_size) for r in page.rows),
        strict=False,
    )
    for mine, theirs in pairs:
        if mine != theirs:
            found.append(f"position {mine[0]} differs ({mine[3]} on {mine[1]} v{mine[2]})")
            break
    spans = "SELECT command_id, first_position, last_position FROM command_ids ORDER BY 1"
    if source._fetch(spans, []) != target._fetch(spans, []):
        found.append("the command ids differ")
    return found
