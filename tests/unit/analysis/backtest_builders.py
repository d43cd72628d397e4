"""Builders for backtest tests: bars from OHLC rows, market data on sessions, simple strategies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np

from analysis.backtest import KnownEarnings, MarketData
from analysis.series import SymbolBars
from analysis.strategy import Strategy
from events.market import FlowAlert
from tests.unit.analysis.builders import FIRST_DAY, strategy

Row = tuple[float, float, float, float]
"""open, high, low, close."""


def business_days(count: int, first: date = FIRST_DAY) -> list[date]:
    """``count`` consecutive business days from ``first``."""
    days = np.busday_offset(np.datetime64(first, "D"), np.arange(count), roll="forward")
    return [d.astype(object) for d in days]


def ohlc(
    rows: Sequence[Row], days: Sequence[date] | None = None, volume: float = 1e6
) -> SymbolBars:
    """Bars with exactly these prices, on ``days`` (default: business days from FIRST_DAY)."""
    on = list(days) if days is not None else business_days(len(rows))
    o, h, lo, c = (list(col) for col in zip(*rows, strict=True))
    return SymbolBars.from_arrays(on, o, h, lo, c, [volume] * len(rows))


def market(
    bars: Mapping[str, SymbolBars],
    sessions: Sequence[date] | None = None,
    *,
    alerts: Mapping[str, Sequence[FlowAlert]] | None = None,
    earnings: Mapping[str, Sequence[KnownEarnings]] | None = None,
) -> MarketData:
    """Market data whose sessions are every day any symbol has a bar (unless given)."""
    if sessions is None:
        days = np.unique(np.concatenate([b.day for b in bars.values()]))
        sessions = [d.astype(object) for d in days]
    return MarketData(bars=bars, sessions=sessions, alerts=alerts or {}, earnings=earnings or {})


def close_above(level: float, *, exit_: str = "", extra: str = "") -> Strategy:
    """Enter when the close is above ``level`` (a price-only rule, ready on the first bar)."""
    conditions = (
        f"    - type: price_action\n      indicator: close\n      operator: gt\n"
        f"      value: {level}\n" + extra
    )
    return strategy(conditions, exit_=exit_)


def close_below(level: float, *, exit_: str = "") -> Strategy:
    """Enter when the close is below ``level``."""
    conditions = (
        f"    - type: price_action\n      indicator: close\n      operator: lt\n"
        f"      value: {level}\n"
    )
    return strategy(conditions, exit_=exit_)


def exits(
    stop: float | None = None,
    target: float | None = None,
    trail: float | None = None,
    bars: int | None = None,
) -> str:
    """An ``exit:`` section body with percentage levels."""
    text = ""
    if target is not None:
        text += f"  take_profit:\n    type: percentage\n    value: {target}\n"
    if stop is not None:
        text += f"  stop_loss:\n    type: percentage\n    value: {stop}\n"
    if trail is not None:
        text += f"  trailing_stop:\n    type: trailing_stop\n    value: {trail}\n"
    if bars is not None:
        text += f"  time_exit_bars: {bars}\n"
    return text
