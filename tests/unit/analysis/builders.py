"""Small builders for analysis tests: bars from closes, flow alerts, strategies from YAML pieces."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from analysis.series import SymbolBars
from analysis.strategy import Strategy, parse_strategy
from events.market import FlowAlert, FlowDirection

FIRST_DAY = date(2026, 1, 5)
NEW_YORK = ZoneInfo("America/New_York")


def bars(
    closes: Sequence[float] | NDArray[np.float64],
    *,
    volume: float | Sequence[float] = 1_000_000.0,
    spread: float = 0.01,
    first_day: date = FIRST_DAY,
) -> SymbolBars:
    """Daily bars on consecutive business days with the given closes (open = previous close)."""
    close = np.asarray(closes, dtype=float)
    opens = np.concatenate([close[:1], close[:-1]])
    days = np.busday_offset(np.datetime64(first_day, "D"), np.arange(len(close)), roll="forward")
    volumes = np.broadcast_to(np.asarray(volume, dtype=float), close.shape).copy()
    return SymbolBars(
        day=days,
        open=opens,
        high=np.maximum(opens, close) * (1 + spread),
        low=np.minimum(opens, close) * (1 - spread),
        close=close,
        volume=volumes,
    )


def close_of(symbol_bars: SymbolBars) -> datetime:
    """16:00 New York on the symbol's last bar day, as an aware UTC datetime."""
    last = symbol_bars.day[-1].astype("datetime64[D]").item()
    return datetime.combine(last, time(16, 0), NEW_YORK).astimezone(UTC)


def alert(
    ticker: str,
    created_at: datetime,
    *,
    direction: FlowDirection = "bullish",
    premium: float = 200_000.0,
    volume: int = 1_000,
    chain: str | None = None,
) -> FlowAlert:
    """A flow alert with the fields a flow condition reads."""
    return FlowAlert(
        option_chain=chain or f"{ticker}261218C00100000",
        ticker=ticker,
        created_at=created_at,
        option_type="call",
        strike=100.0,
        expiry=date(2026, 12, 18),
        total_premium=premium,
        ask_side_premium=premium,
        bid_side_premium=0.0,
        volume=volume,
        open_interest=10,
        underlying_price=100.0,
        direction=direction,
    )


def strategy(
    conditions: str,
    *,
    indicators: str = "",
    exit_: str = "",
    logic: str = "all",
    risk: str = "risk:\n  profile: moderate\n  min_risk_reward: 0\n",
    filters: str = "",
) -> Strategy:
    """A strategy from YAML fragments (each already indented for its section)."""
    text = (
        'strategy:\n  name: "test"\n'
        + (f"indicators:\n{indicators}" if indicators else "")
        + f"entry:\n  logic: {logic}\n  conditions:\n{conditions}"
        + (f"exit:\n{exit_}" if exit_ else "")
        + risk
        + filters
    )
    return parse_strategy(text.encode(), "test.yaml")


def minutes(value: float) -> timedelta:
    """A timedelta of ``value`` minutes."""
    return timedelta(minutes=value)
