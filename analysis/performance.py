"""Performance figures, one implementation shared by the backtest and the trade journal's metrics.

Trade figures (``trade_stats``, ``streaks``, ``mean``) take a sequence of P&L in either money type
the callers use (the journal's exact ``Decimal``, the backtest's ``float``) and return the same
type: win rate, profit factor, expectancy and averages are one formula for both. Equity-curve
figures (``equity_figures``) take a daily curve as numpy arrays.

Definitions: a break-even trade (P&L exactly 0) is neither a win nor a loss; win rate is
``wins / trades``; profit factor ``gross profit / |gross loss|`` (``None`` without a loss);
expectancy the average trade, ``win_rate × avg winner − loss_rate × |avg loser|``. CAGR over the
curve's sessions at 252 a year; Sharpe and Sortino from daily simple returns in excess of the
daily risk-free rate, annualised by √252 (Sharpe with the sample standard deviation, Sortino with
the downside deviation ``sqrt(mean(min(excess, 0)²))``); max drawdown the largest fall from a
running peak as a fraction of that peak; Calmar = CAGR / max drawdown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec
import numpy as np
from numpy.typing import NDArray

SESSIONS_PER_YEAR = 252
DAYS_PER_MONTH = 365.25 / 12

Money = TypeVar("Money", float, Decimal)


@dataclass(frozen=True)
class TradeStats(Generic[Money]):
    """Aggregates of a sequence of closed trades' P&L."""

    trades: int
    wins: int
    losses: int
    break_evens: int
    gross_profit: Money
    gross_loss: Money
    total: Money
    win_rate: Money | None
    average_winner: Money | None
    average_loser: Money | None
    average_trade: Money | None
    profit_factor: Money | None
    expectancy: Money | None


def trade_stats(pnls: Sequence[Money], zero: Money) -> TradeStats[Money]:
    """Win/loss counts, gross figures, win rate, averages, profit factor and expectancy.

    ``zero`` is the money type's zero (``0.0`` or ``Decimal(0)``), so sums of an empty sequence
    and ratios keep the caller's type."""
    winners = [p for p in pnls if p > 0]
    losers = [p for p in pnls if p < 0]
    n = len(pnls)
    gross_profit = sum(winners, zero)
    gross_loss = sum(losers, zero)
    total = gross_profit + gross_loss
    return TradeStats(
        trades=n,
        wins=len(winners),
        losses=len(losers),
        break_evens=n - len(winners) - len(losers),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        total=total,
        win_rate=(zero + len(winners)) / n if n else None,
        average_winner=gross_profit / len(winners) if winners else None,
        average_loser=gross_loss / len(losers) if losers else None,
        average_trade=total / n if n else None,
        profit_factor=gross_profit / abs(gross_loss) if losers else None,
        # win_rate * avg_winner == gross_profit / n and loss_rate * |avg_loser| == |gross_loss| / n:
        # reduced this way it divides once, so it is exact up to the last digit.
        expectancy=(gross_profit - abs(gross_loss)) / n if n else None,
    )


def mean(values: Sequence[Money], zero: Money) -> Money | None:
    """The average (``None`` when empty), e.g. the average R."""
    return sum(values, zero) / len(values) if values else None


def streaks(pnls: Sequence[Money]) -> tuple[int, int]:
    """The longest runs of winning and of losing trades (a break-even ends both)."""
    longest_win = longest_loss = win = loss = 0
    for p in pnls:
        win = win + 1 if p > 0 else 0
        loss = loss + 1 if p < 0 else 0
        longest_win = max(longest_win, win)
        longest_loss = max(longest_loss, loss)
    return longest_win, longest_loss


class EquityFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Figures of a daily equity curve (see the module docstring): its first and last session,
    how many, the equity at both ends, and the return, risk and drawdown figures.

    One definition for every caller: the backtest's ``Metrics`` extends it with the trade figures
    (``analysis.backtest_model``), so a field here is a key of the backtest's ``metrics`` JSON, in
    this order, first. ``None`` where a figure is undefined, never infinity or NaN."""

    start: date | None
    end: date | None
    sessions: int
    initial_equity: float
    final_equity: float
    total_return: float
    cagr: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    max_drawdown_peak: date | None
    max_drawdown_trough: date | None
    max_drawdown_recovery: date | None
    calmar: float | None


def daily_excess_returns(values: NDArray[np.float64], risk_free_rate: float) -> NDArray[np.float64]:
    """Simple daily returns of a curve minus the daily equivalent of an annual risk-free rate."""
    returns: NDArray[np.float64] = values[1:] / values[:-1] - 1.0
    daily_rf = (1.0 + risk_free_rate) ** (1.0 / SESSIONS_PER_YEAR) - 1.0
    excess: NDArray[np.float64] = returns - daily_rf
    return excess


def sharpe_ratio(excess: NDArray[np.float64]) -> float | None:
    """Annualised Sharpe ratio of daily excess returns (``None``: fewer than 2, or no spread)."""
    if len(excess) < 2:
        return None
    spread = float(np.std(excess, ddof=1))
    if spread <= 1e-15:
        return None
    return float(np.mean(excess)) / spread * math.sqrt(SESSIONS_PER_YEAR)


def sortino_ratio(excess: NDArray[np.float64]) -> float | None:
    """Annualised Sortino ratio of daily excess returns (``None``: none, or no downside)."""
    if len(excess) < 1:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside <= 1e-15:
        return None
    return float(np.mean(excess)) / downside * math.sqrt(SESSIONS_PER_YEAR)


def cagr(initial: float, final: float, periods: int) -> float | None:
    """Compound annual growth over ``periods`` sessions (``None`` over none; -1 once wiped out)."""
    if periods <= 0 or initial <= 0:
        return None
    if final <= 0:
        return -1.0
    return float((final / initial) ** (SESSIONS_PER_YEAR / periods) - 1.0)


def drawdowns(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fall from the running peak as a fraction of it, at every point (rows are separate curves
    when 2-D); a curve at or below 0 counts as a 100 % drawdown."""
    peaks = np.maximum.accumulate(values, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peaks > 0, 1.0 - values / peaks, 1.0)
    return np.minimum(falls, 1.0)


def equity_figures(
    days: Sequence[date], values: NDArray[np.float64], risk_free_rate: float = 0.0
) -> EquityFigures:
    """CAGR, Sharpe, Sortino, max drawdown with its dates, and Calmar of a daily equity curve."""
    if len(values) == 0:
        return EquityFigures(
            start=None, end=None, sessions=0, initial_equity=0.0, final_equity=0.0,
            total_return=0.0, cagr=None, sharpe=None, sortino=None, max_drawdown=0.0,
            max_drawdown_peak=None, max_drawdown_trough=None, max_drawdown_recovery=None,
            calmar=None,
        )  # fmt: skip
    excess = daily_excess_returns(values, risk_free_rate)
    growth = cagr(float(values[0]), float(values[-1]), len(values) - 1)
    falls = drawdowns(values)
    trough = int(np.argmax(falls))
    worst = float(falls[trough])
    peak_day = trough_day = recovery_day = None
    if worst > 0:
        peak = trough - int(np.argmax(values[trough::-1] >= values[: trough + 1].max()))
        peak_day, trough_day = days[peak], days[trough]
        back = np.flatnonzero(values[trough:] >= values[peak])
        recovery_day = days[trough + int(back[0])] if len(back) else None
    return EquityFigures(
        start=days[0],
        end=days[-1],
        sessions=len(values),
        initial_equity=float(values[0]),
        final_equity=float(values[-1]),
        total_return=float(values[-1] / values[0] - 1.0) if values[0] > 0 else 0.0,
        cagr=growth,
        sharpe=sharpe_ratio(excess),
        sortino=sortino_ratio(excess),
        max_drawdown=worst,
        max_drawdown_peak=peak_day,
        max_drawdown_trough=trough_day,
        max_drawdown_recovery=recovery_day,
        calmar=growth / worst if growth is not None and worst > 0 else None,
    )
