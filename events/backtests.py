"""Backtest events: one strategy's backtest over the journal's market data, recorded so it repeats.

Stream: ``backtests:{guild_id or 'global'}``. A ``backtest_completed`` names the strategy at an
exact version (its key and the SHA-256 of its YAML text), the journal position of the market data
it read (bars, flow alerts and earnings dates appended at or before it), the parameters and the
summary figures, plus the SHA-256 of the full result document: running the same inputs at the same
position again gives the same bytes, which that hash lets anyone check.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

from events.base import Event

BacktestKind = Literal["run", "walk_forward", "monte_carlo", "compare"]


class BacktestParameters(msgspec.Struct, frozen=True, kw_only=True):
    """What a backtest was asked for, besides the strategy and the data."""

    symbols: list[str]
    start: date
    """The first session of the range (inclusive)."""
    end: date
    """The last session of the range (inclusive)."""
    capital: float
    commission: float = 0.0
    """Per trade side, in the account's currency."""
    slippage_bps: float = 0.0
    options: dict[str, str] = {}
    """The kind's own settings as text (walk-forward window sizes, resamples and seed, …)."""


class BacktestCompleted(Event, frozen=True, kw_only=True, tag="backtest_completed"):
    """One strategy's backtest: what it read, what it was asked, and how it did."""

    run_id: str
    """Shared by the strategies of one ``compare``; the command's own id otherwise."""
    kind: BacktestKind = "run"
    guild_id: int | None = None
    strategy_key: str
    strategy_name: str = ""
    strategy_version: str = ""
    """The version label in the strategy's file (``strategy.version``)."""
    strategy_hash: str
    """SHA-256 of the strategy's YAML text: the exact version that ran."""
    data_position: int
    """The journal position of the market data read (rows appended at or before it)."""
    parameters: BacktestParameters
    metrics: dict[str, float | None] = {}
    """The summary figures (``cagr``, ``sharpe``, ``max_drawdown``, ``trades``, …); ``None``
    where a figure is undefined (no losing trade for the profit factor)."""
    final_equity: float | None = None
    result_hash: str = ""
    """SHA-256 of the result document (trades, open positions, equity, metrics) as JSON."""


def backtests_stream(guild_id: int | None) -> str:
    """The stream of a guild's backtests (``global`` for the command line)."""
    return f"backtests:{guild_id if guild_id is not None else 'global'}"
