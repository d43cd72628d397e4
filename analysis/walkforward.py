"""Walk-forward: rolling in-sample / out-of-sample windows of one strategy over one signal grid.

Window k covers ``in_sample_sessions`` sessions from ``first + k × out_of_sample_sessions``, then
the ``out_of_sample_sessions`` after them; only whole windows count. Each part is walked on its
own from the capital (no position carried in), so each window's figures stand alone. The
out-of-sample parts are also chained into one result, each starting from the equity the previous
one ended with (its open positions marked to its last close and listed), so trades' P&L plus the
listed positions' unrealised P&L is still exactly the change in equity.

The grid (the indicators and every decision) is computed once for all windows: decisions are
point in time, so a window's are the same as a run over that window alone would make.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from analysis import backtest_engine as engine
from analysis.backtest_engine import BacktestError
from analysis.backtest_model import (
    BacktestParams,
    BacktestResult,
    MarketData,
    Progress,
    WalkForwardResult,
    WalkForwardWindow,
)
from analysis.backtest_signals import SignalGrid
from analysis.backtest_walk import walk
from analysis.strategy import Strategy


def windows(
    first: int, last: int, in_sample: int, out_of_sample: int
) -> list[tuple[int, int, int]]:
    """``(in-sample start, out-of-sample start, out-of-sample end)`` columns of every whole
    window in ``first..last``."""
    if in_sample < 2 or out_of_sample < 2:
        raise BacktestError(
            f"in-sample and out-of-sample windows need at least 2 sessions each, "
            f"got {in_sample} and {out_of_sample}"
        )
    found = []
    start = first
    while start + in_sample + out_of_sample - 1 <= last:
        oos = start + in_sample
        found.append((start, oos, oos + out_of_sample - 1))
        start += out_of_sample
    if not found:
        sessions = last - first + 1
        raise BacktestError(
            f"the range has {sessions} sessions, too few for one window of "
            f"{in_sample} in-sample + {out_of_sample} out-of-sample sessions"
        )
    return found


def walk_forward(
    strategy: Strategy,
    data: MarketData,
    params: BacktestParams,
    *,
    in_sample_sessions: int,
    out_of_sample_sessions: int,
    progress: Progress | None = None,
) -> WalkForwardResult:
    """See ``analysis.backtest.walk_forward``."""
    grid = engine.prepare(strategy, data, params)
    first, last = engine.columns(grid, strategy, params)
    spans = windows(first, last, in_sample_sessions, out_of_sample_sessions)
    results: list[WalkForwardWindow] = []
    chained: list[BacktestResult] = []
    capital = params.capital
    for index, (start, oos, end) in enumerate(spans):
        inside = engine.result(
            strategy, grid, params, walk(grid, strategy, params, start, oos - 1), start, oos - 1
        )
        outside = engine.result(
            strategy, grid, params, walk(grid, strategy, params, oos, end), oos, end
        )
        chained_params = replace(params, capital=capital)
        link = engine.result(
            strategy,
            grid,
            chained_params,
            walk(grid, strategy, chained_params, oos, end),
            oos,
            end,
        )
        capital = link.metrics.final_equity
        chained.append(link)
        results.append(
            WalkForwardWindow(
                index=index,
                in_sample_start=_day(grid, start),
                in_sample_end=_day(grid, oos - 1),
                out_of_sample_start=_day(grid, oos),
                out_of_sample_end=_day(grid, end),
                in_sample=inside.metrics,
                out_of_sample=outside.metrics,
            )
        )
        if progress is not None:
            progress(index + 1, len(spans))
    return WalkForwardResult(
        strategy_name=strategy.name,
        strategy_hash=strategy.sha256,
        in_sample_sessions=in_sample_sessions,
        out_of_sample_sessions=out_of_sample_sessions,
        windows=results,
        out_of_sample=_chain(chained, params),
    )


def _day(grid: SignalGrid, col: int) -> date:
    value = grid.sessions[col].astype(object)
    assert isinstance(value, date)
    return value


def _chain(parts: list[BacktestResult], params: BacktestParams) -> BacktestResult:
    """The out-of-sample parts as one result (equity continues from part to part)."""
    trades = [t for part in parts for t in part.trades]
    open_positions = [p for part in parts for p in part.open_positions]
    equity = [point for part in parts for point in part.equity]
    days = [point.date for point in equity]
    values = np.asarray([point.value for point in equity])
    sessions = sum(part.metrics.sessions for part in parts)
    exposure = sum(part.metrics.exposure * part.metrics.sessions for part in parts) / sessions
    first = parts[0]
    return BacktestResult(
        strategy_name=first.strategy_name,
        strategy_hash=first.strategy_hash,
        direction=first.direction,
        start=first.start,
        end=parts[-1].end,
        capital=params.capital,
        symbols=first.symbols,
        trades=trades,
        open_positions=open_positions,
        equity=equity,
        metrics=engine.metrics(
            days, values, exposure, trades, open_positions, params.risk_free_rate
        ),
        skipped=first.skipped,
        notes=sorted({note for part in parts for note in part.notes}),
    )
