"""Analysis events: the signals a strategy scan produced, with their evidence.

Stream: ``signals:{guild_id or 'global'}``. A signal records the strategy's name and a hash of its
file, so any pick can be reproduced from the journal alone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec

from events.base import Event


class ConditionResult(msgspec.Struct, frozen=True, kw_only=True):
    """One entry condition as evaluated: what it asked, the values seen, and whether it passed."""

    description: str
    passed: bool
    detail: str = ""
    values: dict[str, float] = {}


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """One pick: entry, exit levels, size and the evidence behind it."""

    symbol: str
    direction: Literal["long", "short"] = "long"
    as_of: date
    entry: float
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop_pct: float | None = None
    time_exit_bars: int | None = None
    position_size: float | None = None
    risk_reward: float | None = None
    score: float = 0.0
    indicators: dict[str, float] = {}
    conditions: list[ConditionResult] = []
    flow_alerts: list[str] = []
    notes: list[str] = []


class SkippedSymbol(msgspec.Struct, frozen=True, kw_only=True):
    """A symbol the scan did not evaluate, and why (too little history, earnings soon, …)."""

    symbol: str
    reason: str


class SignalsGenerated(Event, frozen=True, kw_only=True, tag="signals_generated"):
    """A scan of one strategy over a universe of symbols."""

    scan_id: str
    strategy_name: str
    strategy_hash: str
    evaluated_at: datetime
    universe: list[str]
    signals: list[Signal]
    skipped: list[SkippedSymbol] = msgspec.field(default_factory=list)
    guild_id: int | None = None
    strategy_version: str = ""
    account_equity: float | None = None
