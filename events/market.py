"""Market-data events: every fetch, successful or not, with normalised records and their source.

Streams: ``bars:{SYMBOL}``, ``flow:{SYMBOL}``, ``earnings``, ``quotes:{SYMBOL}``,
``profiles:{SYMBOL}``, ``economic-calendar``, ``fetch-failures``.
Prices are float64 here: analytics data, not money users see (DESIGN.md, Events).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

import msgspec

from events.base import Event

SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
"""What a ticker symbol is, in the streams above and everywhere else: a letter, then up to 9
letters, digits, '.' or '-' (upper case). Fetchers normalise to it, handlers check it."""

FlowDirection = Literal["bullish", "bearish", "neutral"]


class Bar(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One daily OHLCV bar (array-like on the wire: a journal holds many of them)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: int


class FlowAlert(msgspec.Struct, frozen=True, kw_only=True):
    """One options-flow alert, normalised from the provider's row.

    ``direction`` is derived from the ask/bid side (reference: apis.md); the identity of an alert
    is ``(option_chain, created_at)``.
    """

    option_chain: str
    ticker: str
    created_at: datetime
    option_type: Literal["call", "put"]
    strike: float
    expiry: date
    total_premium: float
    ask_side_premium: float
    bid_side_premium: float
    volume: int
    open_interest: int
    underlying_price: float
    has_sweep: bool = False
    alert_rule: str = ""
    direction: FlowDirection = "neutral"


class EarningsDate(msgspec.Struct, frozen=True, kw_only=True):
    """The next (or a known) earnings date of a symbol."""

    symbol: str
    day: date
    announce_time: str = "unknown"


class BarsFetched(Event, frozen=True, kw_only=True, tag="bars_fetched"):
    """New daily bars for one symbol (only bars not already in the journal)."""

    symbol: str
    source: str
    bars: list[Bar]


class FlowAlertsFetched(Event, frozen=True, kw_only=True, tag="flow_alerts_fetched"):
    """New options-flow alerts (deduplicated on option chain and creation time)."""

    symbols: list[str]
    source: str
    alerts: list[FlowAlert]
    min_premium: float = 0.0


class EarningsFetched(Event, frozen=True, kw_only=True, tag="earnings_fetched"):
    """Earnings dates learnt from a provider."""

    source: str
    entries: list[EarningsDate]


class QuoteFetched(Event, frozen=True, kw_only=True, tag="quote_fetched"):
    """A latest-price quote."""

    symbol: str
    source: str
    price: float
    change: float = 0.0
    change_pct: float = 0.0
    as_of: datetime | None = None


class FetchFailed(Event, frozen=True, kw_only=True, tag="fetch_failed"):
    """A fetch that did not yield data: what was asked, from whom, and why (never a secret)."""

    kind: str
    symbols: list[str]
    source: str
    error: str
    retryable: bool = False


class EconomicEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the economic calendar (FOMC, CPI, jobs report, a Fed speaker)."""

    name: str
    time: datetime
    kind: str = "report"
    forecast: str | None = None
    previous: str | None = None
    reported_period: str | None = None


class EconomicCalendarFetched(Event, frozen=True, kw_only=True, tag="economic_calendar_fetched"):
    """The economic calendar as a provider lists it (stream ``economic-calendar``)."""

    source: str
    entries: list[EconomicEvent]


class CompanyProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider says about a company (market cap and shares in millions, as Finnhub)."""

    symbol: str
    name: str
    exchange: str = ""
    currency: str = ""
    country: str = ""
    industry: str = ""
    market_cap: float | None = None
    shares_outstanding: float | None = None
    ipo: date | None = None
    web_url: str = ""


class ProfileFetched(Event, frozen=True, kw_only=True, tag="profile_fetched"):
    """A company profile (stream ``profiles:{SYMBOL}``)."""

    source: str
    profile: CompanyProfile
