"""The provider ports (what the fetch service needs from a provider) and edge-decoding helpers.

``MarketDataProvider`` is implemented by Unusual Whales and by the offline sample provider, so
both go through the same event path; ``ReferenceDataProvider`` by Finnhub (optional). Providers
return normalised records (``events.market`` types) and raise ``FetchError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from events.market import (
    Bar,
    CompanyProfile,
    EarningsDate,
    EconomicEvent,
    FlowAlert,
    FlowDirection,
)
from fetchers.errors import ShapeError

# Numbers arrive as JSON strings ("375"); msgspec's lax mode turns numeric strings into floats and
# still rejects text ("Expected `float`, got `str` - at `$.data[0].strike`"). The bounds reject
# "nan" and "inf", which lax mode would otherwise accept.
Amount = Annotated[float, msgspec.Meta(ge=0.0, le=1e15)]
SignedAmount = Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]
AwareDateTime = Annotated[datetime, msgspec.Meta(tz=True)]

_T = TypeVar("_T")
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """A latest-price quote."""

    symbol: str
    price: float
    change: float = 0.0
    change_pct: float = 0.0
    as_of: datetime | None = None


class MarketDataProvider(Protocol):
    """Bars, flow alerts, earnings dates and the economic calendar (Unusual Whales or sample)."""

    @property
    def name(self) -> str:
        """The source recorded in events (``unusual_whales``, ``sample``)."""
        ...

    async def daily_bars(self, symbol: str, *, limit: int) -> list[Bar]:
        """The newest ``limit`` daily bars of ``symbol``, oldest first, one per day.

        ``[]`` when the provider has no data in the plan's window; ``UnknownSymbolError`` when it
        does not know the symbol.
        """
        ...

    async def flow_alerts(
        self,
        symbols: Sequence[str],
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
        newer_than: datetime | None = None,
        limit: int = 200,
    ) -> list[FlowAlert]:
        """Recent flow alerts on ``symbols`` (newest first as the provider lists them)."""
        ...

    async def next_earnings(self, symbol: str) -> EarningsDate | None:
        """The next earnings date of ``symbol``, or ``None`` when none is announced."""
        ...

    async def economic_calendar(self) -> list[EconomicEvent]:
        """The provider's economic calendar (FOMC, CPI, jobs days)."""
        ...


class ReferenceDataProvider(Protocol):
    """Quotes, the earnings calendar and company profiles (Finnhub, optional)."""

    @property
    def name(self) -> str:
        """The source recorded in events (``finnhub``)."""
        ...

    async def quote(self, symbol: str) -> Quote:
        """The latest quote; ``UnknownSymbolError`` for a symbol the provider does not know."""
        ...

    async def earnings_calendar(
        self, start: date, end: date, symbol: str | None = None
    ) -> list[EarningsDate]:
        """Earnings dates between ``start`` and ``end`` (one symbol, or all)."""
        ...

    async def company_profile(self, symbol: str) -> CompanyProfile:
        """The company's profile; ``UnknownSymbolError`` for an unknown symbol."""
        ...


def decode(body: bytes, type_: type[_T], *, provider: str, what: str) -> _T:
    """Decode a provider's JSON answer into ``type_``, or ``ShapeError`` naming the field."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_, strict=False)
    try:
        result: _T = decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ShapeError(f"{provider} {what}: unexpected shape: {exc}", provider=provider) from None
    except msgspec.DecodeError as exc:
        raise ShapeError(f"{provider} {what}: malformed JSON: {exc}", provider=provider) from None
    return result


def flow_direction(option_type: str, ask_side: float, bid_side: float) -> FlowDirection:
    """Bullish: a call bought at the ask or a put sold at the bid; bearish the reverse.

    ``bullish = (type == "call") == (ask > bid)``; neutral when both sides are equal.
    """
    if ask_side == bid_side:
        return "neutral"
    return "bullish" if (option_type == "call") == (ask_side > bid_side) else "bearish"


def as_utc(moment: datetime) -> datetime:
    """An aware datetime expressed in UTC."""
    return moment.astimezone(UTC)
