"""Signal projections: every scan and every pick it produced, with the strategy's file hash."""

from __future__ import annotations

from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from events.analysis import SignalsGenerated
from projections.base import Batch, ColumnarProjection
from projections.columns import Table

_TS = pa.timestamp("us", tz="UTC")

SCANS = Table(
    "scans",
    pa.schema(
        [
            ("scan_id", pa.string()),
            ("position", pa.int64()),
            ("evaluated_at", _TS),
            ("strategy_name", pa.string()),
            ("strategy_hash", pa.string()),
            ("guild_id", pa.int64()),
            ("universe", pa.int64()),
            ("signals", pa.int64()),
            ("skipped", pa.int64()),
        ]
    ),
)
SIGNALS = Table(
    "signals",
    pa.schema(
        [
            ("scan_id", pa.string()),
            ("position", pa.int64()),
            ("evaluated_at", _TS),
            ("strategy_name", pa.string()),
            ("guild_id", pa.int64()),
            ("symbol", pa.string()),
            ("direction", pa.string()),
            ("as_of", pa.date32()),
            ("entry", pa.float64()),
            ("stop_loss", pa.float64()),
            ("take_profit", pa.float64()),
            ("position_size", pa.float64()),
            ("score", pa.float64()),
            ("evidence", pa.string()),
        ]
    ),
)


class SignalsProjection(ColumnarProjection):
    """``scans`` (one row per scan) and ``signals`` (one row per pick, evidence as JSON)."""

    name = "signals"
    tags = frozenset({SignalsGenerated.event_tag()})
    declared = (SCANS, SIGNALS)

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Append the page's scans and signals."""
        scan_rows: list[tuple[Any, ...]] = []
        signal_rows: list[tuple[Any, ...]] = []
        evidence = msgspec.json.Encoder()
        for position, ev in zip(batch.positions, batch.events, strict=True):
            assert isinstance(ev, SignalsGenerated)
            scan_rows.append(
                (ev.scan_id, position, ev.evaluated_at, ev.strategy_name, ev.strategy_hash,
                 ev.guild_id, len(ev.universe), len(ev.signals), len(ev.skipped))
            )  # fmt: skip
            for s in ev.signals:
                signal_rows.append(
                    (ev.scan_id, position, ev.evaluated_at, ev.strategy_name, ev.guild_id,
                     s.symbol, s.direction, s.as_of, s.entry, s.stop_loss, s.take_profit,
                     s.position_size, s.score, evidence.encode(s).decode())
                )  # fmt: skip
        SCANS.load_rows(con, scan_rows)
        SIGNALS.load_rows(con, signal_rows)
