"""Monte Carlo over a run's trades: resampling, figures and their hand-computed cases
(analysis/montecarlo.py)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.backtest import BacktestError, MonteCarloParams
from analysis.montecarlo import simulate

PNLS = np.array([100.0, -300.0, 50.0])


def test_one_order_gives_the_hand_computed_path() -> None:
    """Dropping no trade leaves one order: 1000 → 1100 → 800 → 850, every percentile of final
    equity 850, max drawdown 300/1100, CAGR 0.85^(1/0.5) − 1 over half a year; a 25 % ruin
    threshold is crossed by every resample."""
    result = simulate(
        PNLS,
        1000.0,
        0.5,
        MonteCarloParams(method="drop", drop_fraction=0, runs=50, ruin_drawdown=0.25),
    )
    assert result.final_equity.p5 == result.final_equity.p95 == pytest.approx(850.0)
    assert result.max_drawdown.p50 == pytest.approx(300 / 1100)
    assert result.cagr.p50 == pytest.approx(0.85**2 - 1)
    assert result.probability_of_ruin == 1.0
    assert [point.p50 for point in result.cone] == pytest.approx([1000.0, 1100.0, 800.0, 850.0])


def test_the_same_seed_gives_the_same_figures_and_another_seed_others() -> None:
    """Resampling is reproducible from its seed (and really random across seeds)."""
    pnls = np.random.default_rng(3).normal(10, 200, 200)
    params = MonteCarloParams(method="bootstrap", runs=300, seed=11)
    assert simulate(pnls, 10_000.0, 1.0, params) == simulate(pnls, 10_000.0, 1.0, params)
    other = MonteCarloParams(method="bootstrap", runs=300, seed=12)
    assert simulate(pnls, 10_000.0, 1.0, params) != simulate(pnls, 10_000.0, 1.0, other)


def test_shuffling_keeps_the_final_equity_and_spreads_the_drawdown() -> None:
    """Every permutation ends at capital + ΣP&L; only the path (and so the drawdown) differs."""
    pnls = np.random.default_rng(5).normal(5, 100, 100)
    result = simulate(pnls, 5_000.0, 1.0, MonteCarloParams(method="shuffle", runs=500))
    assert result.final_equity.p5 == pytest.approx(5_000 + pnls.sum())
    assert result.final_equity.p95 == pytest.approx(5_000 + pnls.sum())
    assert result.max_drawdown.p5 < result.max_drawdown.p95


def test_the_cone_starts_at_the_capital_and_ends_at_the_final_equity_percentiles() -> None:
    """The cone's first point is the capital for every resample and its last the percentiles
    of final equity."""
    pnls = np.random.default_rng(9).normal(0, 50, 40)
    result = simulate(pnls, 1_000.0, 1.0, MonteCarloParams(method="bootstrap", runs=400))
    first, last = result.cone[0], result.cone[-1]
    assert (first.trade, first.p5, first.p95) == (0, 1_000.0, 1_000.0)
    assert last.trade == 40
    assert (last.p5, last.p50, last.p95) == pytest.approx(
        (result.final_equity.p5, result.final_equity.p50, result.final_equity.p95)
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (MonteCarloParams(runs=0), "runs must be 1 to 1,000,000"),
        (MonteCarloParams(drop_fraction=1.0), "drop fraction must be in"),
        (MonteCarloParams(ruin_drawdown=0), "ruin drawdown must be in"),
        (MonteCarloParams(method="jackknife"), "method must be shuffle, bootstrap or drop"),  # type: ignore[arg-type]
    ],
)
def test_bad_parameters_are_refused(params: MonteCarloParams, message: str) -> None:
    """Parameters no Monte Carlo can use raise ``BacktestError`` saying what is valid."""
    with pytest.raises(BacktestError, match=message):
        simulate(PNLS, 1000.0, 1.0, params)


def test_a_run_without_trades_cannot_be_resampled() -> None:
    """No closed trades: refused, saying so."""
    with pytest.raises(BacktestError, match="no closed trades to resample"):
        simulate(np.array([]), 1000.0, 1.0, MonteCarloParams())
