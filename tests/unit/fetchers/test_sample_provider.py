"""The offline sample provider: deterministic, plausible, trading days only, stable over time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from fetchers.calendar import NEW_YORK, session_hours, sessions_between
from fetchers.errors import UnknownSymbolError
from fetchers.sample import SYMBOLS, SampleProvider

TODAY = date(2026, 11, 25)


def test_the_same_today_gives_identical_data() -> None:
    """Two providers for the same day produce the same bars and alerts, symbol by symbol."""
    a, b = SampleProvider(TODAY), SampleProvider(TODAY)
    for symbol in SYMBOLS:
        assert a.bars(symbol) == b.bars(symbol)
        assert a.alerts(symbol) == b.alerts(symbol)


def test_bars_are_plausible_for_every_symbol() -> None:
    """high ≥ max(open, close), low ≤ min(open, close), low > 0, volume > 0, two years long."""
    provider = SampleProvider(TODAY)
    assert len(SYMBOLS) >= 30
    for symbol in SYMBOLS:
        bars = provider.bars(symbol)
        assert 495 <= len(bars) <= 510, symbol
        for bar in bars:
            assert bar.high >= max(bar.open, bar.close), (symbol, bar)
            assert bar.low <= min(bar.open, bar.close), (symbol, bar)
            assert bar.low > 0, (symbol, bar)
            assert bar.volume > 0, (symbol, bar)


def test_bars_fall_on_nyse_sessions_only_and_end_today() -> None:
    """Every bar's day is an XNYS session; none is missing; the last is ``today``."""
    bars = SampleProvider(TODAY).bars("AAPL")
    days = [b.day for b in bars]
    assert days == sessions_between(days[0], TODAY)
    assert days[-1] == TODAY
    assert date(2025, 12, 25) not in days


def test_volatility_and_volume_are_realistic() -> None:
    """Annualised volatility is near the symbol's (±50 %); mean volume within 2× of its level."""
    provider = SampleProvider(TODAY)
    for symbol in ("AAPL", "NVDA", "SPY", "KO"):
        spec = SYMBOLS[symbol]
        closes = np.array([b.close for b in provider.bars(symbol)])
        vol = float(np.diff(np.log(closes)).std() * np.sqrt(252))
        assert 0.5 * spec.vol <= vol <= 1.5 * spec.vol, (symbol, vol)
        volume = float(np.mean([b.volume for b in provider.bars(symbol)]))
        assert 0.5 * spec.volume <= volume <= 2 * spec.volume, (symbol, volume)


def test_moving_today_forward_keeps_the_earlier_bars() -> None:
    """The bars up to a day do not change when "today" moves on, so incremental fetches agree."""
    earlier = {b.day: b for b in SampleProvider(TODAY).bars("MSFT")}
    later = SampleProvider(TODAY + timedelta(days=30)).bars("MSFT")
    overlap = [b for b in later if b.day in earlier]
    assert len(overlap) > 450
    assert all(earlier[b.day] == b for b in overlap)


def test_flow_alerts_are_in_market_hours_of_recent_sessions_with_both_directions() -> None:
    """Alerts are created within their session's open and close; bullish and bearish appear."""
    provider = SampleProvider(TODAY)
    recent = set(sessions_between(TODAY - timedelta(days=10), TODAY)[-5:])
    directions: set[str] = set()
    for symbol in SYMBOLS:
        for alert in provider.alerts(symbol):
            day = alert.created_at.astimezone(NEW_YORK).date()
            assert day in recent
            opens, closes = session_hours(day)
            assert opens <= alert.created_at <= closes
            assert alert.created_at.tzinfo is not None
            assert alert.ask_side_premium + alert.bid_side_premium == pytest.approx(
                alert.total_premium, abs=0.02
            )
            directions.add(alert.direction)
    assert {"bullish", "bearish"} <= directions


async def test_flow_alert_filters_apply() -> None:
    """Premium, volume, ``newer_than`` and limit filters hold, newest first; unknown: none."""
    provider = SampleProvider(TODAY)
    since = datetime(2026, 11, 24, tzinfo=UTC)
    found = await provider.flow_alerts(
        ["AAPL", "NVDA", "NOPE"], min_premium=200_000, min_volume=10, newer_than=since, limit=5
    )
    assert 0 < len(found) <= 5
    assert all(a.total_premium >= 200_000 and a.volume >= 10 for a in found)
    assert all(a.created_at > since for a in found)
    assert [a.created_at for a in found] == sorted((a.created_at for a in found), reverse=True)


async def test_alerts_after_now_are_hidden() -> None:
    """With a clock in the middle of today's session, later alerts are not served yet."""
    now = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    provider = SampleProvider(TODAY, now=lambda: now)
    found = await provider.flow_alerts(list(SYMBOLS), limit=10_000)
    assert found
    assert all(a.created_at <= now for a in found)


async def test_earnings_dates_are_upcoming_weekdays_and_etfs_have_none() -> None:
    """Stocks report on a weekday within the next quarter; ETFs never report."""
    provider = SampleProvider(TODAY)
    for symbol, spec in SYMBOLS.items():
        found = await provider.next_earnings(symbol)
        if spec.etf:
            assert found is None
            continue
        assert found is not None
        assert TODAY <= found.day <= TODAY + timedelta(days=95)
        assert found.day.weekday() < 5


async def test_unknown_symbols_and_calendar() -> None:
    """An unsampled symbol is unknown; the economic calendar lists CPI, jobs and FOMC days."""
    provider = SampleProvider(TODAY)
    with pytest.raises(UnknownSymbolError):
        await provider.daily_bars("ZZZZ", limit=5)
    with pytest.raises(UnknownSymbolError):
        await provider.next_earnings("ZZZZ")
    names = {e.name for e in await provider.economic_calendar()}
    assert {"Consumer Price Index", "Nonfarm payrolls", "FOMC rate decision"} <= names
