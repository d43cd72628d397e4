"""Invariants of a backtest over generated markets (Hypothesis): no look-ahead (bars, and the
earnings calendar), runs that end earlier are prefixes, the books balance, symbol order is
irrelevant, and a Monte Carlo with the one original trade order reproduces the run."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.backtest import (
    BacktestParams,
    BacktestResult,
    KnownEarnings,
    MarketData,
    MonteCarloParams,
    OpenPosition,
    Trade,
    monte_carlo,
    run,
)
from analysis.backtest_signals import build_grid
from analysis.series import SymbolBars
from analysis.strategy import Strategy
from tests.support.synthetic import SyntheticMarket, generate_market
from tests.unit.analysis.builders import NEW_YORK, strategy

EMA_CROSS = strategy(
    "    - type: indicator_threshold\n      indicator: fast\n      operator: cross_above\n"
    "      value: slow\n",
    indicators="  - name: fast\n    type: EMA\n    params:\n      period: 3\n"
    "  - name: slow\n    type: EMA\n    params:\n      period: 8\n",
    exit_="  take_profit:\n    type: percentage\n    value: 4\n"
    "  stop_loss:\n    type: percentage\n    value: 2\n"
    "  trailing_stop:\n    type: trailing_stop\n    value: 3\n  time_exit_bars: 6\n",
)
RSI_ATR = strategy(
    "    - type: indicator_threshold\n      indicator: rsi\n      operator: lt\n      value: 55\n"
    "    - type: flow_signal\n      recency_minutes: 2000\n",
    logic="any",
    indicators="  - name: rsi\n    type: RSI\n    params:\n      period: 5\n"
    "  - name: atr\n    type: ATR\n    params:\n      period: 5\n",
    exit_="  take_profit:\n    type: atr_multiple\n    multiplier: 2\n"
    "  stop_loss:\n    type: atr_multiple\n    multiplier: 1\n",
)
markets = st.builds(
    generate_market,
    symbols=st.integers(1, 6),
    bars=st.integers(12, 70),
    seed=st.integers(0, 2**32 - 1),
    alerts_per_symbol=st.sampled_from([0.0, 30.0]),
)
params = st.builds(
    BacktestParams,
    commission=st.sampled_from([0.0, 1.5]),
    slippage_bps=st.sampled_from([0.0, 5.0]),
    max_positions=st.sampled_from([None, 1, 2]),
    direction=st.sampled_from(["long", "short"]),
)
rules = st.sampled_from([EMA_CROSS, RSI_ATR])


def _data(market: SyntheticMarket, bars: dict[str, SymbolBars] | None = None) -> MarketData:
    chosen = bars if bars is not None else market.bars
    days = np.unique(np.concatenate([b.day for b in chosen.values()]))
    return MarketData(bars=chosen, sessions=days, alerts=market.alerts)


def _sessions(market: SyntheticMarket) -> list[date]:
    return [d.astype(object) for d in next(iter(market.bars.values())).day]


def _entries(result: BacktestResult, before: date) -> list[tuple[object, ...]]:
    """Every entry decided before ``before``: what was bought, when, at what price and size."""
    items: list[Trade | OpenPosition] = [*result.trades, *result.open_positions]
    return sorted(
        (i.symbol, i.signal_date, i.entry_date, i.entry_price, i.shares, i.stop_loss)
        for i in items
        if i.signal_date < before
    )


@settings(deadline=None)
@given(markets, rules, params, st.data())
def test_changing_bars_after_t_changes_nothing_decided_before_t(
    market: SyntheticMarket, rule: Strategy, chosen: BacktestParams, data: st.DataObject
) -> None:
    """Invariant (no look-ahead): rewriting every bar after session T (prices scaled bar by bar,
    volumes too) leaves every decision made at a close up to T (signal, strength, levels), every
    entry filled by T, every trade closed by T and the equity curve up to T unchanged."""
    days = _sessions(market)
    cut = data.draw(st.integers(1, len(days) - 1), label="T index")
    factors = np.random.default_rng(cut).uniform(0.7, 1.3, len(days))
    factors[: cut + 1] = 1.0
    changed = {
        symbol: SymbolBars(
            day=b.day,
            open=b.open * factors[-len(b) :],
            high=b.high * factors[-len(b) :],
            low=b.low * factors[-len(b) :],
            close=b.close * factors[-len(b) :],
            volume=b.volume * factors[-len(b) :],
        )
        for symbol, b in market.bars.items()
    }
    before = run(rule, _data(market), chosen)
    after = run(rule, _data(market, changed), chosen)
    t = days[cut]
    grids = [
        build_grid(
            rule,
            _data(market, bars),
            direction=chosen.direction,
            decision_time=chosen.decision_time,
            skip_earnings_within=None,
        )
        for bars in (market.bars, changed)
    ]
    for name in ("signal", "strength", "stop", "target", "trail_pct"):
        decided = [getattr(grid, name)[:, : cut + 1] for grid in grids]
        np.testing.assert_array_equal(decided[0], decided[1], err_msg=name)
    assert _entries(before, t) == _entries(after, t)
    assert [x for x in before.trades if x.exit_date <= t] == [
        x for x in after.trades if x.exit_date <= t
    ]
    assert [p for p in before.equity if p.date <= t] == [p for p in after.equity if p.date <= t]


@settings(deadline=None)
@given(markets, rules, params, st.data())
def test_a_run_ending_earlier_is_a_prefix_of_a_longer_one(
    market: SyntheticMarket, rule: Strategy, chosen: BacktestParams, data: st.DataObject
) -> None:
    """Invariant: the run ending at T1 has exactly the trades of the run ending at T2 > T1 that
    closed by T1, and its equity curve is the longer curve's prefix."""
    days = _sessions(market)
    t1 = days[data.draw(st.integers(0, len(days) - 1), label="T1 index")]
    chosen = replace(chosen, start=days[0])
    short = run(rule, _data(market), replace(chosen, end=t1))
    full = run(rule, _data(market), chosen)
    assert short.trades == [t for t in full.trades if t.exit_date <= t1]
    assert short.equity == full.equity[: len(short.equity)]


@settings(deadline=None)
@given(markets, rules, params)
def test_trades_and_marked_positions_make_up_the_change_in_equity(
    market: SyntheticMarket, rule: Strategy, chosen: BacktestParams
) -> None:
    """Invariant: Σ trades' P&L + Σ open positions' unrealised P&L == final − initial equity
    (commission and slippage included), and so does the last equity point."""
    result = run(rule, _data(market), chosen)
    booked = sum(t.pnl for t in result.trades) + sum(
        p.unrealised_pnl for p in result.open_positions
    )
    change = result.equity[-1].value - chosen.capital
    assert abs(booked - change) <= 1e-6 * chosen.capital


@settings(deadline=None)
@given(markets, rules, params, st.randoms(use_true_random=False))
def test_symbol_order_is_irrelevant(
    market: SyntheticMarket, rule: Strategy, chosen: BacktestParams, rng: random.Random
) -> None:
    """Invariant: the same symbols given in another order (bars and alerts) give the identical
    result, max positions included."""
    names = list(market.bars)
    rng.shuffle(names)
    shuffled = MarketData(
        bars={s: market.bars[s] for s in names},
        sessions=_data(market).sessions,
        alerts={s: list(reversed(market.alerts[s])) for s in reversed(names)},
    )
    assert run(rule, _data(market), chosen) == run(rule, shuffled, chosen)


@settings(deadline=None)
@given(markets, rules, params)
def test_monte_carlo_with_the_one_original_order_reproduces_the_run(
    market: SyntheticMarket, rule: Strategy, chosen: BacktestParams
) -> None:
    """Invariant: resampling that keeps the run's own trade order (drop nothing) ends every
    resample at the run's final equity less the open positions' unrealised P&L."""
    result = run(rule, _data(market), chosen)
    if not result.trades:
        return
    figures = monte_carlo(result, MonteCarloParams(method="drop", drop_fraction=0.0, runs=20))
    unrealised = sum(p.unrealised_pnl for p in result.open_positions)
    expected = result.metrics.final_equity - unrealised
    tolerance = 1e-9 * chosen.capital
    assert abs(figures.final_equity.p5 - expected) <= tolerance
    assert abs(figures.final_equity.p95 - expected) <= tolerance


def _close(day: date) -> datetime:
    return datetime.combine(day, time(16), NEW_YORK)


@settings(deadline=None)
@given(markets, rules, params, st.data())
def test_earnings_learned_after_t_change_nothing_decided_by_t(
    market: SyntheticMarket, rule: Strategy, chosen: BacktestParams, data: st.DataObject
) -> None:
    """Invariant (no look-ahead on the earnings calendar): with entries skipped within N days of
    earnings, adding earnings dates that the journal learned after session T's close, and that
    fall more than the lead after T, changes no decision at a close up to T, no entry decided
    before T, no trade closed by T and no equity point up to T. The dates already there (learned
    at random times before or after T, some without a record) stay as they are."""
    days = _sessions(market)
    cut = data.draw(st.integers(0, len(days) - 1), label="T index")
    t = days[cut]
    within = data.draw(st.integers(0, 10), label="skip within")
    lead = data.draw(st.integers(0, 15), label="lead")
    chosen = replace(chosen, skip_earnings_within=within, earnings_lead_days=lead)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    known: dict[str, list[KnownEarnings]] = {}
    later: dict[str, list[KnownEarnings]] = {}
    for symbol in sorted(market.bars):
        known[symbol] = [
            KnownEarnings(
                day=days[int(rng.integers(len(days)))] + timedelta(days=int(rng.integers(0, 4))),
                learned_at=None
                if rng.random() < 0.2
                else _close(days[int(rng.integers(len(days)))])
                + timedelta(minutes=int(rng.integers(-600, 600))),
            )
            for _ in range(int(rng.integers(0, 4)))
        ]
        later[symbol] = [
            KnownEarnings(
                day=t + timedelta(days=lead + 1 + int(rng.integers(0, 20))),
                learned_at=_close(t) + timedelta(minutes=1 + int(rng.integers(0, 50_000))),
            )
            for _ in range(int(rng.integers(1, 4)))
        ]
    plain = _data(market)
    before = replace(plain, earnings=known)
    after = replace(plain, earnings={s: known[s] + later[s] for s in known})
    grids = [
        build_grid(
            rule,
            market_data,
            direction=chosen.direction,
            decision_time=chosen.decision_time,
            skip_earnings_within=within,
            earnings_lead_days=lead,
        )
        for market_data in (before, after)
    ]
    np.testing.assert_array_equal(grids[0].signal[:, : cut + 1], grids[1].signal[:, : cut + 1])
    first, second = run(rule, before, chosen), run(rule, after, chosen)
    assert _entries(first, t) == _entries(second, t)
    assert [x for x in first.trades if x.exit_date <= t] == [
        x for x in second.trades if x.exit_date <= t
    ]
    assert [p for p in first.equity if p.date <= t] == [p for p in second.equity if p.date <= t]
