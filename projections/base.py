"""The two kinds of projection (DESIGN.md, Projections) and what a runner needs of them.

- ``StateProjection``: a pure in-memory fold for handlers (open trades, watchlists, schedules).
- ``AnalyticsProjection``: DuckDB tables loaded a page at a time in columnar batches; the runner
  records the position it has applied in the same DuckDB transaction as its rows.

Both declare the tags they consume, so a runner reads and decodes only what someone needs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import duckdb
import msgspec

from events.base import Actor, Envelope, Event
from events.codec import EventCodec, StoredHeader
from events.journal import Row


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
        self._envelopes: list[Envelope | None] = [None] * len(rows)
        self._index: dict[str, list[int]] | None = None
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

    def indices(self, tags: frozenset[str]) -> list[int]:
        """Row indices of the events of ``tags``, in position order."""
        if self._index is None:
            index: dict[str, list[int]] = {}
            for i, row in enumerate(self.rows):
                bucket = index.get(row[3])
                if bucket is None:
                    index[row[3]] = bucket = []
                bucket.append(i)
            self._index = index
        parts = [self._index[t] for t in tags if t in self._index]
        if len(parts) == 1:
            return parts[0]
        return sorted(i for part in parts for i in part)

    def envelopes(self, tags: frozenset[str], *, after: int = 0) -> list[Envelope]:
        """The decoded envelopes of ``tags`` above position ``after``, in position order."""
        idx = self.indices(tags)
        cache = self._envelopes
        missing = [i for i in idx if cache[i] is None]
        if missing:
            self._decode(missing)
        found: list[Envelope] = [cache[i] for i in idx]  # type: ignore[misc]  # all decoded now
        if after >= self.first:
            found = [e for e in found if e.position > after]
        return found

    def _decode(self, indices: list[int]) -> None:
        rows = self.rows
        headers = self.headers()
        cache = self._envelopes
        codec = self.codec
        actors = self._actors
        decoders: dict[str, tuple[int, msgspec.msgpack.Decoder[Event]]] = {}
        for i in indices:
            position, stream, version, tag, _ = rows[i]
            h = headers[i]
            found = decoders.get(tag)
            if found is None:
                decoders[tag] = found = codec.current_decoder(tag)
            current, decoder = found
            if h.schema_version == current:
                try:
                    event: Event = decoder.decode(h.payload)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    event = codec.event(tag, h, position=position)  # raises, naming the position
            else:
                event = codec.event(tag, h, position=position)
            key = (h.guild_id, h.user_id)
            actor = actors.get(key)
            if actor is None:
                actors[key] = actor = Actor(guild_id=h.guild_id, user_id=h.user_id)
            cache[i] = Envelope(
                position=position,
                stream=stream,
                version=version,
                recorded_at=h.recorded_at,
                command_id=h.command_id,
                actor=actor,
                event=event,
            )


class StateProjection(ABC):
    """An in-memory fold over envelopes. ``apply`` must be pure: no I/O, no clock, no randomness."""

    name: ClassVar[str]
    tags: ClassVar[frozenset[str]]

    def __init__(self) -> None:
        self.position = 0

    def apply(self, envelope: Envelope) -> None:
        """Advance by one envelope (ignored when already applied or not of interest)."""
        if envelope.position <= self.position:
            return
        if envelope.tag in self.tags:
            self.when(envelope)
        self.position = envelope.position

    @abstractmethod
    def when(self, envelope: Envelope) -> None:
        """Fold one envelope of a consumed tag into the state."""

    @abstractmethod
    def snapshot(self) -> Any:
        """A plain, comparable picture of the state (property tests compare these)."""


class AnalyticsProjection(ABC):
    """DuckDB tables derived from the journal.

    ``schema_version`` is part of the tracking record: bump it when the tables change shape, and
    the runner rebuilds this projection from position 0.
    """

    name: ClassVar[str]
    tags: ClassVar[frozenset[str]]
    tables: ClassVar[tuple[str, ...]]
    schema_version: ClassVar[int] = 1

    @abstractmethod
    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create this projection's tables (``CREATE TABLE IF NOT EXISTS``)."""

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
