"""The backtest's inputs and results as types (re-exported by ``analysis.backtest``, the one place
to import them from).

Inputs are frozen dataclasses (they hold numpy arrays); results are frozen msgspec structs, so a
front end turns any of them into JSON with ``msgspec.json.encode`` (dates as ISO strings) and the
same inputs always give byte-identical output. Undefined figures (a profit factor without a losing
trade, a Sharpe ratio of a flat curve) are ``None``, never infinity or NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Literal

import msgspec
import numpy as np
from numpy.typing import NDArray

from analysis.errors import AnalysisError
from analysis.performance import EquityFigures
from analysis.series import DayArray, SymbolBars
from events.market import FlowAlert

Direction = Literal["long", "short"]
ExitReason = Literal["stop", "target", "trailing", "time"]
"""Why a closed trade closed: its stop loss, take profit, trailing stop, or ``time_exit_bars``."""
SizingMode = Literal["risk", "fraction"]
MonteCarloMethod = Literal["shuffle", "bootstrap", "drop"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a run advances (for a progress bar); never required."""


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


EARNINGS_LEAD_DAYS = 7
"""Calendar days before an earnings date from which a backtest takes it as known when the journal
learned it only later (history fetched after the fact). Companies announce their report dates
ahead, most two to four weeks ahead; assuming only a week claims less than was known for most
of them, so the backtest's earnings filter may let through an entry a live run would have
skipped (more earnings risk in the figures, never less), and never skips one on knowledge no
one had yet. ``BacktestParams.earnings_lead_days`` changes it."""


@dataclass(frozen=True)
class KnownEarnings:
    """An earnings date and when it was learned: the recorded time of the fetch that brought it
    (``learned_at``, aware; ``None``: known throughout, for callers without that record).

    A decision at session t's close sees the date when ``learned_at <= close_t``, or, learned
    later, from ``lead`` calendar days before it (``BacktestParams.earnings_lead_days``): no
    look-ahead on the calendar.
    """

    day: date
    learned_at: datetime | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ns(moment: datetime) -> int:
    """An aware moment as integer nanoseconds since the epoch (exact, no float rounding)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AnalysisError(f"moment must be time-zone aware, got naive {moment.isoformat()}")
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


@dataclass(frozen=True, eq=False)
class AlertTable:
    """One symbol's flow alerts as columns sorted by creation time (what the backtest reads)."""

    created: NDArray[np.int64]
    """UTC epoch nanoseconds."""
    direction: NDArray[np.str_]
    premium: NDArray[np.float64]
    volume: NDArray[np.float64]

    @classmethod
    def of(cls, alerts: Sequence[FlowAlert]) -> AlertTable:
        """The table of some alerts (a naive ``created_at`` is refused)."""
        created = np.asarray([epoch_ns(a.created_at) for a in alerts], dtype=np.int64)
        order = np.argsort(created, kind="stable")
        return cls(
            created=created[order],
            direction=np.asarray([a.direction for a in alerts], dtype=str)[order],
            premium=np.asarray([a.total_premium for a in alerts], dtype=np.float64)[order],
            volume=np.asarray([a.volume for a in alerts], dtype=np.float64)[order],
        )


@dataclass(frozen=True)
class MarketData:
    """Everything a run reads, point in time: bars, flow alerts, earnings dates, sessions.

    ``bars`` per symbol (oldest first, the scanner's ``SymbolBars``), including the history before
    the range that the indicators need to warm up. ``sessions`` are the exchange's sessions from
    its calendar (holidays absent), covering at least the backtest range; a bar on a day that is
    not a session is ignored (and reported). ``alerts`` per symbol are the flow alerts; a signal
    decided at a session's close counts those created in ``(close − recency, close]``.
    """

    bars: Mapping[str, SymbolBars]
    sessions: Sequence[date] | DayArray
    alerts: Mapping[str, Sequence[FlowAlert]] = field(default_factory=dict)
    earnings: Mapping[str, Sequence[KnownEarnings]] = field(default_factory=dict)

    @cached_property
    def alert_tables(self) -> dict[str, AlertTable]:
        """Each symbol's alerts as an ``AlertTable``, built once for every run over this data."""
        return {symbol: AlertTable.of(alerts) for symbol, alerts in self.alerts.items() if alerts}


@dataclass(frozen=True)
class Sizing:
    """How many shares an entry buys (or sells short).

    ``risk``: the strategy's risk per trade (its risk profile's fraction of equity) divided by the
    distance to the stop; a strategy without a stop loss falls back to ``fraction``.
    ``fraction``: ``fraction`` of equity at the entry price. Whole shares either way, capped by the
    equity not already committed to open positions (no leverage).
    """

    mode: SizingMode = "risk"
    fraction: float = 0.1


@dataclass(frozen=True)
class BacktestParams:
    """The run's parameters; the defaults are a long-only run of 100,000 without costs.

    ``start``/``end`` are session dates, inclusive (``None``: the first/last session with bars,
    after the indicators' warm-up). Signals are decided at each session's close from ``start`` on
    and filled at the next session's open, ``slippage_bps`` against the trade (and on exits).
    ``commission`` is charged once per side (entry and exit), per order, in account currency.
    ``max_positions`` ``None`` means the strategy's own (its risk profile). ``decision_time`` is
    the session close in New York: the moment a signal is decided, for the flow alerts' window.
    ``skip_earnings_within``: no entry when an earnings date known at t is within that many
    calendar days from t (inclusive), as the scanner's option; a date counts as known at t when
    it was learned by t's close, or from ``earnings_lead_days`` before it (``EARNINGS_LEAD_DAYS``
    says why a week). ``risk_free_rate`` is annual.
    """

    capital: float = 100_000.0
    commission: float = 0.0
    slippage_bps: float = 0.0
    max_positions: int | None = None
    sizing: Sizing = field(default_factory=Sizing)
    direction: Direction = "long"
    start: date | None = None
    end: date | None = None
    decision_time: time = time(16, 0)
    skip_earnings_within: int | None = None
    risk_free_rate: float = 0.0
    earnings_lead_days: int = EARNINGS_LEAD_DAYS


@dataclass(frozen=True)
class MonteCarloParams:
    """A Monte Carlo over a run's closed trades.

    ``shuffle``: the same trades in random orders; ``bootstrap``: as many trades drawn with
    replacement; ``drop``: each trade left out with probability ``drop_fraction`` (order kept).
    ``runs`` resamples from ``seed`` (same seed, same figures). Ruin is a drawdown from peak of at
    least ``ruin_drawdown`` (a fraction: 0.5 = 50 %). ``cone_points`` trade indices of the cone.
    """

    method: MonteCarloMethod = "shuffle"
    runs: int = 1_000
    seed: int = 0
    drop_fraction: float = 0.1
    ruin_drawdown: float = 0.5
    cone_points: int = 50


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class _Result(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every result struct."""


class Trade(_Result, frozen=True, kw_only=True):
    """One closed trade. ``pnl`` is net of both commissions; ``r`` is ``pnl`` over the initial
    risk (shares × distance from entry to the initial stop), ``None`` without a stop."""

    symbol: str
    direction: Direction
    signal_date: date
    entry_date: date
    entry_price: float
    exit_date: date
    exit_price: float
    exit_reason: ExitReason
    shares: float
    pnl: float
    r: float | None
    commission: float
    bars_held: int
    stop_loss: float | None
    take_profit: float | None


class OpenPosition(_Result, frozen=True, kw_only=True):
    """A position still open at the end, marked to its last close (not a trade).

    ``unrealised_pnl`` is net of the entry commission (the exit's is not charged: no exit yet), so
    trades' P&L plus these equals the change in equity."""

    symbol: str
    direction: Direction
    signal_date: date
    entry_date: date
    entry_price: float
    shares: float
    mark_date: date
    mark_price: float
    unrealised_pnl: float
    stop_loss: float | None
    take_profit: float | None
    bars_held: int


class EquityPoint(_Result, frozen=True, kw_only=True):
    """Equity (cash plus open positions at the close) at one session's close."""

    date: date
    value: float


class Metrics(EquityFigures, frozen=True, kw_only=True):
    """The run's figures: the daily equity curve's, inherited from ``analysis.performance``'s
    ``EquityFigures`` (one definition: start and end, sessions, equity at both ends, return,
    CAGR, Sharpe, Sortino, max drawdown and its dates, Calmar), then the trades'. Ratios are
    fractions (0.12 = 12 %); ``None`` when undefined.

    CAGR from the first to the last point of the daily equity curve (252 sessions a year);
    Sharpe and Sortino from daily returns, annualised by √252, risk-free ``risk_free_rate``;
    ``max_drawdown`` the largest fall from a peak of the daily equity, a fraction, between
    ``max_drawdown_peak`` and ``max_drawdown_trough`` (``max_drawdown_recovery`` the first close
    back at the peak, ``None`` if never); Calmar = CAGR / max drawdown; ``exposure`` the fraction
    of sessions with at least one open position; win rate, profit factor, expectancy and average R
    over closed trades (break-evens are neither wins nor losses, as in the journal's metrics).
    """

    exposure: float
    trades: int
    wins: int
    losses: int
    win_rate: float | None
    profit_factor: float | None
    expectancy: float | None
    average_r: float | None
    trades_per_month: float | None
    open_positions: int


class SkippedSymbol(_Result, frozen=True, kw_only=True):
    """A symbol the run could not use (or used in part), and why; the run goes on without it."""

    symbol: str
    reason: str


class BacktestResult(_Result, frozen=True, kw_only=True):
    """One strategy's run: its trades, positions open at the end, daily equity and figures."""

    strategy_name: str
    strategy_hash: str
    direction: Direction
    start: date | None
    end: date | None
    capital: float
    symbols: list[str]
    trades: list[Trade]
    open_positions: list[OpenPosition]
    equity: list[EquityPoint]
    metrics: Metrics
    skipped: list[SkippedSymbol]
    notes: list[str] = []


class WalkForwardWindow(_Result, frozen=True, kw_only=True):
    """One rolling window: in-sample and out-of-sample figures of the same strategy."""

    index: int
    in_sample_start: date
    in_sample_end: date
    out_of_sample_start: date
    out_of_sample_end: date
    in_sample: Metrics
    out_of_sample: Metrics


class WalkForwardResult(_Result, frozen=True, kw_only=True):
    """Every window, and the out-of-sample windows chained into one run (each starting from the
    previous one's final equity): its trades, equity and figures."""

    strategy_name: str
    strategy_hash: str
    in_sample_sessions: int
    out_of_sample_sessions: int
    windows: list[WalkForwardWindow]
    out_of_sample: BacktestResult


class Percentiles(_Result, frozen=True, kw_only=True):
    """Percentiles of one figure over the resamples."""

    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    mean: float


class ConePoint(_Result, frozen=True, kw_only=True):
    """The spread of equity after ``trade`` trades (the equity cone)."""

    trade: int
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float


class MonteCarloResult(_Result, frozen=True, kw_only=True):
    """Figures over the resampled trade sequences; drawdowns are fractions of the peak."""

    method: MonteCarloMethod
    runs: int
    seed: int
    trades: int
    initial_equity: float
    years: float
    final_equity: Percentiles
    max_drawdown: Percentiles
    cagr: Percentiles
    ruin_drawdown: float
    probability_of_ruin: float
    cone: list[ConePoint]


class Comparison(_Result, frozen=True, kw_only=True):
    """Several strategies (or versions) over the same symbols, dates and parameters."""

    results: list[BacktestResult]
