"""Benchmark: backtest six strategies over 500 symbols × 500 bars, the last 250 sessions.

Generates sample-like data deterministically (``tests/support/synthetic.py``: 500 symbols × 500
daily bars, flow alerts spread over the backtest range), loads every ``*.yaml`` of
``--strategies DIR`` (default: the old tool's six, ``tests/fixtures/compat_strategies``), and
backtests each over the last ``--sessions`` sessions ``--repeat`` times; the median is reported.
Goal: ≤ 3 s for all six and ≤ 300 MiB peak RSS.

Baseline, measured in the same run: the way the old tool worked, one scanner call per symbol and
day (the symbol's bars up to that day, evaluated at its close), on a small slice
(``--baseline-symbols`` × ``--baseline-days`` per strategy); its median cost per symbol-day
against the engine's (total time / strategies × symbols × sessions) is the ratio printed. (The old
tool itself spent 42-63 ms per symbol-day, mostly opening DuckDB connections; the scanner here is
already far cheaper per call, so this ratio is the engine's gain over a per-call walk alone.)

Then a Monte Carlo of ``--resamples`` resamples of a 500-trade sequence (the six runs' trades,
as many as there are, repeated to 500) by each method, median of ``--repeat``; goal ≤ 1 s.
The last line of output is one JSON object with the figures.

    .venv/bin/python benchmarks/backtest.py
    .venv/bin/python benchmarks/backtest.py --strategies ../shared/compat/strategies
    .venv/bin/python benchmarks/backtest.py --symbols 50 --repeat 2   # quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project first

from analysis.backtest import (
    BacktestParams,
    BacktestResult,
    MarketData,
    MonteCarloMethod,
    MonteCarloParams,
    run,
)
from analysis.montecarlo import simulate
from analysis.scan import scan
from analysis.strategy import Strategy, load_strategy_file
from benchmarks._common import peak_rss_mib, print_json_last, say, timed
from tests.support.synthetic import SyntheticMarket, alerts_through, generate_market

GOAL_SECONDS = 3.0
GOAL_RSS_MIB = 300.0
GOAL_MONTE_CARLO_SECONDS = 1.0
MONTE_CARLO_TRADES = 500
DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "compat_strategies"
NEW_YORK = ZoneInfo("America/New_York")


def load_folder(folder: Path) -> list[Strategy]:
    """Every strategy file of ``folder``, sorted by file name."""
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not paths:
        raise SystemExit(f"no strategy files in {folder}")
    return [load_strategy_file(path) for path in paths]


def per_symbol_day_baseline(
    strategies: list[Strategy], market: SyntheticMarket, data: MarketData, symbols: int, days: int
) -> float:
    """Median seconds of one scanner call for one symbol on one day (the old tool's walk)."""
    names = sorted(market.bars)[:symbols]
    sessions = [d.astype(object) for d in np.asarray(data.sessions)[-days:]]
    costs: list[float] = []
    for strategy in strategies:
        for name in names:
            for day in sessions:
                assert isinstance(day, date)
                moment = datetime.combine(day, time(16), NEW_YORK).astimezone(UTC)
                bars = {name: market.bars[name].up_to(day)}
                alerts = {name: data.alerts.get(name, [])}
                with timed() as one:
                    scan(strategy, bars, alerts, evaluated_at=moment)
                costs.append(one.seconds)
    return statistics.median(costs)


def monte_carlo_seconds(
    results: list[BacktestResult], resamples: int, repeat: int
) -> dict[str, float]:
    """Median seconds of a Monte Carlo of ``resamples`` × 500 trades, per method."""
    pnls = np.asarray([t.pnl for r in results for t in r.trades], dtype=np.float64)
    if len(pnls) == 0:
        pnls = np.random.default_rng(0).normal(20.0, 500.0, MONTE_CARLO_TRADES)
    pnls = np.resize(pnls, MONTE_CARLO_TRADES)
    figures: dict[str, float] = {}
    methods: tuple[MonteCarloMethod, ...] = ("shuffle", "bootstrap", "drop")
    for method in methods:
        params = MonteCarloParams(method=method, runs=resamples, seed=1)
        times = []
        for _ in range(repeat):
            with timed() as one:
                simulate(pnls, 100_000.0, 1.0, params)
            times.append(one.seconds)
        figures[method] = statistics.median(times)
    return figures


def main() -> None:
    """Generate, backtest, measure the baseline and the Monte Carlo, print the JSON last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--bars", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=250, help="backtest range (last N)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (median reported)")
    parser.add_argument("--baseline-symbols", type=int, default=4)
    parser.add_argument("--baseline-days", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20_240_101)
    args = parser.parse_args()

    strategies = load_folder(args.strategies)
    with timed() as generation:
        market = generate_market(args.symbols, args.bars, seed=args.seed, alerts_per_symbol=0.0)
        alerts = alerts_through(market, args.sessions, 0.3, seed=args.seed)
    sessions = next(iter(market.bars.values())).day
    data = MarketData(bars=market.bars, sessions=sessions, alerts=alerts)
    start = sessions[-args.sessions].astype(object)
    params = BacktestParams(start=start)
    count = sum(len(a) for a in alerts.values())
    say(
        f"data: {args.symbols} symbols × {args.bars} bars, {count:,} flow alerts over the last "
        f"{args.sessions} sessions, generated in {generation.seconds:.2f} s; backtest from {start}"
    )
    say(f"strategies ({len(strategies)}): {', '.join(s.key for s in strategies)}")

    totals: list[float] = []
    per_strategy: dict[str, list[float]] = {s.key: [] for s in strategies}
    results: dict[str, BacktestResult] = {}
    for _ in range(args.repeat):
        # Fresh data each time: the alerts' columns (built once per MarketData) count every run.
        data = MarketData(bars=market.bars, sessions=sessions, alerts=alerts)
        with timed() as everything:
            for strategy in strategies:
                with timed() as one:
                    results[strategy.key] = run(strategy, data, params)
                per_strategy[strategy.key].append(one.seconds)
        totals.append(everything.seconds)
    peak = peak_rss_mib()
    for strategy in strategies:
        result = results[strategy.key]
        m = result.metrics
        say(
            f"  {strategy.key:<22} {statistics.median(per_strategy[strategy.key]) * 1000:7.1f} ms"
            f"  trades {m.trades:4d}  open {m.open_positions:2d}  return {m.total_return:+7.2%}"
            f"  max drawdown {m.max_drawdown:6.2%}  sharpe {m.sharpe or 0:5.2f}"
        )
    median = statistics.median(totals)
    symbol_days = len(strategies) * args.symbols * args.sessions
    ours = median / symbol_days
    baseline = per_symbol_day_baseline(
        strategies, market, data, args.baseline_symbols, args.baseline_days
    )
    ratio = baseline / ours
    say(
        f"backtest, all strategies × all symbols × {args.sessions} sessions: median {median:.3f} s "
        f"over {args.repeat} runs ({', '.join(f'{t:.3f}' for t in totals)}); goal ≤ "
        f"{GOAL_SECONDS:g} s: {'met' if median <= GOAL_SECONDS else 'NOT met'}; peak RSS "
        f"{peak:.0f} MiB (goal ≤ {GOAL_RSS_MIB:.0f}: "
        f"{'met' if peak <= GOAL_RSS_MIB else 'NOT met'})"
    )
    say(
        f"per symbol-day: engine {ours * 1e6:.3f} µs; scanner called per symbol-day (baseline, "
        f"median of {len(strategies) * args.baseline_symbols * args.baseline_days} calls) "
        f"{baseline * 1e3:.3f} ms → {ratio:,.0f}× cheaper"
    )
    mc = monte_carlo_seconds(list(results.values()), args.resamples, args.repeat)
    worst = max(mc.values())
    say(
        f"Monte Carlo {args.resamples:,} × {MONTE_CARLO_TRADES} trades: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in mc.items())
        + f"; goal ≤ {GOAL_MONTE_CARLO_SECONDS:g} s: "
        + ("met" if worst <= GOAL_MONTE_CARLO_SECONDS else "NOT met")
    )
    print_json_last(
        {
            "strategies": len(strategies),
            "symbols": args.symbols,
            "bars": args.bars,
            "sessions": args.sessions,
            "backtest_seconds_median": round(median, 4),
            "per_strategy_seconds_median": {
                k: round(statistics.median(v), 4) for k, v in per_strategy.items()
            },
            "trades": {k: r.metrics.trades for k, r in results.items()},
            "engine_per_symbol_day_us": round(ours * 1e6, 4),
            "baseline_scanner_per_symbol_day_ms": round(baseline * 1e3, 4),
            "ratio_vs_baseline": round(ratio, 1),
            "peak_rss_mib": round(peak, 1),
            "monte_carlo_seconds_median": {k: round(v, 4) for k, v in mc.items()},
            "goal_met": median <= GOAL_SECONDS
            and peak <= GOAL_RSS_MIB
            and worst <= GOAL_MONTE_CARLO_SECONDS,
        }
    )


if __name__ == "__main__":
    main()
