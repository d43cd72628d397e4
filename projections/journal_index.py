"""Projections of the journal's own events: the event index and the command audit trail.

- ``journal_events``: one row per event (position, stream, version, tag, time, command, actor);
  what ``journal status`` counts and what makes "which command wrote what" a query.
- ``commands``: one row per ``command_handled`` audit event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

import duckdb
import pyarrow as pa

from events.audit import CommandHandled
from events.base import Envelope
from projections.base import AnalyticsProjection, Batch, ColumnarProjection, Page
from projections.columns import Table

JOURNAL_EVENTS = Table(
    "journal_events",
    pa.schema(
        [
            ("position", pa.int64()),
            ("stream", pa.string()),
            ("version", pa.int64()),
            ("tag", pa.string()),
            ("recorded_at", pa.timestamp("us", tz="UTC")),
            ("command_id", pa.string()),
            ("guild_id", pa.int64()),
            ("user_id", pa.int64()),
        ]
    ),
)
COMMANDS = Table(
    "commands",
    pa.schema(
        [
            ("position", pa.int64()),
            ("recorded_at", pa.timestamp("us", tz="UTC")),
            ("command_id", pa.string()),
            ("guild_id", pa.int64()),
            ("user_id", pa.int64()),
            ("name", pa.string()),
            ("options", pa.string()),
            ("outcome", pa.string()),
            ("message", pa.string()),
            ("latency_ms", pa.float64()),
        ]
    ),
)


class JournalIndexProjection(AnalyticsProjection):
    """Every event's envelope as a row (never its payload)."""

    name = "journal_events"
    tags: ClassVar[frozenset[str]] = frozenset()  # filled by the registry: every known tag
    payloads = False
    declared = (JOURNAL_EVENTS,)

    def __init__(self, tags: frozenset[str]) -> None:
        self.tags = tags  # type: ignore[misc]  # instance narrows the class default

    def load_page(self, con: duckdb.DuckDBPyConnection, page: Page, *, after: int) -> None:
        """Append one row per event of the page, from its rows and headers (no payloads)."""
        rows = page.rows
        arrays = page.header_arrays()
        # Usually every row of the page is new and of a known tag: no per-row filter then.
        if after >= page.first or not page.tags() <= self.tags:
            keep = [i for i, r in enumerate(rows) if r[0] > after and r[3] in self.tags]
            rows = [rows[i] for i in keep]
            taken = pa.array(keep, type=pa.int64())
            arrays = {name: array.take(taken) for name, array in arrays.items()}
        if not rows:
            return
        positions, streams, versions, tags, _ = zip(*rows, strict=True)
        cols: dict[str, Sequence[Any] | pa.Array] = {
            "position": positions,
            "stream": streams,
            "version": versions,
            "tag": tags,
            **arrays,
        }
        JOURNAL_EVENTS.load(con, cols)

    def load(self, con: duckdb.DuckDBPyConnection, envelopes: Sequence[Envelope]) -> None:
        """Append one row per envelope."""
        cols = JOURNAL_EVENTS.empty_columns()
        for e in envelopes:
            cols["position"].append(e.position)
            cols["stream"].append(e.stream)
            cols["version"].append(e.version)
            cols["tag"].append(e.tag)
            cols["recorded_at"].append(e.recorded_at)
            cols["command_id"].append(e.command_id)
            cols["guild_id"].append(e.actor.guild_id)
            cols["user_id"].append(e.actor.user_id)
        JOURNAL_EVENTS.load(con, cols)


class CommandAuditProjection(ColumnarProjection):
    """The audit trail of every command handled."""

    name = "commands"
    tags = frozenset({CommandHandled.event_tag()})
    declared = (COMMANDS,)

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Append one row per audit event."""
        events = cast(list[CommandHandled], batch.events)
        cols: dict[str, Sequence[Any]] = {
            "position": batch.positions,
            "recorded_at": batch.header_array("recorded_at"),
            "command_id": batch.header_array("command_id"),
            "guild_id": batch.header_array("guild_id"),
            "user_id": batch.header_array("user_id"),
            "name": [e.name for e in events],
            "options": [_options(e.options) if e.options else "" for e in events],
            "outcome": [e.outcome for e in events],
            "message": [e.message for e in events],
            "latency_ms": [e.latency_ms for e in events],
        }
        COMMANDS.load(con, cols)


def _options(options: dict[str, str]) -> str:
    """Options as ``key:value`` pairs in key order, as typed."""
    if len(options) == 1:  # the common case, without sorting
        [(k, v)] = options.items()
        return f"{k}:{v}"
    return " ".join(f"{k}:{v}" for k, v in sorted(options.items()))
