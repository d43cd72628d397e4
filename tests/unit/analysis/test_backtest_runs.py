"""Whole backtests on generated markets: the old tool's strategy files, agreement with the scanner,
bad input, walk-forward and compare (analysis/backtest.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import msgspec
import numpy as np
import pytest

from analysis.backtest import (
    BacktestError,
    BacktestParams,
    MarketData,
    bars_needed,
    compare,
    run,
    walk_forward,
)
from analysis.backtest_signals import build_grid
from analysis.scan import scan
from analysis.strategy import load_strategy_file
from tests.support.synthetic import generate_market
from tests.unit.analysis.backtest_builders import close_above, exits, market, ohlc
from tests.unit.analysis.builders import NEW_YORK, bars, strategy

COMPAT = sorted(Path(__file__).parents[2].joinpath("fixtures", "compat_strategies").glob("*.yaml"))
MARKET = generate_market(40, 320, seed=7, alerts_per_symbol=30.0)
SESSIONS = [d.astype(object) for d in next(iter(MARKET.bars.values())).day]
DATA = MarketData(bars=MARKET.bars, sessions=SESSIONS, alerts=MARKET.alerts)
START = SESSIONS[-120]


def _day(value: np.datetime64) -> date:
    day = value.astype(object)
    assert isinstance(day, date)
    return day


@pytest.mark.parametrize("path", COMPAT, ids=[p.stem for p in COMPAT])
def test_every_old_tool_file_backtests_and_balances(path: Path) -> None:
    """Each of the old tool's six strategy files runs on 40 symbols without error, one equity
    point per session of the range, and its trades' P&L plus the open positions' unrealised P&L
    is the change in equity."""
    result = run(load_strategy_file(path), DATA, BacktestParams(start=START))
    assert len(result.equity) == 120
    change = result.metrics.final_equity - result.metrics.initial_equity
    booked = sum(t.pnl for t in result.trades) + sum(
        p.unrealised_pnl for p in result.open_positions
    )
    assert booked == pytest.approx(change, abs=1e-6)
    assert msgspec.json.decode(msgspec.json.encode(result))["strategy_name"] == result.strategy_name


@pytest.mark.parametrize("path", COMPAT, ids=[p.stem for p in COMPAT])
def test_the_signal_grid_agrees_with_the_scanner_on_every_day(path: Path) -> None:
    """The backtest decides every bar at once; on each of the last 30 sessions its signals are
    exactly the symbols the scanner picks when run at that day's close with bars up to it."""
    chosen = load_strategy_file(path)
    grid = build_grid(
        chosen, DATA, direction="long", decision_time=time(16), skip_earnings_within=None
    )
    for col in range(len(SESSIONS) - 30, len(SESSIONS)):
        day = SESSIONS[col]
        moment = datetime.combine(day, time(16), NEW_YORK).astimezone(UTC)
        scanned = scan(chosen, MARKET.bars, MARKET.alerts, evaluated_at=moment)
        expected = sorted(s.symbol for s in scanned.signals)
        found = [grid.symbols[r] for r in np.flatnonzero(grid.signal[:, col])]
        assert found == expected, day


def test_bars_needed_names_the_longest_warm_up() -> None:
    """Golden cross needs 201 bars: SMA(200) plus the previous bar its cross reads."""
    golden = next(p for p in COMPAT if p.stem == "golden_cross")
    assert bars_needed(load_strategy_file(golden)) == 201


def test_too_little_history_says_how_many_bars_are_needed() -> None:
    """Ten bars for a strategy on SMA(50): refused, naming the 50 bars it needs."""
    sma = strategy(
        "    - type: indicator_threshold\n      indicator: sma\n"
        "      operator: gt\n      value: 1\n",
        indicators="  - name: sma\n    type: SMA\n    params:\n      period: 50\n",
    )
    with pytest.raises(BacktestError, match="needs 50 bars of history per symbol"):
        run(sma, market({"AAA": bars([100.0] * 10)}))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (BacktestParams(capital=0), "capital must be more than 0"),
        (BacktestParams(slippage_bps=-1), "slippage must be 0 to 9999 bps"),
        (BacktestParams(max_positions=0), "max positions must be at least 1"),
        (BacktestParams(start=date(2030, 1, 1)), "no bars between 2030-01-01 and the last bar"),
        (BacktestParams(start=date(2026, 1, 6), end=date(2026, 1, 5)), "is after end"),
    ],
)
def test_bad_input_is_refused_with_what_would_be_valid(
    params: BacktestParams, message: str
) -> None:
    """Capital ≤ 0, negative slippage, no slot, a range after the data, an inverted range: each
    raises ``BacktestError`` with its reason."""
    with pytest.raises(BacktestError, match=message):
        run(close_above(100), market({"AAA": bars([100.0] * 5)}), params)


def test_a_range_without_bars_is_refused_and_says_where_the_bars_are() -> None:
    """Sessions exist in the range but the symbol has no bar there: the error gives the span."""
    sessions = [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 7), date(2026, 1, 8)]
    data = market({"AAA": ohlc([(1, 1, 1, 1), (1, 1, 1, 1)])}, sessions)
    with pytest.raises(BacktestError, match="no bars between 2026-01-07 and 2026-01-08"):
        run(close_above(100), data, BacktestParams(start=date(2026, 1, 7), end=date(2026, 1, 8)))


def test_walk_forward_windows_roll_by_the_out_of_sample_length_and_chain() -> None:
    """120 sessions in windows of 40 + 20: four windows, the next starting 20 sessions later; the
    chained out-of-sample run covers the four out-of-sample parts (80 sessions) and still
    balances: its trades and marked positions make up its change in equity."""
    triple = load_strategy_file(next(p for p in COMPAT if p.stem == "triple_ema_trend"))
    result = walk_forward(
        triple,
        DATA,
        BacktestParams(start=START),
        in_sample_sessions=40,
        out_of_sample_sessions=20,
    )
    assert len(result.windows) == 4
    starts = [w.in_sample_start for w in result.windows]
    assert starts == [SESSIONS[-120 + 20 * k] for k in range(4)]
    assert result.windows[0].out_of_sample_start == SESSIONS[-80]
    chained = result.out_of_sample
    assert len(chained.equity) == 80
    change = chained.metrics.final_equity - chained.capital
    booked = sum(t.pnl for t in chained.trades) + sum(
        p.unrealised_pnl for p in chained.open_positions
    )
    assert booked == pytest.approx(change, abs=1e-6)


def test_walk_forward_refuses_a_range_shorter_than_one_window() -> None:
    """A window of 100 + 50 sessions does not fit in 120: refused with the sizes."""
    with pytest.raises(BacktestError, match="120 sessions, too few for one window"):
        walk_forward(
            close_above(1),
            DATA,
            BacktestParams(start=START),
            in_sample_sessions=100,
            out_of_sample_sessions=50,
        )


def test_compare_runs_each_strategy_on_the_same_data() -> None:
    """Two strategies side by side, in the order given, each as its own run would be."""
    loose = close_above(1, exit_=exits(stop=5, target=10))
    strict = close_above(200, exit_=exits(stop=5, target=10))
    calls: list[tuple[int, int]] = []
    result = compare(
        [loose, strict],
        DATA,
        BacktestParams(start=START),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert [r.metrics for r in result.results] == [
        run(s, DATA, BacktestParams(start=START)).metrics for s in (loose, strict)
    ]
    assert calls == [(1, 2), (2, 2)]


def test_progress_reaches_the_end_of_the_range() -> None:
    """The progress callback is told the sessions walked, ending at the total."""
    seen: list[tuple[int, int]] = []
    run(
        close_above(1), DATA, BacktestParams(start=START), progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (120, 120)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
