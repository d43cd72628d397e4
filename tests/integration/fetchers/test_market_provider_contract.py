"""The ``MarketDataProvider`` contract, run against every implementation.

Unusual Whales runs against its stand-in serving the sample data in UW's shapes, so both
implementations answer the same questions about the same data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest

from fetchers.errors import UnknownSymbolError
from fetchers.http import HttpSession, RateLimit
from fetchers.provider import MarketDataProvider
from fetchers.sample import SampleProvider
from fetchers.unusual_whales import UnusualWhales
from tests.support.clocks import FakeTime
from tests.support.providers import (
    UW_422,
    ProviderStandIn,
    Reply,
    retry_policy,
    uw_info,
    uw_payloads_from_sample,
)

TODAY = date(2026, 11, 25)
SYMBOLS = ("AAPL", "SPY")


@pytest.fixture(params=["sample", "unusual_whales"])
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[MarketDataProvider]:
    """Each implementation of the port, over the same sample data."""
    sample = SampleProvider(TODAY)
    if request.param == "sample":
        yield sample
        return
    bars = {s: sample.bars(s) for s in SYMBOLS}
    alerts = await sample.flow_alerts(list(SYMBOLS), limit=10_000)
    async with ProviderStandIn() as server, HttpSession() as http:
        for path, reply in uw_payloads_from_sample(bars, alerts).items():
            server.always("GET", path, reply)
        for symbol in SYMBOLS:
            found = await sample.next_earnings(symbol)
            info = uw_info(found.day if found else None, found.announce_time if found else "")
            server.always("GET", f"/api/stock/{symbol}/info", Reply(body=info))
        server.always("GET", "/api/stock/ZZZZ/ohlc/1d", UW_422)
        server.always("GET", "/api/stock/ZZZZ/info", UW_422)
        yield UnusualWhales(
            http,
            "k",
            base_url=server.base_url,
            rate=RateLimit(1000, 1.0),
            policy=retry_policy(FakeTime()),
        )


async def test_daily_bars_are_the_newest_n_oldest_first(provider: MarketDataProvider) -> None:
    """``limit`` newest bars, ascending, unique days, ending at the last session."""
    bars = await provider.daily_bars("AAPL", limit=30)
    days = [b.day for b in bars]
    assert len(bars) == 30
    assert days == sorted(set(days))
    assert days[-1] == TODAY


async def test_unknown_symbols_raise(provider: MarketDataProvider) -> None:
    """A symbol the provider does not know raises ``UnknownSymbolError`` for bars and earnings."""
    with pytest.raises(UnknownSymbolError):
        await provider.daily_bars("ZZZZ", limit=5)
    with pytest.raises(UnknownSymbolError):
        await provider.next_earnings("ZZZZ")


async def test_flow_alerts_carry_aware_times_and_a_direction(
    provider: MarketDataProvider,
) -> None:
    """Alerts are for the asked symbols, with aware UTC times and a derived direction."""
    alerts = await provider.flow_alerts(list(SYMBOLS), limit=10_000)
    assert alerts
    assert {a.ticker for a in alerts} <= set(SYMBOLS)
    assert all(a.created_at.utcoffset() is not None for a in alerts)
    assert all(a.direction in ("bullish", "bearish", "neutral") for a in alerts)
    assert all(a.created_at <= datetime(2026, 11, 25, 23, tzinfo=UTC) for a in alerts)


async def test_next_earnings_is_upcoming_or_none(provider: MarketDataProvider) -> None:
    """A stock has an upcoming date; an ETF has none."""
    stock = await provider.next_earnings("AAPL")
    assert stock is not None
    assert stock.day >= TODAY
    assert await provider.next_earnings("SPY") is None
