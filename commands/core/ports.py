"""The ports handlers and the command service depend on: clock, market-data fetching, analysis,
and the read model over the analytics projections.

Front ends wire real implementations (``commands.core.adapters``); tests pass fakes. A handler only
ever sees data: fetch results and scans are gathered by the service before the handler runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Literal, Protocol

import msgspec

from commands.core.errors import CommandError
from events.analysis import SignalsGenerated
from events.base import NewEvent

# The one clock (events.clock), re-exported: handlers and front ends name it from here.
from events.clock import Clock as Clock
from events.clock import FixedClock as FixedClock
from events.clock import SystemClock as SystemClock


class TradingCalendar(Protocol):
    """The calendar facts the schedule needs."""

    def is_session(self, day: date) -> bool:
        """Whether the exchange trades on ``day``."""
        ...

    def close_at(self, day: date) -> datetime:
        """The session's close (zone-aware) on a trading ``day``."""
        ...

    def is_early_close(self, day: date) -> bool:
        """Whether ``day`` closes before the regular close."""
        ...


class MarketFetcher(Protocol):
    """Fetches market data and returns the events to append (never appends itself)."""

    @property
    def sources(self) -> list[str]:
        """Names of the providers in use (shown in footers and ``/about``)."""
        ...

    async def fetch_bars(self, symbols: Sequence[str], *, now: datetime) -> list[NewEvent]:
        """``bars_fetched`` per symbol with new bars, ``fetch_failed`` for what failed."""
        ...

    async def fetch_flows(
        self, symbols: Sequence[str], *, min_premium: float, now: datetime
    ) -> list[NewEvent]:
        """``flow_alerts_fetched`` (possibly empty), or ``fetch_failed``."""
        ...


class StrategyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy as listed by ``/strategies``: ``name`` is its key (how commands, trades and
    schedules name it), ``title`` its display name (what scans record and people read)."""

    name: str
    title: str = ""
    description: str = ""
    version: str = ""
    tags: list[str] = []
    origin: Literal["shipped", "operator", "server"] = "shipped"
    """Where it comes from: the package, the operator's folder (``IBPICKER_STRATEGIES_DIR``,
    offered as shipped) or the server's own library (``version`` is then ``v1``, ``v2``…)."""
    added_by: int = 0
    """The member who added a server's version (0 for shipped ones)."""
    sha256: str = ""
    """The hash of the version's text (set for a server's versions)."""


class StrategyText(msgspec.Struct, frozen=True, kw_only=True):
    """A server's strategy at one version, given to the analyzer by its text: scans record
    ``key`` as the strategy's name, ``version`` (``v2``) as its version and the text's SHA-256."""

    key: str
    version: str
    yaml_text: str


StrategyRef = str | StrategyText
"""What the analyzer scans or describes: a shipped (or operator) strategy by key, or a server's
version by its text (``commands.strategies.library.resolve`` decides which)."""


class UnknownStrategyError(CommandError, LookupError):
    """No strategy has that name."""


class Analyzer(Protocol):
    """Strategies and scans. Scans read market data only from the analytics projections."""

    def strategies(self) -> list[StrategyInfo]:
        """Every strategy, by name."""
        ...

    def describe(self, name: StrategyRef) -> str:
        """A readable summary of one strategy (raises ``UnknownStrategyError``)."""
        ...

    def scan(
        self,
        strategy: StrategyRef,
        symbols: Sequence[str],
        *,
        guild_id: int | None,
        scan_id: str,
        now: datetime,
        skip_earnings_within: int | None = None,
    ) -> SignalsGenerated:
        """Scan ``symbols`` with ``strategy`` (raises ``UnknownStrategyError``); with
        ``skip_earnings_within=N``, skip symbols whose known earnings fall within N days."""
        ...


class Coverage(msgspec.Struct, frozen=True, kw_only=True):
    """What the analytics hold for one symbol (``/status``)."""

    symbol: str
    bars: int = 0
    first_day: date | None = None
    last_day: date | None = None
    last_close: float | None = None
    last_fetch_at: datetime | None = None
    last_fetch_ok: bool | None = None
    last_fetch_error: str = ""
    last_flow_at: datetime | None = None
    flow_alerts: int = 0


class SignalRow(msgspec.Struct, frozen=True, kw_only=True):
    """One stored pick."""

    scan_id: str
    strategy_name: str
    evaluated_at: datetime
    symbol: str
    direction: str
    as_of: date
    entry: float
    stop_loss: float | None = None
    take_profit: float | None = None
    score: float = 0.0


class MarketView(Protocol):
    """Read-only queries over the market-data and signal projections."""

    def known_symbols(self) -> set[str]:
        """Symbols with bars."""
        ...

    def coverage(self, symbols: Sequence[str]) -> list[Coverage]:
        """Coverage of each symbol (in the order given)."""
        ...

    def signals(self, guild_id: int, *, symbol: str | None, since: datetime) -> list[SignalRow]:
        """A guild's picks since ``since``, newest first."""
        ...

    def signal(self, scan_id: str, symbol: str) -> SignalRow | None:
        """One pick of one scan."""
        ...
