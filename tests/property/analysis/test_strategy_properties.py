"""Invariant of the strategy loader: any input loads (and then runs) or is a StrategyError."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.errors import StrategyError
from analysis.scan import scan
from analysis.strategy import Strategy, parse_strategy
from tests.support.synthetic import generate_market

VALID: dict[str, Any] = {
    "strategy": {"name": "p", "version": "1", "tags": ["a"]},
    "indicators": [
        {"name": "rsi_14", "type": "RSI", "params": {"period": 14}},
        {"name": "m", "type": "MACD", "params": {}},
        {"name": "atr", "type": "ATR", "params": {"period": 5}},
        {"name": "bb", "type": "BOLLINGER", "params": {"period": 10, "std_dev": 2.0}},
    ],
    "entry": {
        "conditions": [
            {"type": "indicator_threshold", "indicator": "rsi_14", "operator": "lt", "value": 30},
            {"type": "price_action", "indicator": "close", "operator": "gt", "value": "m.signal"},
            {
                "type": "flow_signal",
                "direction": "bullish",
                "min_premium": 1000,
                "min_volume": 10,
                "recency_minutes": 600,
                "min_alerts": 1,
            },
        ],
        "logic": "any",
    },
    "exit": {
        "take_profit": {"type": "percentage", "value": 5},
        "stop_loss": {"type": "atr_multiple", "multiplier": 2, "atr": "atr"},
        "trailing_stop": {"type": "percentage", "value": 3},
        "time_exit_bars": 3,
    },
    "risk": {
        "profile": "moderate",
        "risk_per_trade": 1,
        "min_risk_reward": 0.5,
        "max_positions": 3,
    },
    "filters": {"min_price": 1, "max_price": 5000, "min_volume": 10, "volume_lookback": 5},
}

# Weighted to numbers, the values whose edges (NaN, infinities, huge, negative) break things.
special_numbers = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0, -1, 0.5, 10**9])
scalars = st.one_of(
    special_numbers,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.one_of(st.none(), st.booleans(), st.text(max_size=12)),
    st.sampled_from(["RSI", "MACD", "lt", "cross_above", "m.signal", "close", "atr", "any"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside the valid document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


def _load(data: bytes, source: str) -> Strategy | StrategyError:
    """The loaded strategy, or the StrategyError it raised (any other exception propagates)."""
    try:
        return parse_strategy(data, source)
    except StrategyError as exc:
        return exc


PATHS = _paths(VALID)
MARKET = generate_market(12, 60, seed=3, alerts_per_symbol=10, short_history_every=4)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: ".".join(map(str, p)))
@settings(max_examples=12, deadline=None)
@given(value=values)
def test_a_mutated_file_loads_or_raises_strategy_error(path: tuple[Any, ...], value: Any) -> None:
    """Invariant: replacing any one value of a valid file by anything either still loads, and
    then scans without error, or raises StrategyError naming the file (never another exception)."""
    document = copy.deepcopy(VALID)
    node = document
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    outcome = _load(yaml.dump(document, Dumper=yaml.CSafeDumper).encode(), "mutant.yaml")
    if isinstance(outcome, StrategyError):
        assert str(outcome).startswith("mutant.yaml: ")
        assert outcome.problems
        return
    # What loads also runs.
    scan(outcome, MARKET.bars, MARKET.alerts, evaluated_at=MARKET.evaluated_at)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_load_or_raise_strategy_error(data: bytes) -> None:
    """Invariant: arbitrary bytes never crash the loader with anything but StrategyError."""
    outcome = _load(data, "noise.yaml")
    if isinstance(outcome, StrategyError):
        assert str(outcome).startswith("noise.yaml: ")
