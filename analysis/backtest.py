"""Backtests of a strategy over past bars: ``run``, ``walk_forward``, ``monte_carlo``, ``compare``.

Pure computation over arrays (no I/O): the caller gathers the bars, flow alerts, earnings dates
and exchange sessions (``MarketData``) and gets typed results back (``analysis.backtest_model``,
re-exported here). The rules, point in time:

- A signal is decided at session t's close from what was known then: bars ≤ t (the indicators the
  scanner computes, evaluated for every symbol and bar at once), flow alerts created in
  ``(close_t − recency, close_t]``, earnings dates known at t (learned by close_t, or from
  ``earnings_lead_days`` before the date when learned later); the strategy's filters, its minimum
  reward:risk and its exit levels as the scanner applies them, with the close as the entry.
- The fill is session t+1's open, ``slippage_bps`` against the trade (on exits too). The stop and
  target are the pick's, anchored at the signal's close as the daily picks post them; an entry
  whose open is already beyond either is not taken (the notes count them). Stops and targets are
  checked against each later bar's low and high (the entry bar's too); a bar touching both counts
  the stop; an open beyond the stop (or target) fills at the open. A trailing stop trails the best
  high (low, short) of the bars before, so it never uses a bar's extreme to stop that same bar.
  ``time_exit_bars`` closes at the open after that many bars held. ATR exits use the strategy's
  own ATR (ATR(14) only when it has none). Shorts (``direction="short"``) mirror every level.
- Sizing at the signal's close from the equity then: the strategy's risk per trade down to the
  stop, or a fixed fraction (``Sizing``), whole shares, never more than the equity not already in
  open positions.
- At most ``max_positions`` open at once; when more signals than free slots arrive at one close,
  the stronger signals (more entry conditions passed) go first, then by symbol: the outcome never
  depends on the order the symbols were given.
- Commission once per side. Positions still open at the end are marked to their last close and
  reported apart from the closed trades. A symbol that cannot be used is reported in ``skipped``
  and the run goes on; bad input as a whole raises ``BacktestError`` with what would be valid.
"""

from __future__ import annotations

from collections.abc import Sequence

from analysis import backtest_engine as engine
from analysis import backtest_signals, montecarlo, walkforward
from analysis.backtest_engine import BacktestError
from analysis.backtest_model import (
    EARNINGS_LEAD_DAYS,
    BacktestParams,
    BacktestResult,
    Comparison,
    ConePoint,
    Direction,
    EquityPoint,
    ExitReason,
    KnownEarnings,
    MarketData,
    Metrics,
    MonteCarloMethod,
    MonteCarloParams,
    MonteCarloResult,
    OpenPosition,
    Percentiles,
    Progress,
    Sizing,
    SizingMode,
    SkippedSymbol,
    Trade,
    WalkForwardResult,
    WalkForwardWindow,
)
from analysis.backtest_walk import walk
from analysis.strategy import Strategy

__all__ = [
    "EARNINGS_LEAD_DAYS",
    "BacktestError",
    "BacktestParams",
    "BacktestResult",
    "Comparison",
    "ConePoint",
    "Direction",
    "EquityPoint",
    "ExitReason",
    "KnownEarnings",
    "MarketData",
    "Metrics",
    "MonteCarloMethod",
    "MonteCarloParams",
    "MonteCarloResult",
    "OpenPosition",
    "Percentiles",
    "Progress",
    "Sizing",
    "SizingMode",
    "SkippedSymbol",
    "Trade",
    "WalkForwardResult",
    "WalkForwardWindow",
    "bars_needed",
    "compare",
    "monte_carlo",
    "run",
    "walk_forward",
]


def bars_needed(strategy: Strategy) -> int:
    """Bars of history a symbol needs before its first signal (indicators' warm-up, crosses'
    previous bar, the exits' ATR): gather at least this many bars before ``start``."""
    return backtest_signals.bars_needed(strategy)


def run(
    strategy: Strategy,
    data: MarketData,
    params: BacktestParams | None = None,
    *,
    progress: Progress | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` over ``data`` from ``params.start`` to ``params.end`` (sessions,
    inclusive). Raises ``BacktestError`` on bad input."""
    params = params or BacktestParams()
    grid = engine.prepare(strategy, data, params)
    first, last = engine.columns(grid, strategy, params)
    outcome = walk(grid, strategy, params, first, last, progress)
    return engine.result(strategy, grid, params, outcome, first, last)


def walk_forward(
    strategy: Strategy,
    data: MarketData,
    params: BacktestParams | None = None,
    *,
    in_sample_sessions: int = 126,
    out_of_sample_sessions: int = 63,
    progress: Progress | None = None,
) -> WalkForwardResult:
    """Rolling windows of ``in_sample_sessions`` followed by ``out_of_sample_sessions``, moved on
    by the out-of-sample length, over the range of ``params``; each window's figures in and out of
    sample, and the out-of-sample windows chained into one result (where over-fitting shows)."""
    return walkforward.walk_forward(
        strategy,
        data,
        params or BacktestParams(),
        in_sample_sessions=in_sample_sessions,
        out_of_sample_sessions=out_of_sample_sessions,
        progress=progress,
    )


def monte_carlo(result: BacktestResult, params: MonteCarloParams | None = None) -> MonteCarloResult:
    """Resample ``result``'s closed trades (``params.method``) ``params.runs`` times from
    ``params.seed``: percentiles of final equity, max drawdown and CAGR, the probability of ruin
    and the equity cone. Vectorised: 10,000 resamples of 500 trades in well under a second."""
    return montecarlo.monte_carlo(result, params or MonteCarloParams())


def compare(
    strategies: Sequence[Strategy],
    data: MarketData,
    params: BacktestParams | None = None,
    *,
    progress: Progress | None = None,
) -> Comparison:
    """Each strategy run over the same data and parameters, in the order given."""
    results = []
    for index, strategy in enumerate(strategies):
        results.append(run(strategy, data, params))
        if progress is not None:
            progress(index + 1, len(strategies))
    return Comparison(results=results)
