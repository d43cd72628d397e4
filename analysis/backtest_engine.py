"""The backtest's glue: parameters checked, the range resolved to grid columns, a walk turned
into a ``BacktestResult`` with its figures (``analysis.performance``).

``analysis.backtest`` (run, compare), ``analysis.walkforward`` and the tests use these; the
public API is ``analysis.backtest``.
"""

from __future__ import annotations

from datetime import date

import msgspec
import numpy as np

from analysis.backtest_model import (
    BacktestParams,
    BacktestResult,
    EquityPoint,
    MarketData,
    Metrics,
    OpenPosition,
    Trade,
)
from analysis.backtest_signals import SignalGrid, bars_needed, build_grid
from analysis.backtest_walk import WalkOutcome
from analysis.errors import AnalysisError
from analysis.performance import DAYS_PER_MONTH, equity_figures, mean, trade_stats
from analysis.series import FloatArray
from analysis.strategy import Strategy


class BacktestError(AnalysisError):
    """Input a backtest cannot run on (no bars in the range, too little history, capital ≤ 0…);
    the message says what is wrong and what would be valid."""


def check_params(params: BacktestParams) -> None:
    """Refuse parameters no run can use, saying what would be valid."""
    problems = []
    if not params.capital > 0:
        problems.append(f"capital must be more than 0, got {params.capital:g}")
    if not params.commission >= 0:
        problems.append(f"commission must be 0 or more, got {params.commission:g}")
    if not 0 <= params.slippage_bps < 10_000:
        problems.append(f"slippage must be 0 to 9999 bps, got {params.slippage_bps:g}")
    if params.max_positions is not None and params.max_positions < 1:
        problems.append(f"max positions must be at least 1, got {params.max_positions}")
    if not 0 < params.sizing.fraction <= 1:
        problems.append(f"sizing fraction must be in (0, 1], got {params.sizing.fraction:g}")
    if params.direction not in ("long", "short"):
        problems.append(f"direction must be long or short, got {params.direction!r}")
    if params.skip_earnings_within is not None and params.skip_earnings_within < 0:
        problems.append(
            f"skip earnings within must be 0 or more days, got {params.skip_earnings_within}"
        )
    if params.earnings_lead_days < 0:
        problems.append(f"earnings lead must be 0 or more days, got {params.earnings_lead_days}")
    if params.start and params.end and params.start > params.end:
        problems.append(f"start {params.start} is after end {params.end}")
    if problems:
        raise BacktestError("; ".join(problems))


def prepare(strategy: Strategy, data: MarketData, params: BacktestParams) -> SignalGrid:
    """The signal grid of ``strategy`` over ``data``; refuses data no run can use."""
    check_params(params)
    if not data.bars:
        raise BacktestError("no symbols to backtest")
    if len(data.sessions) == 0:
        raise BacktestError("no exchange sessions given")
    grid = build_grid(
        strategy,
        data,
        direction=params.direction,
        decision_time=params.decision_time,
        skip_earnings_within=params.skip_earnings_within,
        earnings_lead_days=params.earnings_lead_days,
    )
    if len(grid.skipped) == len(grid.symbols):
        needed = bars_needed(strategy)
        most = max(len(bars) for bars in data.bars.values())
        raise BacktestError(
            f"no symbol can be backtested: {strategy.name} needs {needed} bars of history per "
            f"symbol, the most any has is {most}; first problem: "
            f"{grid.skipped[0].symbol}: {grid.skipped[0].reason}"
        )
    return grid


def columns(grid: SignalGrid, strategy: Strategy, params: BacktestParams) -> tuple[int, int]:
    """The grid columns of the range: ``start``/``end`` snapped inward to sessions, defaulting to
    the first session any symbol can signal on and the last session with a bar."""
    has_bar = np.isfinite(grid.close)
    with_bars = np.flatnonzero(has_bar.any(axis=0))
    if len(with_bars) == 0:
        raise BacktestError("no bars on any of the sessions given")
    counts = np.cumsum(has_bar, axis=1)
    ready = np.flatnonzero((counts >= bars_needed(strategy)).any(axis=0))
    default_first = int(ready[0]) if len(ready) else int(with_bars[0])
    sessions = grid.sessions
    first = (
        int(np.searchsorted(sessions, np.datetime64(params.start, "D"), side="left"))
        if params.start
        else default_first
    )
    last = (
        int(np.searchsorted(sessions, np.datetime64(params.end, "D"), side="right")) - 1
        if params.end
        else int(with_bars[-1])
    )
    span = f"bars span {_day(grid, int(with_bars[0]))} to {_day(grid, int(with_bars[-1]))}"
    if first > last or first >= len(sessions) or last < 0:
        since = params.start.isoformat() if params.start else "the first session"
        until = params.end.isoformat() if params.end else "the last bar"
        raise BacktestError(f"no bars between {since} and {until}; {span}")
    if not has_bar[:, first : last + 1].any():
        raise BacktestError(f"no bars between {_day(grid, first)} and {_day(grid, last)}; {span}")
    return first, last


def _day(grid: SignalGrid, col: int) -> date:
    value = grid.sessions[col].astype(object)
    assert isinstance(value, date)
    return value


def metrics(
    days: list[date],
    values: FloatArray,
    exposure: float,
    trades: list[Trade],
    open_positions: list[OpenPosition],
    risk_free_rate: float,
) -> Metrics:
    """The figures of one run (or of chained windows) from its curve and trades."""
    figures = equity_figures(days, values, risk_free_rate)
    stats = trade_stats([t.pnl for t in trades], 0.0)
    months = (days[-1] - days[0]).days / DAYS_PER_MONTH if days else 0.0
    return Metrics(
        **msgspec.structs.asdict(figures),
        exposure=exposure,
        trades=stats.trades,
        wins=stats.wins,
        losses=stats.losses,
        win_rate=stats.win_rate,
        profit_factor=stats.profit_factor,
        expectancy=stats.expectancy,
        average_r=mean([t.r for t in trades if t.r is not None], 0.0),
        trades_per_month=len(trades) / months if months > 0 else None,
        open_positions=len(open_positions),
    )


def result(
    strategy: Strategy,
    grid: SignalGrid,
    params: BacktestParams,
    outcome: WalkOutcome,
    first: int,
    last: int,
) -> BacktestResult:
    """A walk over columns ``first..last`` as a ``BacktestResult``."""
    days = [_day(grid, col) for col in range(first, last + 1)]
    figures = metrics(
        days,
        outcome.equity,
        float(np.mean(outcome.exposed)),
        outcome.trades,
        outcome.open_positions,
        params.risk_free_rate,
    )
    return BacktestResult(
        strategy_name=strategy.name,
        strategy_hash=strategy.sha256,
        direction=params.direction,
        start=days[0],
        end=days[-1],
        capital=params.capital,
        symbols=list(grid.symbols),
        trades=outcome.trades,
        open_positions=outcome.open_positions,
        equity=[
            EquityPoint(date=d, value=float(v)) for d, v in zip(days, outcome.equity, strict=True)
        ],
        metrics=figures,
        skipped=list(grid.skipped),
        notes=[*grid.notes, *outcome.notes],
    )
