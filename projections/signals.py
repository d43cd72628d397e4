"""Signal projections: every scan and every pick it produced, with the strategy's file hash."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from events.analysis import SignalsGenerated
from events.base import Envelope
from projections.base import AnalyticsProjection
from projections.columns import insert_columns

_TS = pa.timestamp("us", tz="UTC")


class SignalsProjection(AnalyticsProjection):
    """``scans`` (one row per scan) and ``signals`` (one row per pick, evidence as JSON)."""

    name = "signals"
    tags = frozenset({SignalsGenerated.event_tag()})
    tables = ("scans", "signals")
    scan_schema = pa.schema(
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
    )
    signal_schema = pa.schema(
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
    )

    def create(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the tables."""
        con.execute(
            "CREATE TABLE IF NOT EXISTS scans (scan_id VARCHAR, position BIGINT, "
            "evaluated_at TIMESTAMPTZ, strategy_name VARCHAR, strategy_hash VARCHAR, "
            "guild_id BIGINT, universe BIGINT, signals BIGINT, skipped BIGINT)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS signals (scan_id VARCHAR, position BIGINT, "
            "evaluated_at TIMESTAMPTZ, strategy_name VARCHAR, guild_id BIGINT, symbol VARCHAR, "
            "direction VARCHAR, as_of DATE, entry DOUBLE, stop_loss DOUBLE, take_profit DOUBLE, "
            "position_size DOUBLE, score DOUBLE, evidence VARCHAR)"
        )

    def load(self, con: duckdb.DuckDBPyConnection, envelopes: Sequence[Envelope]) -> None:
        """Append the page's scans and signals."""
        scans: dict[str, list[Any]] = {n: [] for n in self.scan_schema.names}
        sigs: dict[str, list[Any]] = {n: [] for n in self.signal_schema.names}
        for e in envelopes:
            ev = e.event
            assert isinstance(ev, SignalsGenerated)
            for k, v in (
                ("scan_id", ev.scan_id), ("position", e.position), ("evaluated_at", ev.evaluated_at),
                ("strategy_name", ev.strategy_name), ("strategy_hash", ev.strategy_hash),
                ("guild_id", ev.guild_id), ("universe", len(ev.universe)),
                ("signals", len(ev.signals)), ("skipped", len(ev.skipped)),
            ):  # fmt: skip
                scans[k].append(v)
            for s in ev.signals:
                for k, v in (
                    ("scan_id", ev.scan_id), ("position", e.position),
                    ("evaluated_at", ev.evaluated_at), ("strategy_name", ev.strategy_name),
                    ("guild_id", ev.guild_id), ("symbol", s.symbol), ("direction", s.direction),
                    ("as_of", s.as_of), ("entry", s.entry), ("stop_loss", s.stop_loss),
                    ("take_profit", s.take_profit), ("position_size", s.position_size),
                    ("score", s.score), ("evidence", msgspec.json.encode(s).decode()),
                ):  # fmt: skip
                    sigs[k].append(v)
        insert_columns(con, "scans", scans, self.scan_schema)
        insert_columns(con, "signals", sigs, self.signal_schema)
