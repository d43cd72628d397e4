"""The ports handlers and the command service depend on: clock, market-data fetching, analysis,
the read model over the analytics projections, and drafting strategies with Claude.

Front ends wire real implementations (``commands.core.adapters``); tests pass fakes. A handler only
ever sees data: fetch results and scans are gathered by the service before the handler runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

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


# -- drafting strategies with Claude ----------------------------------------------------------


class DraftAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What the model answered to a draft request: the strategy as data (not validated yet), the
    model that answered, the tokens it cost, and the id of its call (for the follow-up)."""

    spec: dict[str, Any]
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    call_id: str = ""


class DraftUnavailableError(CommandError):
    """The model gave no usable answer (rate limited, overloaded, down, too slow, declined): the
    message says what happened and when to try again, for the member."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class Drafter(Protocol):
    """A language model drafting a strategy by one forced tool call (``commands.core.claude``)."""

    @property
    def model(self) -> str:
        """The model asked (shown in replies, recorded in ``strategy_drafted``)."""
        ...

    async def draft(
        self,
        description: str,
        *,
        system: str,
        schema: dict[str, Any],
        previous: DraftAnswer | None = None,
        problems: str = "",
    ) -> DraftAnswer:
        """A strategy for ``description`` following ``schema``; with ``previous`` and
        ``problems``, the same conversation asked once more to fix what did not validate.
        Raises ``DraftUnavailableError``."""
        ...


class DraftLimits(Protocol):
    """How many drafts a member and a server may ask for (drafts cost money)."""

    def admit(self, guild_id: int, member_id: int, now: datetime) -> str | None:
        """Count one draft at ``now`` and return ``None``, or refuse (counting nothing) with the
        reason and when to try again."""
        ...


@dataclass(frozen=True)
class Drafting:
    """Drafting with Claude, when a key is configured: the model and the limits."""

    drafter: Drafter
    limits: DraftLimits
