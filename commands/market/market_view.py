"""The ``MarketView`` read model over the DuckDB analytics projections (bars, fetches, flow
alerts, signals): what ``/status``, ``/signals`` and symbol checks read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from commands.core.ports import Coverage, SignalRow
from projections.analytics import Analytics


class AnalyticsMarketView:
    """Queries over the analytics file; every call takes its own cursor (thread-safe)."""

    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics
        self._known: set[str] | None = None
        self._known_at: int = -1

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.analytics.cursor() as cur:
            try:
                return cur.execute(sql, list(params)).fetchall()
            except duckdb.CatalogException:
                return []  # a projection not created yet: nothing to show

    def _by_symbol(self, sql: str, symbols: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """Rows of ``sql`` (one per symbol, symbol first, ``?`` the symbol list) by symbol."""
        return {r[0]: r[1:] for r in self._query(sql, [list(symbols)])}

    def known_symbols(self) -> set[str]:
        """Symbols with bars (cached until the bars projection moves)."""
        rows = self._query("SELECT position FROM projection_positions WHERE name = 'bars'")
        at = int(rows[0][0]) if rows else 0
        if self._known is None or at != self._known_at:
            self._known = {r[0] for r in self._query("SELECT DISTINCT symbol FROM bars")}
            self._known_at = at
        return set(self._known)

    def coverage(self, symbols: Sequence[str]) -> list[Coverage]:
        """Bars range, last fetch and last flow alert of each symbol."""
        if not symbols:
            return []
        bars = self._by_symbol(
            "SELECT symbol, count(*), min(day), max(day), arg_max(close, day) FROM bars "
            "WHERE list_contains(?::VARCHAR[], symbol) GROUP BY symbol",
            symbols,
        )
        fetches = self._by_symbol(
            "SELECT symbol, arg_max(recorded_at, position), arg_max(ok, position), "
            "arg_max(error, position) FROM fetches "
            "WHERE list_contains(?::VARCHAR[], symbol) GROUP BY symbol",
            symbols,
        )
        flows = self._by_symbol(
            "SELECT ticker, max(created_at), count(*) FROM flow_alerts "
            "WHERE list_contains(?::VARCHAR[], ticker) GROUP BY ticker",
            symbols,
        )
        out = []
        for s in symbols:
            b = bars.get(s)
            f = fetches.get(s)
            fl = flows.get(s)
            out.append(
                Coverage(
                    symbol=s,
                    bars=int(b[0]) if b else 0,
                    first_day=b[1] if b else None,
                    last_day=b[2] if b else None,
                    last_close=b[3] if b else None,
                    last_fetch_at=f[0] if f else None,
                    last_fetch_ok=f[1] if f else None,
                    last_fetch_error=(f[2] or "") if f else "",
                    last_flow_at=fl[0] if fl else None,
                    flow_alerts=int(fl[1]) if fl else 0,
                )
            )
        return out

    _SIGNALS = (
        "SELECT scan_id, strategy_name, evaluated_at, symbol, direction, as_of, entry, stop_loss, "
        "take_profit, score FROM signals "
    )

    @staticmethod
    def _row(r: tuple[Any, ...]) -> SignalRow:
        return SignalRow(
            scan_id=r[0],
            strategy_name=r[1],
            evaluated_at=r[2],
            symbol=r[3],
            direction=r[4],
            as_of=r[5],
            entry=r[6],
            stop_loss=r[7],
            take_profit=r[8],
            score=r[9] or 0.0,
        )

    def signals(self, guild_id: int, *, symbol: str | None, since: datetime) -> list[SignalRow]:
        """A guild's picks since ``since``, newest first."""
        sql = self._SIGNALS + "WHERE guild_id = ? AND evaluated_at >= ?"
        params: list[Any] = [guild_id, since]
        if symbol is not None:
            sql += " AND symbol = ?"
            params.append(symbol)
        rows = self._query(sql + " ORDER BY position DESC, symbol LIMIT 500", params)
        return [self._row(r) for r in rows]

    def signal(self, scan_id: str, symbol: str) -> SignalRow | None:
        """One pick of one scan."""
        rows = self._query(
            self._SIGNALS + "WHERE scan_id = ? AND symbol = ? LIMIT 1",
            [scan_id, symbol],
        )
        return self._row(rows[0]) if rows else None
