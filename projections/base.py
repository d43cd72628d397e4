"""The two kinds of projection (DESIGN.md, Projections) and what a runner needs of them.

- ``StateProjection``: a pure in-memory fold for handlers (open trades, watchlists, schedules).
- ``AnalyticsProjection``: DuckDB tables loaded a page at a time in columnar batches; the runner
  records the position it has applied in the same DuckDB transaction as its rows.

Both declare the tags they consume, so a runner reads and decodes only what someone needs.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from operator import attrgetter
from typing import Any, ClassVar

import duckdb
import msgspec
import pyarrow as pa

from events.base import Actor, Envelope, Event
from events.codec import EventCodec, StoredHeader
from events.journal import Row
from projections.columns import Table, column

log = logging.getLogger(__name__)

HEADER_TYPES: dict[str, pa.DataType] = {
    "recorded_at": pa.timestamp("us", tz="UTC"),
    "command_id": pa.string(),
    "guild_id": pa.int64(),
    "user_id": pa.int64(),
}
"""The Arrow type of each envelope field a projection may store."""


class Page:
    """One page of journal rows, decoded lazily and only as far as some projection needs.

    Headers (envelope fields) are decoded once for the page; payloads only for the tags asked
    for, once per event however many projections ask. Envelope-only projections (the journal
    index) read ``rows`` and ``headers()`` and never pay for payloads.
    """

    def __init__(self, codec: EventCodec, first: int, last: int, rows: list[Row]) -> None:
        self.codec = codec
        self.first = first
        self.last = last
        self.rows = rows
        self._headers: list[StoredHeader] | None = None
        self._events: list[Event | None] = [None] * len(rows)
        self._envelopes: list[Envelope | None] = [None] * len(rows)
        self._index: dict[str, list[int]] | None = None
        self._header_arrays: dict[str, pa.Array] | None = None
        self._actors: dict[tuple[int | None, int | None], Actor] = {}

    def headers(self) -> list[StoredHeader]:
        """The decoded header of every row, aligned with ``rows``."""
        if self._headers is None:
            decoder = self.codec.header_decoder()
            try:
                self._headers = [decoder.decode(r[4]) for r in self.rows]
            except (msgspec.DecodeError, msgspec.ValidationError):
                # Again one by one, for an error naming the position.
                codec = self.codec
                self._headers = [codec.header(r[4], position=r[0], tag=r[3]) for r in self.rows]
        return self._headers

    def header_arrays(self) -> dict[str, pa.Array]:
        """The envelope fields of every row as Arrow arrays (``HEADER_TYPES``), built once.

        Several projections store the same fields (the event index all rows, the command audit
        half of them); converting them once per page and taking subsets in Arrow halves that
        work.
        """
        if self._header_arrays is None:
            headers = self.headers()
            self._header_arrays = {
                name: column(list(map(attrgetter(name), headers)), kind)
                for name, kind in HEADER_TYPES.items()
            }
        return self._header_arrays

    def decode(self, tags: frozenset[str]) -> None:
        """Decode the headers and the payloads of ``tags`` now (before handing the page over)."""
        self.select(tags)

    def tags(self) -> set[str]:
        """The tags of the page's events."""
        return set(self._tag_index())

    def _tag_index(self) -> dict[str, list[int]]:
        if self._index is None:
            index: dict[str, list[int]] = {}
            for i, row in enumerate(self.rows):
                bucket = index.get(row[3])
                if bucket is None:
                    index[row[3]] = bucket = []
                bucket.append(i)
            self._index = index
        return self._index

    def indices(self, tags: frozenset[str], *, after: int = 0) -> list[int]:
        """Row indices of the events of ``tags`` above position ``after``, in position order."""
        index = self._tag_index()
        parts = [index[t] for t in tags if t in index]
        found = parts[0] if len(parts) == 1 else sorted(i for part in parts for i in part)
        if after >= self.first:
            rows = self.rows
            found = [i for i in found if rows[i][0] > after]
        return found

    def select(self, tags: frozenset[str], *, after: int = 0) -> tuple[list[int], list[Event]]:
        """Row indices and decoded events of ``tags`` above ``after`` (the columnar fast path).

        Projections that build columns read envelope fields straight from ``rows[i]`` and
        ``headers()[i]`` instead of allocating an ``Envelope`` per event.
        """
        idx = self.indices(tags, after=after)
        events = self._events
        missing = [i for i in idx if events[i] is None]
        if missing:
            self._decode(missing)
        return idx, [events[i] for i in idx]  # type: ignore[misc]  # all decoded now

    def envelopes(self, tags: frozenset[str], *, after: int = 0) -> list[Envelope]:
        """The decoded envelopes of ``tags`` above position ``after``, in position order."""
        idx, events = self.select(tags, after=after)
        cache = self._envelopes
        rows = self.rows
        headers = self.headers()
        actors = self._actors
        out: list[Envelope] = []
        for i, event in zip(idx, events, strict=True):
            env = cache[i]
            if env is None:
                position, stream, version, _, _ = rows[i]
                h = headers[i]
                key = (h.guild_id, h.user_id)
                actor = actors.get(key)
                if actor is None:
                    actors[key] = actor = Actor(guild_id=h.guild_id, user_id=h.user_id)
                cache[i] = env = Envelope(
                    position=position,
                    stream=stream,
                    version=version,
                    recorded_at=h.recorded_at,
                    command_id=h.command_id,
                    actor=actor,
                    event=event,
                )
            out.append(env)
        return out

    def _decode(self, indices: list[int]) -> None:
        rows = self.rows
        headers = self.headers()
        events = self._events
        codec = self.codec
        decoders: dict[str, tuple[int, msgspec.msgpack.Decoder[Event]]] = {}
        for i in indices:
            tag = rows[i][3]
            h = headers[i]
            found = decoders.get(tag)
            if found is None:
                decoders[tag] = found = codec.current_decoder(tag)
            if h.schema_version == found[0]:
                try:
                    events[i] = found[1].decode(h.payload)
                    continue
                except (msgspec.DecodeError, msgspec.ValidationError):
                    pass  # decoded again below, for an error naming the position
            events[i] = codec.event(tag, h, position=rows[i][0])


class Batch:
    """The events one projection applies from a page, as columns (no ``Envelope`` per event).

    ``positions`` and ``events`` are lists aligned with each other; the envelope fields are
    columns computed on first use.
    """

    def __init__(
        self,
        positions: list[int],
        events: list[Event],
        headers: Sequence[Any],
        *,
        page: Page | None = None,
        indices: list[int] | None = None,
    ) -> None:
        self.positions = positions
        self.events = events
        self._headers = headers
        self._page = page
        self._indices = indices

    @classmethod
    def from_page(cls, page: Page, tags: frozenset[str], *, after: int) -> Batch:
        """The events of ``tags`` above ``after`` in ``page``."""
        idx, events = page.select(tags, after=after)
        rows, headers = page.rows, page.headers()
        return cls(
            [rows[i][0] for i in idx], events, [headers[i] for i in idx], page=page, indices=idx
        )

    def header_array(self, name: str) -> pa.Array:
        """One envelope field (a key of ``HEADER_TYPES``) of every event, as an Arrow array."""
        if self._page is None or self._indices is None:
            return column(getattr(self, name), HEADER_TYPES[name])
        full = self._page.header_arrays()[name]
        if len(self._indices) == len(full):
            return full  # every row of the page (indices are sorted and unique)
        return full.take(pa.array(self._indices, type=pa.int64()))

    @classmethod
    def from_envelopes(cls, envelopes: Sequence[Envelope]) -> Batch:
        """The same columns from envelopes (``Envelope`` has every header field by name)."""
        headers = [_EnvelopeHeader(e) for e in envelopes]
        return cls([e.position for e in envelopes], [e.event for e in envelopes], headers)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def recorded_at(self) -> list[Any]:
        """When each event was recorded."""
        return [h.recorded_at for h in self._headers]

    @property
    def command_id(self) -> list[str]:
        """Each event's command id."""
        return [h.command_id for h in self._headers]

    @property
    def guild_id(self) -> list[int | None]:
        """Each event's actor guild."""
        return [h.guild_id for h in self._headers]

    @property
    def user_id(self) -> list[int | None]:
        """Each event's actor user."""
        return [h.user_id for h in self._headers]


class _EnvelopeHeader:
    """An envelope seen through the header field names ``Batch`` reads."""

    __slots__ = ("command_id", "guild_id", "recorded_at", "user_id")

    def __init__(self, e: Envelope) -> None:
        self.recorded_at = e.recorded_at
        self.command_id = e.command_id
        self.guild_id = e.actor.guild_id
        self.user_id = e.actor.user_id


class ProjectionFault(msgspec.Struct, frozen=True):
    """An event a projection could not apply: the projection stopped just before it."""

    name: str
    position: int
    tag: str
    error: str

    def message(self) -> str:
        """Which projection, which event, why, and what recovers it."""
        return (
            f"projection {self.name} stopped at position {self.position} ({self.tag}): "
            f"{self.error}. Everything else keeps working; fix the projection (an upcaster or a "
            "corrected handler), then run `ibpicker journal rebuild`"
        )


class StateProjection(ABC):
    """An in-memory fold over envelopes. ``apply`` must be pure: no I/O, no clock, no randomness.

    An envelope whose fold raises is isolated: the projection stops before it (``fault`` says
    which and why) and ignores every later one, so the process and the other projections go on.
    """

    name: ClassVar[str]
    tags: ClassVar[frozenset[str]]

    def __init__(self) -> None:
        self.position = 0
        self.fault: ProjectionFault | None = None

    def apply(self, envelope: Envelope) -> None:
        """Advance by one envelope (ignored when already applied, not of interest, or faulted)."""
        if envelope.position <= self.position or self.fault is not None:
            return
        if envelope.tag in self.tags:
            try:
                self.when(envelope)
            except Exception as exc:  # isolated: a projection never takes the process down
                self.fault = ProjectionFault(
                    self.name, envelope.position, envelope.tag, f"{type(exc).__name__}: {exc}"
                )
                log.error("%s", self.fault.message())
                self.position = envelope.position - 1  # everything before it is applied
                return
        self.position = envelope.position

    @abstractmethod
    def when(self, envelope: Envelope) -> None:
        """Fold one envelope of a consumed tag into the state."""

    @abstractmethod
    def snapshot(self) -> Any:
        """A plain, comparable picture of the state (property tests compare these)."""


class AnalyticsProjection(ABC):
    """DuckDB tables derived from the journal.

    ``declared`` holds each table once (an Arrow schema and a key); the DDL and the loads derive
    from it. ``schema_version`` is part of the tracking record: bump it when the tables change
    shape, and the runner rebuilds this projection from position 0.
    """

    name: ClassVar[str]
    tags: ClassVar[frozenset[str]]
    declared: ClassVar[tuple[Table, ...]]
    schema_version: ClassVar[int] = 1
    payloads: ClassVar[bool] = True
    """Whether ``load_page`` reads event payloads (``False``: envelope fields only)."""
    defers_keys: ClassVar[bool] = False
    """Whether its keyed tables only ever take each key's latest row (never read back), so that
    ``deferred`` may append instead (``Table.load_latest``)."""
    deferred: bool = False
    """Set on an instance of a ``defers_keys`` projection: its keyed tables are created without
    their key and appended to, each key's latest row being taken later, when they are copied
    (``Table.copy_from``; a split rebuild's child, ``projections.parallel``)."""

    @property
    def tables(self) -> tuple[str, ...]:
        """The names of this projection's tables."""
        return tuple(t.name for t in self.declared)

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create this projection's tables (``CREATE TABLE IF NOT EXISTS``) from ``declared``."""
        for table in self.declared:
            con.execute(table.ddl(keyed=not self.deferred))

    @abstractmethod
    def load(self, con: duckdb.DuckDBPyConnection, envelopes: Sequence[Envelope]) -> None:
        """Apply a page of envelopes (already filtered to ``tags``) in columnar batches.

        Runs inside the runner's transaction; never row-by-row ``INSERT``.
        """

    def load_page(self, con: duckdb.DuckDBPyConnection, page: Page, *, after: int) -> None:
        """Apply the events of a page above position ``after`` (the runner's entry point).

        The default decodes this projection's tags and calls ``load``; a projection that needs
        only envelope fields may override it to read ``page.rows`` and ``page.headers()``.
        """
        envelopes = page.envelopes(self.tags, after=after)
        if envelopes:
            self.load(con, envelopes)

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop this projection's tables."""
        for table in self.tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")


class ColumnarProjection(AnalyticsProjection):
    """An analytics projection written once against ``Batch`` columns.

    Both entry points (``load`` with envelopes, ``load_page`` from the runner) end in
    ``load_batch``, so the page path never allocates envelopes.
    """

    @abstractmethod
    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Apply a non-empty batch of this projection's events in columnar inserts."""

    def load(self, con: duckdb.DuckDBPyConnection, envelopes: Sequence[Envelope]) -> None:
        """Apply envelopes (already filtered to ``tags``)."""
        if envelopes:
            self.load_batch(con, Batch.from_envelopes(envelopes))

    def load_page(self, con: duckdb.DuckDBPyConnection, page: Page, *, after: int) -> None:
        """Apply the page's events of ``tags`` above ``after`` without building envelopes."""
        batch = Batch.from_page(page, self.tags, after=after)
        if len(batch):
            self.load_batch(con, batch)
