"""The shared performance figures against cases computed by hand (analysis/performance.py)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import msgspec
import numpy as np
import pytest

from analysis.performance import cagr, equity_figures, mean, streaks, trade_stats

DAYS = [date(2026, 3, 2) + timedelta(days=i) for i in range(6)]


def test_curve_figures_match_the_hand_computed_values() -> None:
    """Equity 100 → 110 → 99 → 118.8 has daily returns +10 %, −10 %, +20 %: mean 0.2/3 and sample
    variance 0.07/3, so Sharpe = 0.2/√0.21 · √252 = 0.2·√1200; downside deviation √(0.01/3), so
    Sortino = 2·√84; CAGR = 1.188^(252/3) − 1; max drawdown 10 % from day 1 to day 2, recovered
    on day 3; Calmar = CAGR / 0.1."""
    figures = equity_figures(DAYS[:4], np.array([100.0, 110.0, 99.0, 118.8]))
    assert figures.sharpe == pytest.approx(0.2 * math.sqrt(1200), rel=1e-12)
    assert figures.sortino == pytest.approx(2 * math.sqrt(84), rel=1e-12)
    assert figures.cagr == pytest.approx(1.188**84 - 1, rel=1e-12)
    assert figures.max_drawdown == pytest.approx(0.1, rel=1e-12)
    assert (figures.max_drawdown_peak, figures.max_drawdown_trough) == (DAYS[1], DAYS[2])
    assert figures.max_drawdown_recovery == DAYS[3]
    assert figures.calmar == pytest.approx((1.188**84 - 1) / 0.1, rel=1e-12)
    assert figures.total_return == pytest.approx(0.188, rel=1e-12)


def test_the_risk_free_rate_is_taken_off_each_daily_return() -> None:
    """With an annual risk-free rate whose daily equivalent is exactly 1 %, returns of +3 % and
    +1 % have excess +2 % and 0: Sharpe = 0.01 / √0.0002 · √252, Sortino has no downside."""
    annual = 1.01**252 - 1
    figures = equity_figures(DAYS[:3], np.array([100.0, 103.0, 104.03]), annual)
    assert figures.sharpe == pytest.approx(0.01 / math.sqrt(0.0002) * math.sqrt(252), rel=1e-9)
    assert figures.sortino is None


def test_drawdown_dates_use_the_last_day_at_the_peak_and_none_without_recovery() -> None:
    """100, 120, 120, 90, 100: the fall is 25 % from the second day at 120 (the last at the
    peak) to day 3, and the curve never gets back: no recovery date."""
    figures = equity_figures(DAYS[:5], np.array([100.0, 120.0, 120.0, 90.0, 100.0]))
    assert figures.max_drawdown == pytest.approx(0.25)
    assert (figures.max_drawdown_peak, figures.max_drawdown_trough) == (DAYS[2], DAYS[3])
    assert figures.max_drawdown_recovery is None


def test_a_flat_curve_has_no_ratios_and_no_drawdown() -> None:
    """A curve that never moves has no spread: Sharpe, Sortino and Calmar are undefined (None,
    not infinite), the drawdown 0 and CAGR 0."""
    figures = equity_figures(DAYS[:4], np.full(4, 50.0))
    assert (figures.sharpe, figures.sortino, figures.calmar) == (None, None, None)
    assert figures.max_drawdown == 0.0
    assert figures.cagr == 0.0
    assert figures.max_drawdown_peak is None


def test_cagr_of_a_wiped_out_account_is_minus_one() -> None:
    """CAGR is −100 % once equity reaches 0, and undefined over no time."""
    assert cagr(100.0, 0.0, 10) == -1.0
    assert cagr(100.0, 121.0, 504) == pytest.approx(0.1)
    assert cagr(100.0, 120.0, 0) is None


def test_trade_stats_are_hand_computed_and_keep_the_money_type() -> None:
    """P&L 100, −50, 0, 30: 2 wins, 1 loss, 1 break-even (neither), win rate 2/4, profit factor
    130/50, expectancy (130 − 50)/4 = 20; the same in Decimal gives Decimal results."""
    floats = trade_stats([100.0, -50.0, 0.0, 30.0], 0.0)
    assert (floats.wins, floats.losses, floats.break_evens) == (2, 1, 1)
    assert floats.win_rate == 0.5
    assert floats.profit_factor == pytest.approx(2.6)
    assert floats.expectancy == 20.0
    assert floats.average_winner == 65.0
    exact = trade_stats([Decimal(100), Decimal(-50), Decimal(0), Decimal(30)], Decimal(0))
    assert exact.profit_factor == Decimal("2.6")
    assert exact.win_rate == Decimal("0.5")
    assert isinstance(exact.expectancy, Decimal)


def test_no_trades_leave_ratios_undefined() -> None:
    """No trades: counts 0, every ratio None; no losses: profit factor None."""
    empty = trade_stats([], 0.0)
    assert (empty.trades, empty.win_rate, empty.expectancy, empty.profit_factor) == (
        0,
        None,
        None,
        None,
    )
    assert trade_stats([5.0], 0.0).profit_factor is None
    assert mean([], 0.0) is None


def test_streaks_break_on_a_break_even() -> None:
    """+ + 0 + − − : longest winning run 2 (the break-even ends it), longest losing run 2."""
    assert streaks([1.0, 2.0, 0.0, 3.0, -1.0, -2.0]) == (2, 2)


METRICS_KEYS = [
    "start", "end", "sessions", "initial_equity", "final_equity", "total_return", "cagr",
    "sharpe", "sortino", "max_drawdown", "max_drawdown_peak", "max_drawdown_trough",
    "max_drawdown_recovery", "calmar", "exposure", "trades", "wins", "losses", "win_rate",
    "profit_factor", "expectancy", "average_r", "trades_per_month", "open_positions",
]  # fmt: skip
"""The backtest's ``metrics`` JSON keys in their order (the order the result documents already
recorded in ``backtest_completed.result_hash`` were written in)."""


def test_the_backtest_metrics_are_the_curve_figures_extended_with_the_same_json_keys() -> None:
    """One definition serves both: the backtest's ``Metrics`` is an ``EquityFigures`` whose
    curve fields equal ``equity_figures`` of the run's equity curve, and its JSON keys are the
    documented ones in the same order as before the two were joined."""
    from analysis.backtest import Metrics, run
    from analysis.performance import EquityFigures
    from tests.unit.analysis.backtest_builders import close_above, exits, market, ohlc

    bars = ohlc([(99.0, 99.5, 98.5, 99.0), (100.0, 101.5, 99.5, 101.0),
                 (101.0, 112.0, 100.5, 111.0), (111.0, 111.5, 104.0, 105.0)])  # fmt: skip
    result = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars}))
    m = result.metrics
    assert isinstance(m, Metrics)
    assert isinstance(m, EquityFigures)
    curve = equity_figures([p.date for p in result.equity],
                           np.array([p.value for p in result.equity]))  # fmt: skip
    assert {k: getattr(m, k) for k in EquityFigures.__struct_fields__} == msgspec.structs.asdict(
        curve
    )
    assert list(msgspec.json.decode(msgspec.json.encode(m))) == METRICS_KEYS
    assert (m.trades, m.sessions) == (len(result.trades), 4)
