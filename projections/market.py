"""Market-data projections: bars, flow alerts, earnings dates, quotes and fetch history.

Analysis reads market data only from these tables (never from a provider), so any pick can be
reproduced from the journal alone. Re-fetched rows replace older ones with the same key, later
positions winning, so the tables hold one row per bar and per alert.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

import duckdb
import pyarrow as pa

from events.market import BarsFetched, EarningsFetched, FetchFailed, FlowAlertsFetched, QuoteFetched
from projections.base import Batch, ColumnarProjection
from projections.columns import Table, per_event

_TS = pa.timestamp("us", tz="UTC")

BARS = Table(
    "bars",
    pa.schema(
        [
            ("symbol", pa.string()),
            ("day", pa.date32()),
            ("open", pa.float64()),
            ("high", pa.float64()),
            ("low", pa.float64()),
            ("close", pa.float64()),
            ("volume", pa.int64()),
            ("source", pa.string()),
            ("position", pa.int64()),
        ]
    ),
    key=("symbol", "day"),
)
FLOW_ALERTS = Table(
    "flow_alerts",
    pa.schema(
        [
            ("option_chain", pa.string()),
            ("created_at", _TS),
            ("ticker", pa.string()),
            ("option_type", pa.string()),
            ("strike", pa.float64()),
            ("expiry", pa.date32()),
            ("total_premium", pa.float64()),
            ("ask_side_premium", pa.float64()),
            ("bid_side_premium", pa.float64()),
            ("volume", pa.int64()),
            ("open_interest", pa.int64()),
            ("underlying_price", pa.float64()),
            ("has_sweep", pa.bool_()),
            ("alert_rule", pa.string()),
            ("direction", pa.string()),
            ("source", pa.string()),
            ("position", pa.int64()),
        ]
    ),
    key=("option_chain", "created_at"),
)
EARNINGS = Table(
    "earnings",
    pa.schema(
        [
            ("symbol", pa.string()),
            ("day", pa.date32()),
            ("announce_time", pa.string()),
            ("source", pa.string()),
            ("position", pa.int64()),
            ("learned_at", _TS),
        ]
    ),
    key=("symbol", "day"),
)
FETCHES = Table(
    "fetches",
    pa.schema(
        [
            ("position", pa.int64()),
            ("recorded_at", _TS),
            ("symbol", pa.string()),
            ("kind", pa.string()),
            ("source", pa.string()),
            ("ok", pa.bool_()),
            ("records", pa.int64()),
            ("error", pa.string()),
        ]
    ),
)
QUOTES = Table(
    "quotes",
    pa.schema(
        [
            ("symbol", pa.string()),
            ("price", pa.float64()),
            ("change", pa.float64()),
            ("change_pct", pa.float64()),
            ("as_of", _TS),
            ("source", pa.string()),
            ("position", pa.int64()),
        ]
    ),
    key=("symbol",),
)


class BarsProjection(ColumnarProjection):
    """Daily bars, one row per (symbol, day)."""

    name = "bars"
    tags = frozenset({BarsFetched.event_tag()})
    declared = (BARS,)
    defers_keys = True

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Upsert the page's bars (the latest position wins for a repeated key)."""
        events = cast(list[BarsFetched], batch.events)
        # Columns straight from the decoded events (no tuple per bar): the most numerous rows.
        bars = [b for ev in events for b in ev.bars]
        if not bars:
            return
        BARS.load_latest(
            con,
            {
                **per_event(
                    {
                        "symbol": [ev.symbol for ev in events],
                        "source": [ev.source for ev in events],
                        "position": batch.positions,
                    },
                    [len(ev.bars) for ev in events],
                ),
                "day": [b.day for b in bars],
                "open": [b.open for b in bars],
                "high": [b.high for b in bars],
                "low": [b.low for b in bars],
                "close": [b.close for b in bars],
                "volume": [b.volume for b in bars],
            },
            append=self.deferred,
        )


class FlowAlertsProjection(ColumnarProjection):
    """Options-flow alerts, one row per (option chain, created at)."""

    name = "flow_alerts"
    tags = frozenset({FlowAlertsFetched.event_tag()})
    declared = (FLOW_ALERTS,)
    defers_keys = True

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Upsert the page's alerts (the latest position wins for a repeated key)."""
        events = cast(list[FlowAlertsFetched], batch.events)
        alerts = [a for ev in events for a in ev.alerts]
        if not alerts:
            return
        FLOW_ALERTS.load_latest(
            con,
            {
                **per_event(
                    {"source": [ev.source for ev in events], "position": batch.positions},
                    [len(ev.alerts) for ev in events],
                ),
                "option_chain": [a.option_chain for a in alerts],
                "created_at": [a.created_at.astimezone(UTC) for a in alerts],
                "ticker": [a.ticker for a in alerts],
                "option_type": [a.option_type for a in alerts],
                "strike": [a.strike for a in alerts],
                "expiry": [a.expiry for a in alerts],
                "total_premium": [a.total_premium for a in alerts],
                "ask_side_premium": [a.ask_side_premium for a in alerts],
                "bid_side_premium": [a.bid_side_premium for a in alerts],
                "volume": [a.volume for a in alerts],
                "open_interest": [a.open_interest for a in alerts],
                "underlying_price": [a.underlying_price for a in alerts],
                "has_sweep": [a.has_sweep for a in alerts],
                "alert_rule": [a.alert_rule for a in alerts],
                "direction": [a.direction for a in alerts],
            },
            append=self.deferred,
        )


class EarningsProjection(ColumnarProjection):
    """Known earnings dates, one row per (symbol, day), each with ``learned_at``: the recorded
    time of the first fetch that brought it (in journal order), which a backtest reads as when
    the date became known (no look-ahead on the calendar). A later fetch of the same date
    updates the rest of the row and keeps that time."""

    name = "earnings"
    tags = frozenset({EarningsFetched.event_tag()})
    declared = (EARNINGS,)
    schema_version = 2
    """2: ``learned_at`` (the runner rebuilds tables of version 1 from the journal)."""

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Upsert the page's earnings dates, keeping each date's first ``learned_at``."""
        rows: dict[tuple[str, date], tuple[Any, ...]] = {}
        first: dict[tuple[str, date], datetime] = {}
        for position, at, ev in zip(batch.positions, batch.recorded_at, batch.events, strict=True):
            assert isinstance(ev, EarningsFetched)
            for x in ev.entries:
                key = (x.symbol, x.day)
                first.setdefault(key, at)
                rows[key] = (x.symbol, x.day, x.announce_time, ev.source, position)
        stored = con.execute(
            "SELECT symbol, day, learned_at FROM earnings "
            "WHERE list_contains(?::VARCHAR[], symbol)",
            [sorted({symbol for symbol, _ in rows})],
        ).fetchall()
        first.update({(symbol, day): at for symbol, day, at in stored if (symbol, day) in first})
        EARNINGS.load_rows(con, [(*row, first[key]) for key, row in rows.items()])


class FetchesProjection(ColumnarProjection):
    """Every fetch, successful or failed, per symbol: what ``/status`` shows as "last fetch"."""

    name = "fetches"
    tags: ClassVar[frozenset[str]] = frozenset(
        {
            BarsFetched.event_tag(),
            FlowAlertsFetched.event_tag(),
            QuoteFetched.event_tag(),
            FetchFailed.event_tag(),
        }
    )
    declared = (FETCHES, QUOTES)
    defers_keys = True

    def load_batch(self, con: duckdb.DuckDBPyConnection, batch: Batch) -> None:
        """Append fetch rows; upsert latest quotes."""
        fetches: list[tuple[Any, ...]] = []
        quotes: dict[str, tuple[Any, ...]] = {}
        for position, at, ev in zip(batch.positions, batch.recorded_at, batch.events, strict=True):
            if isinstance(ev, BarsFetched):
                fetches.append((position, at, ev.symbol, "bars", ev.source, True, len(ev.bars), ""))
            elif isinstance(ev, FlowAlertsFetched):
                counts: dict[str, int] = dict.fromkeys(ev.symbols, 0)
                for a in ev.alerts:
                    counts[a.ticker] = counts.get(a.ticker, 0) + 1
                for sym, n in counts.items():
                    fetches.append((position, at, sym, "flow", ev.source, True, n, ""))
            elif isinstance(ev, QuoteFetched):
                fetches.append((position, at, ev.symbol, "quote", ev.source, True, 1, ""))
                quotes[ev.symbol] = (
                    ev.symbol,
                    ev.price,
                    ev.change,
                    ev.change_pct,
                    ev.as_of or at,
                    ev.source,
                    position,
                )
            elif isinstance(ev, FetchFailed):
                for sym in ev.symbols or [""]:
                    fetches.append((position, at, sym, ev.kind, ev.source, False, 0, ev.error))
        FETCHES.load_rows(con, fetches)
        QUOTES.load_rows(con, quotes.values(), append=self.deferred)
