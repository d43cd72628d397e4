"""The backtest's position walk: session by session over a ``SignalGrid``, fills, exits, cash.

A tight loop over sessions and the (few) open positions; the decisions themselves were made for
every symbol and session at once (``analysis.backtest_signals``). Each session, in order:

1. positions held from before: a time exit at the open once ``time_exit_bars`` bars are held; an
   open beyond the stop (or target) fills at that open; then the bar's low and high against the
   stop and target, the stop first when both are touched; a trailing stop trails the best price
   of the bars before this one;
2. the entries decided at the previous close fill at this open (slippage against the trade),
   unless the open is already beyond the pick's stop or target (the pick no longer holds: not
   entered, and counted in the notes); the entry bar's low and high are then checked as in 1;
3. equity at the close: cash plus every open position at its last close;
4. new entries decided at this close, strongest first then by symbol, while slots are free.

Cash: a long entry pays shares × fill and the commission, its exit receives shares × fill less
the commission; a short the other way round. So the sum of the trades' P&L and the open positions'
unrealised P&L is exactly the change in equity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from numpy.typing import NDArray

from analysis.backtest_model import (
    BacktestParams,
    ExitReason,
    OpenPosition,
    Progress,
    Trade,
)
from analysis.backtest_signals import SignalGrid
from analysis.series import FloatArray
from analysis.strategy import Strategy


@dataclass
class _Position:
    row: int
    side: float
    shares: float
    entry_price: float
    entry_col: int
    signal_col: int
    stop: float
    target: float
    trail_pct: float
    best: float
    bars_held: int = 0


@dataclass
class WalkOutcome:
    """What the walk produced over columns ``first..last`` of the grid."""

    trades: list[Trade]
    open_positions: list[OpenPosition]
    equity: FloatArray
    exposed: NDArray[np.bool_]
    notes: list[str] = field(default_factory=list)


def _opt(value: float) -> float | None:
    return None if math.isnan(value) else value


class _Walk:
    def __init__(self, grid: SignalGrid, strategy: Strategy, params: BacktestParams) -> None:
        self.grid = grid
        self.params = params
        self.side = 1.0 if params.direction == "long" else -1.0
        self.slip = params.slippage_bps / 10_000
        self.time_exit = strategy.spec.exit.time_exit_bars
        self.risk_per_trade = strategy.risk_profile.risk_per_trade
        limit = params.max_positions
        self.max_positions = limit if limit is not None else strategy.risk_profile.max_positions
        self.cash = params.capital
        self.positions: dict[int, _Position] = {}
        self.trades: list[Trade] = []
        self.cancelled = 0
        self.unaffordable = 0
        # The last close on or before each session (a symbol without a bar keeps its mark).
        seen = np.where(np.isfinite(grid.close), np.arange(grid.close.shape[1]), 0)
        self.mark_col = np.maximum.accumulate(seen, axis=1)
        self.mark = np.take_along_axis(grid.close, self.mark_col, axis=1)

    # -- exits ---------------------------------------------------------------------------------

    def _stop_level(self, pos: _Position) -> tuple[float, ExitReason]:
        trail = math.nan
        if not math.isnan(pos.trail_pct):
            trail = pos.best * (1 - self.side * pos.trail_pct / 100)
        if math.isnan(trail) or (not math.isnan(pos.stop) and self.side * (pos.stop - trail) >= 0):
            return pos.stop, "stop"
        return trail, "trailing"

    def _bar(self, pos: _Position, col: int, *, entry_bar: bool) -> None:
        """Check one held position against bar ``col`` (the symbol has a bar there)."""
        g, side, row = self.grid, self.side, pos.row
        open_, high, low = float(g.open[row, col]), float(g.high[row, col]), float(g.low[row, col])
        if not entry_bar:
            if self.time_exit is not None and pos.bars_held >= self.time_exit:
                self._close(pos, col, open_, "time")
                return
            stop, why = self._stop_level(pos)
            if not math.isnan(stop) and side * (open_ - stop) <= 0:
                self._close(pos, col, open_, why)
                return
            if not math.isnan(pos.target) and side * (open_ - pos.target) >= 0:
                self._close(pos, col, open_, "target")
                return
        pos.bars_held += 1
        stop, why = self._stop_level(pos)
        adverse, favourable = (low, high) if side > 0 else (high, low)
        if not math.isnan(stop) and side * (adverse - stop) <= 0:
            self._close(pos, col, stop, why)
        elif not math.isnan(pos.target) and side * (favourable - pos.target) >= 0:
            self._close(pos, col, pos.target, "target")
        else:
            pos.best = max(pos.best, high) if side > 0 else min(pos.best, low)

    def _close(self, pos: _Position, col: int, price: float, reason: ExitReason) -> None:
        g, commission = self.grid, self.params.commission
        fill = float(price) * (1 - self.side * self.slip)
        self.cash += self.side * pos.shares * fill - commission
        pnl = self.side * pos.shares * (fill - pos.entry_price) - 2 * commission
        risk = pos.shares * abs(pos.entry_price - pos.stop)
        self.trades.append(
            Trade(
                symbol=g.symbols[pos.row],
                direction=self.params.direction,
                signal_date=_day(g, pos.signal_col),
                entry_date=_day(g, pos.entry_col),
                entry_price=pos.entry_price,
                exit_date=_day(g, col),
                exit_price=fill,
                exit_reason=reason,
                shares=pos.shares,
                pnl=pnl,
                r=pnl / risk if risk > 0 else None,
                commission=2 * commission,
                bars_held=pos.bars_held,
                stop_loss=_opt(pos.stop),
                take_profit=_opt(pos.target),
            )
        )
        del self.positions[pos.row]

    # -- entries -------------------------------------------------------------------------------

    def _decide(self, col: int, equity: float) -> list[tuple[int, float]]:
        """Entries decided at ``col``'s close: (row, shares), strongest signals first."""
        g = self.grid
        slots = self.max_positions - len(self.positions)
        if slots <= 0:
            return []
        rows = np.flatnonzero(g.signal[:, col])
        rows = rows[[r not in self.positions for r in rows]] if self.positions else rows
        if len(rows) == 0:
            return []
        rows = rows[np.lexsort((rows, -g.strength[rows, col]))]
        committed = sum(p.shares * self.mark[p.row, col] for p in self.positions.values())
        available = equity - committed
        chosen: list[tuple[int, float]] = []
        for row in rows:
            if len(chosen) == slots:
                break
            price, stop = float(g.close[row, col]), float(g.stop[row, col])
            if self.params.sizing.mode == "risk" and not math.isnan(stop):
                wanted = equity * self.risk_per_trade / abs(price - stop)
            else:
                wanted = equity * self.params.sizing.fraction / price
            shares = float(math.floor(min(wanted, available / price)))
            if shares < 1:
                self.unaffordable += 1
                continue
            available -= shares * price
            chosen.append((int(row), shares))
        return chosen

    def _fill(self, row: int, shares: float, signal_col: int, col: int) -> None:
        g, side = self.grid, self.side
        open_ = float(g.open[row, col])
        stop, target = float(g.stop[row, signal_col]), float(g.target[row, signal_col])
        beyond_stop = not math.isnan(stop) and side * (open_ - stop) <= 0
        beyond_target = not math.isnan(target) and side * (open_ - target) >= 0
        if math.isnan(open_) or beyond_stop or beyond_target:
            self.cancelled += 1
            return
        fill = float(open_ * (1 + side * self.slip))
        self.cash -= side * shares * fill + self.params.commission
        pos = _Position(
            row=row,
            side=side,
            shares=shares,
            entry_price=fill,
            entry_col=col,
            signal_col=signal_col,
            stop=stop,
            target=target,
            trail_pct=float(g.trail_pct[row, signal_col]),
            best=fill,
        )
        self.positions[row] = pos
        self._bar(pos, col, entry_bar=True)

    # -- the walk ------------------------------------------------------------------------------

    def walk(self, first: int, last: int, progress: Progress | None) -> WalkOutcome:
        g = self.grid
        span = last - first + 1
        equity = np.empty(span)
        exposed = np.zeros(span, dtype=bool)
        pending: list[tuple[int, float]] = []
        step = max(1, span // 100)
        for col in range(first, last + 1):
            for row in sorted(self.positions):
                if not math.isnan(g.open[row, col]):
                    self._bar(self.positions[row], col, entry_bar=False)
            for row, shares in pending:
                self._fill(row, shares, col - 1, col)
            value = self.cash + sum(
                self.side * p.shares * self.mark[p.row, col] for p in self.positions.values()
            )
            equity[col - first] = value
            exposed[col - first] = bool(self.positions)
            pending = self._decide(col, value) if col < last else []
            if progress is not None and ((col - first + 1) % step == 0 or col == last):
                progress(col - first + 1, span)
        notes = []
        if self.cancelled:
            notes.append(
                f"{self.cancelled} entries not taken: the next open was beyond the stop or target"
            )
        if self.unaffordable:
            notes.append(
                f"{self.unaffordable} signals not taken: too little free equity for one share"
            )
        return WalkOutcome(
            trades=sorted(self.trades, key=lambda t: (t.exit_date, t.entry_date, t.symbol)),
            open_positions=[self._open(p, last) for _, p in sorted(self.positions.items())],
            equity=equity,
            exposed=exposed,
            notes=notes,
        )

    def _open(self, pos: _Position, last: int) -> OpenPosition:
        g, commission = self.grid, self.params.commission
        mark = float(self.mark[pos.row, last])
        return OpenPosition(
            symbol=g.symbols[pos.row],
            direction=self.params.direction,
            signal_date=_day(g, pos.signal_col),
            entry_date=_day(g, pos.entry_col),
            entry_price=pos.entry_price,
            shares=pos.shares,
            mark_date=_day(g, int(self.mark_col[pos.row, last])),
            mark_price=mark,
            unrealised_pnl=self.side * pos.shares * (mark - pos.entry_price) - commission,
            stop_loss=_opt(pos.stop),
            take_profit=_opt(pos.target),
            bars_held=pos.bars_held,
        )


def _day(grid: SignalGrid, col: int) -> date:
    value = grid.sessions[col].astype(object)
    assert isinstance(value, date)
    return value


def walk(
    grid: SignalGrid,
    strategy: Strategy,
    params: BacktestParams,
    first: int,
    last: int,
    progress: Progress | None = None,
) -> WalkOutcome:
    """Walk sessions ``first..last`` (grid columns, inclusive) from ``params.capital``."""
    return _Walk(grid, strategy, params).walk(first, last, progress)
