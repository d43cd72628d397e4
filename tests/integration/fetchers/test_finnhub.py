"""Finnhub against its local stand-in: quotes, earnings calendar, profiles, premium 403, limits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from events.base import Actor
from events.clock import FixedClock
from events.journal import Journal
from fetchers.errors import AccessDeniedError, ShapeError, UnknownSymbolError
from fetchers.finnhub import Finnhub
from fetchers.http import HttpSession, RateLimit
from fetchers.sample import SampleProvider
from fetchers.service import MarketData, fetch_profiles, fetch_quotes
from tests.integration.fetchers.conftest import FINNHUB_KEY
from tests.support.clocks import FakeTime
from tests.support.providers import (
    FINNHUB_403,
    FINNHUB_UNKNOWN_QUOTE,
    ProviderStandIn,
    Reply,
    finnhub_earnings_row,
    finnhub_profile,
    finnhub_quote,
)


async def test_quote_is_decoded_with_the_token_header(
    finnhub: Finnhub, finnhub_server: ProviderStandIn
) -> None:
    """A quote's price, change and time come through; the key travels only in its header."""
    finnhub_server.always("GET", "/quote", Reply(body=finnhub_quote(231.42)))
    q = await finnhub.quote("AAPL")
    assert (q.price, q.change, q.change_pct) == (231.42, 1.87, 0.8146)
    assert q.as_of == datetime.fromtimestamp(1768597200, UTC)
    sent = finnhub_server.requests[0]
    assert sent.query == {"symbol": "AAPL"}
    assert sent.headers["X-Finnhub-Token"] == FINNHUB_KEY


async def test_unknown_symbol_quote_of_zeros_becomes_a_failed_fetch(
    finnhub: Finnhub, finnhub_server: ProviderStandIn
) -> None:
    """200 with zeros and nulls means an unknown symbol, recorded as fetch_failed."""
    finnhub_server.always("GET", "/quote", Reply(body=FINNHUB_UNKNOWN_QUOTE))
    with pytest.raises(UnknownSymbolError):
        await finnhub.quote("ZZZZ")
    result = await fetch_quotes(finnhub, ["ZZZZ"])
    assert result.outcomes[0].status == "failed"
    assert result.events[0].event.event_tag() == "fetch_failed"


async def test_premium_endpoint_403_is_a_clear_non_retryable_error(
    finnhub: Finnhub, finnhub_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """A premium-only 403 is asked once and says a premium plan is needed."""
    finnhub_server.always("GET", "/stock/profile2", FINNHUB_403)
    with pytest.raises(AccessDeniedError, match="premium") as caught:
        await finnhub.company_profile("AAPL")
    assert not caught.value.retryable
    assert len(finnhub_server.requests) == 1
    assert fake_time.sleeps == []


async def test_earnings_calendar_maps_hours_to_announce_times(
    finnhub: Finnhub, finnhub_server: ProviderStandIn
) -> None:
    """bmo/amc/'' become premarket/afterhours/unknown; the query carries from, to and symbol."""
    rows = [
        finnhub_earnings_row("AAPL", date(2027, 1, 29), "amc"),
        finnhub_earnings_row("MSFT", date(2027, 1, 27), "bmo"),
        finnhub_earnings_row("IBM", date(2027, 1, 21), ""),
    ]
    finnhub_server.always("GET", "/calendar/earnings", Reply(body={"earningsCalendar": rows}))
    got = await finnhub.earnings_calendar(date(2027, 1, 1), date(2027, 1, 31), "AAPL")
    assert [(e.symbol, e.day, e.announce_time) for e in got] == [
        ("AAPL", date(2027, 1, 29), "afterhours"),
        ("MSFT", date(2027, 1, 27), "premarket"),
        ("IBM", date(2027, 1, 21), "unknown"),
    ]
    assert finnhub_server.requests[0].query == {
        "from": "2027-01-01",
        "to": "2027-01-31",
        "symbol": "AAPL",
    }


async def test_profile_and_its_unknown_symbol_answer(
    finnhub: Finnhub, finnhub_server: ProviderStandIn
) -> None:
    """A profile becomes profile_fetched; ``{}`` (unknown symbol) becomes a failure."""
    finnhub_server.queue(
        "GET", "/stock/profile2", Reply(body=finnhub_profile("AAPL")), Reply(body={})
    )
    result = await fetch_profiles(finnhub, ["AAPL", "ZZZZ"])
    ok, bad = result.outcomes
    assert ok.status == "fetched"
    assert bad.status == "failed"
    profile = result.events[0].event
    assert profile.event_tag() == "profile_fetched"
    assert profile.profile.market_cap == 3500000.5  # type: ignore[attr-defined]
    assert profile.profile.ipo == date(1980, 12, 12)  # type: ignore[attr-defined]


async def test_a_changed_quote_shape_names_the_field(
    finnhub: Finnhub, finnhub_server: ProviderStandIn
) -> None:
    """A quote whose price turned into text fails with the field's path."""
    finnhub_server.always("GET", "/quote", Reply(body={"c": "n/a", "t": 1}))
    with pytest.raises(ShapeError, match=r"\$\.c"):
        await finnhub.quote("AAPL")


async def test_both_limits_hold_the_per_second_one_spaces_requests(
    http: HttpSession, finnhub_server: ProviderStandIn
) -> None:
    """With a minute limit and a 3-per-0.3 s limit, seven quotes take at least ~0.4 s."""
    finnhub_server.always("GET", "/quote", Reply(body=finnhub_quote()))
    client = Finnhub(
        http,
        FINNHUB_KEY,
        base_url=finnhub_server.base_url,
        rates=(RateLimit(60, 60.0), RateLimit(3, 0.3)),
    )
    for _ in range(7):
        await client.quote("AAPL")
    arrivals = [r.at for r in finnhub_server.requests]
    assert arrivals[-1] - arrivals[0] >= 0.35


async def test_429_is_retried_then_succeeds(
    finnhub: Finnhub, finnhub_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """Finnhub's 429 (no retry-after) is retried after a jittered backoff."""
    finnhub_server.queue("GET", "/quote", Reply(429, {"error": "API limit reached"}))
    finnhub_server.always("GET", "/quote", Reply(body=finnhub_quote()))
    assert (await finnhub.quote("AAPL")).price == 231.42
    assert len(fake_time.sleeps) == 1


async def test_the_service_fetches_finnhub_earnings_quotes_and_profiles_into_a_journal(
    finnhub: Finnhub, finnhub_server: ProviderStandIn, tmp_path: Path
) -> None:
    """Finnhub answers become events the real journal stores and gives back unchanged."""
    finnhub_server.always("GET", "/quote", Reply(body=finnhub_quote()))
    finnhub_server.always("GET", "/stock/profile2", Reply(body=finnhub_profile()))
    rows = [
        finnhub_earnings_row("AAPL", date(2026, 12, 3)),
        finnhub_earnings_row("IBM", date(2026, 12, 4)),
    ]
    finnhub_server.always("GET", "/calendar/earnings", Reply(body={"earningsCalendar": rows}))
    service = MarketData(
        SampleProvider(date(2026, 11, 25)),
        finnhub,
        clock=FixedClock(datetime(2026, 11, 25, 22, tzinfo=UTC)),
    )
    results = [
        await service.earnings_calendar(14, ["aapl", "MSFT"]),
        await service.quotes(["AAPL"]),
        await service.profiles(["AAPL"]),
        await service.economic_calendar(),
    ]
    assert finnhub_server.requests[0].query == {"from": "2026-11-25", "to": "2026-12-09"}
    earnings = results[0]
    assert [(o.symbol, o.status) for o in earnings.outcomes] == [
        ("AAPL", "fetched"),
        ("MSFT", "no_data"),
    ]
    events = [e for r in results for e in r.events]
    assert [e.event.event_tag() for e in events] == [
        "earnings_fetched",
        "quote_fetched",
        "profile_fetched",
        "economic_calendar_fetched",
    ]
    journal = Journal.open(tmp_path / "journal.sqlite")
    try:
        journal.append(events, command_id="fetch-1", actor=Actor.system())
        stored = [env.event for page in journal.read() for env in page]
    finally:
        journal.close()
    assert stored == [e.event for e in events]
