"""Invariants of a scan: symbol order and other symbols do not matter, re-runs agree."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.scan import ScanResult, scan, signals_event
from analysis.strategy import Strategy, list_strategies
from tests.support.synthetic import SyntheticMarket, generate_market

STRATEGIES = list_strategies()
markets = st.builds(
    generate_market,
    symbols=st.integers(1, 40),
    bars=st.integers(2, 130),
    seed=st.integers(0, 2**32 - 1),
    alerts_per_symbol=st.sampled_from([0.0, 5.0, 40.0]),
    short_history_every=st.integers(0, 5),
    short_history_bars=st.integers(1, 40),
)
chosen = st.sampled_from(STRATEGIES)


def _scan(strategy: Strategy, market: SyntheticMarket, order: list[str]) -> ScanResult:
    bars = {s: market.bars[s] for s in order}
    alerts = {s: list(reversed(market.alerts[s])) for s in reversed(order)}
    return scan(strategy, bars, alerts, evaluated_at=market.evaluated_at, universe=order)


@settings(max_examples=40, deadline=None)
@given(markets, chosen, st.randoms(use_true_random=False))
def test_result_does_not_depend_on_symbol_order(
    market: SyntheticMarket, strategy: Strategy, rng: random.Random
) -> None:
    """Invariant: shuffling the symbols (and each symbol's alerts) gives the identical result."""
    names = sorted(market.bars)
    shuffled = names[:]
    rng.shuffle(shuffled)
    assert _scan(strategy, market, names) == _scan(strategy, market, shuffled)


@settings(max_examples=40, deadline=None)
@given(markets, chosen, st.data())
def test_a_symbol_s_outcome_does_not_depend_on_the_other_symbols(
    market: SyntheticMarket, strategy: Strategy, data: st.DataObject
) -> None:
    """Invariant: scanning a subset gives exactly the signals and skips of those symbols."""
    names = sorted(market.bars)
    subset = sorted(data.draw(st.sets(st.sampled_from(names), min_size=1)))
    whole = _scan(strategy, market, names)
    part = _scan(strategy, market, subset)
    assert part.signals == tuple(s for s in whole.signals if s.symbol in subset)
    assert part.skipped == tuple(s for s in whole.skipped if s.symbol in subset)


@settings(max_examples=25, deadline=None)
@given(markets, chosen)
def test_rerunning_gives_identical_signals(market: SyntheticMarket, strategy: Strategy) -> None:
    """Invariant: the same inputs scanned twice give byte-identical signals_generated events."""
    names = sorted(market.bars)
    first = signals_event(_scan(strategy, market, names), strategy, "scan")
    second = signals_event(_scan(strategy, market, names), strategy, "scan")
    assert msgspec.json.encode(first) == msgspec.json.encode(second)
