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

from events.base import Envelope


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

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop this projection's tables."""
        for table in self.tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")
