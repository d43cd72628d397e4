"""Monte Carlo over a backtest's closed trades: resampled trade sequences, vectorised with numpy.

Each resample is a row of P&L (``shuffle``: a permutation; ``bootstrap``: drawn with replacement;
``drop``: each trade kept with probability ``1 − drop_fraction``, order kept, a dropped trade a 0
step), its equity path ``capital + cumsum``. Rows are processed in chunks so 10,000 resamples of
500 trades stay within a few tens of MiB. Figures per row: final equity, max drawdown (a
fraction of the running peak, the capital counting as the first peak), CAGR over the run's span;
then percentiles, the share of rows whose drawdown reached ``ruin_drawdown``, and the equity
cone (percentiles of equity after k trades).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analysis.backtest_engine import BacktestError
from analysis.backtest_model import (
    BacktestResult,
    ConePoint,
    MonteCarloParams,
    MonteCarloResult,
    Percentiles,
)
from analysis.performance import SESSIONS_PER_YEAR, drawdowns

_CHUNK = 2_000
_LEVELS = (5.0, 25.0, 50.0, 75.0, 95.0)


def check(params: MonteCarloParams) -> None:
    """Refuse parameters no Monte Carlo can use, saying what would be valid."""
    problems = []
    if params.method not in ("shuffle", "bootstrap", "drop"):
        problems.append(f"method must be shuffle, bootstrap or drop, got {params.method!r}")
    if not 1 <= params.runs <= 1_000_000:
        problems.append(f"runs must be 1 to 1,000,000, got {params.runs}")
    if not 0 <= params.drop_fraction < 1:
        problems.append(f"drop fraction must be in [0, 1), got {params.drop_fraction:g}")
    if not 0 < params.ruin_drawdown <= 1:
        problems.append(f"ruin drawdown must be in (0, 1], got {params.ruin_drawdown:g}")
    if params.cone_points < 2:
        problems.append(f"cone points must be at least 2, got {params.cone_points}")
    if problems:
        raise BacktestError("; ".join(problems))


def resample(
    pnls: NDArray[np.float64], params: MonteCarloParams, rows: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``rows`` resampled P&L sequences, shaped ``(rows, trades)``."""
    n = len(pnls)
    if params.method == "shuffle":
        return rng.permuted(np.broadcast_to(pnls, (rows, n)), axis=1)
    if params.method == "bootstrap":
        picked: NDArray[np.float64] = pnls[rng.integers(0, n, size=(rows, n))]
        return picked
    kept = rng.random((rows, n)) >= params.drop_fraction
    return np.where(kept, pnls, 0.0)


def simulate(
    pnls: NDArray[np.float64], capital: float, years: float, params: MonteCarloParams
) -> MonteCarloResult:
    """The Monte Carlo of a P&L sequence starting from ``capital`` over ``years``."""
    check(params)
    if capital <= 0:
        raise BacktestError(f"capital must be more than 0, got {capital:g}")
    n = len(pnls)
    if n == 0:
        raise BacktestError("no closed trades to resample: the run made none")
    rng = np.random.default_rng(params.seed)
    cone_at = np.unique(np.linspace(0, n, min(params.cone_points, n + 1)).round().astype(np.intp))
    finals = np.empty(params.runs)
    worst = np.empty(params.runs)
    cone = np.empty((params.runs, len(cone_at)))
    for start in range(0, params.runs, _CHUNK):
        rows = min(_CHUNK, params.runs - start)
        paths = np.empty((rows, n + 1))
        paths[:, 0] = capital
        np.cumsum(resample(pnls, params, rows, rng), axis=1, out=paths[:, 1:])
        paths[:, 1:] += capital
        part = slice(start, start + rows)
        finals[part] = paths[:, -1]
        worst[part] = drawdowns(paths).max(axis=1)
        cone[part] = paths[:, cone_at]
    growth = _cagr(finals, capital, years)
    cone_levels = np.percentile(cone, _LEVELS, axis=0)
    return MonteCarloResult(
        method=params.method,
        runs=params.runs,
        seed=params.seed,
        trades=n,
        initial_equity=capital,
        years=years,
        final_equity=_percentiles(finals),
        max_drawdown=_percentiles(worst),
        cagr=_percentiles(growth),
        ruin_drawdown=params.ruin_drawdown,
        probability_of_ruin=float(np.mean(worst >= params.ruin_drawdown)),
        cone=[
            ConePoint(
                trade=int(k),
                p5=float(cone_levels[0, i]),
                p25=float(cone_levels[1, i]),
                p50=float(cone_levels[2, i]),
                p75=float(cone_levels[3, i]),
                p95=float(cone_levels[4, i]),
            )
            for i, k in enumerate(cone_at)
        ],
    )


def _cagr(finals: NDArray[np.float64], capital: float, years: float) -> NDArray[np.float64]:
    if years <= 0:
        return np.zeros_like(finals)
    ratio = np.maximum(finals / capital, 0.0)
    growth: NDArray[np.float64] = ratio ** (1.0 / years) - 1.0
    return growth


def _percentiles(values: NDArray[np.float64]) -> Percentiles:
    p5, p25, p50, p75, p95 = (float(v) for v in np.percentile(values, _LEVELS))
    return Percentiles(p5=p5, p25=p25, p50=p50, p75=p75, p95=p95, mean=float(np.mean(values)))


def run_years(result: BacktestResult) -> float:
    """The span of a run in years (its sessions at 252 a year)."""
    return max(result.metrics.sessions - 1, 0) / SESSIONS_PER_YEAR


def monte_carlo(result: BacktestResult, params: MonteCarloParams) -> MonteCarloResult:
    """The Monte Carlo of ``result``'s closed trades, in the order they closed."""
    pnls = np.asarray([t.pnl for t in result.trades], dtype=np.float64)
    return simulate(pnls, result.capital, run_years(result), params)
