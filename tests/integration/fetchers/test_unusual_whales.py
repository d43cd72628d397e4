"""Unusual Whales against its local stand-in: shapes, retries, limits, errors, secrecy."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import msgspec
import pytest

from events.base import NewEvent
from events.market import Bar
from fetchers.errors import (
    AuthError,
    RateLimitedError,
    ShapeError,
    TransientError,
    UnknownSymbolError,
)
from fetchers.http import HttpSession, RateLimit
from fetchers.service import fetch_bars, fetch_flow_alerts
from fetchers.unusual_whales import UnusualWhales
from tests.integration.fetchers.conftest import UW_KEY
from tests.support.clocks import FakeTime
from tests.support.providers import (
    UW_403_HISTORY,
    UW_422,
    UW_500,
    ProviderStandIn,
    Reply,
    retry_policy,
    uw_bar_row,
    uw_economic_row,
    uw_flow_row,
    uw_info,
)

FLOW = "/api/option-trades/flow-alerts"
AAPL_BARS = "/api/stock/AAPL/ohlc/1d"
NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)  # after the close of Wed 2026-11-25


class NothingKnown:
    """A ``KnownBars`` for an empty journal."""

    def last_bar_day(self, symbol: str) -> date | None:
        """Nothing stored."""
        return None

    def known_alert_ids(self, symbol: str) -> set[tuple[str, datetime]]:
        """Nothing stored."""
        return set()


def _bars(*days: date) -> list[Bar]:
    return [
        Bar(day=d, open=100.0 + i, high=102.5 + i, low=99.25 + i, close=101.0 + i, volume=1000 + i)
        for i, d in enumerate(days)
    ]


async def test_flow_alerts_are_decoded_typed_and_sent_with_documented_query_and_headers(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """Strings become floats, both timestamp formats aware UTC, direction comes from the sides."""
    uw_server.always(
        "GET",
        FLOW,
        Reply(
            body={
                "data": [
                    uw_flow_row(),
                    uw_flow_row(
                        option_chain="MSFT231222P00370000",
                        type="put",
                        created_at="2026-09-03T13:53:00.000000Z",
                    ),
                    uw_flow_row(total_ask_side_prem="500", total_bid_side_prem="500"),
                ]
            }
        ),
    )
    alerts = await uw.flow_alerts(
        ["MSFT", "AAPL"],
        min_premium=100_000,
        min_volume=500,
        newer_than=datetime(2026, 9, 1, tzinfo=UTC),
        limit=50,
    )
    sent = uw_server.requests[0]
    assert sent.query == {
        "ticker_symbol": "MSFT,AAPL",
        "min_premium": "100000",
        "min_volume": "500",
        "newer_than": str(int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())),
        "limit": "50",
    }
    assert sent.headers["Accept"] == "application/json"
    first, second, third = alerts
    assert first.total_premium == 186705.0
    assert first.strike == 375.0
    assert first.created_at == datetime(2023, 12, 12, 16, 35, 52, 168490, tzinfo=UTC)
    assert second.created_at == datetime(2026, 9, 3, 13, 53, tzinfo=UTC)
    assert (first.direction, second.direction, third.direction) == ("bullish", "bearish", "neutral")
    assert first.expiry == date(2023, 12, 22)
    assert first.open_interest == 7913


async def test_daily_bars_decode_string_prices_and_sort_oldest_first(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """Bars arrive newest first with string prices; the provider returns floats, oldest first."""
    bars = _bars(date(2026, 11, 20), date(2026, 11, 24), date(2026, 11, 25))
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(b) for b in bars[::-1]]}))
    got = await uw.daily_bars("AAPL", limit=3)
    assert got == bars
    assert uw_server.requests[0].query == {"limit": "3"}


async def test_info_gives_next_earnings_or_none(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """``next_earnings_date`` becomes an EarningsDate; null means none announced."""
    uw_server.queue(
        "GET",
        "/api/stock/AAPL/info",
        Reply(body=uw_info(date(2027, 1, 29))),
        Reply(body=uw_info(None)),
    )
    first = await uw.next_earnings("AAPL")
    assert first is not None
    assert first.day == date(2027, 1, 29)
    assert first.announce_time == "afterhours"
    assert await uw.next_earnings("AAPL") is None


async def test_economic_calendar_rows_become_entries(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """Calendar rows keep their name, UTC time, type and values."""
    when = datetime(2026, 12, 10, 13, 30, tzinfo=UTC)
    uw_server.always(
        "GET",
        "/api/market/economic-calendar",
        Reply(body={"data": [uw_economic_row("CPI", when), uw_economic_row("FOMC", when, "fomc")]}),
    )
    entries = await uw.economic_calendar()
    assert [(e.name, e.time, e.kind) for e in entries] == [
        ("CPI", when, "report"),
        ("FOMC", when, "fomc"),
    ]
    assert entries[0].forecast == "0.3%"
    assert entries[0].previous == "0.2%"


async def test_429_with_retry_after_seconds_waits_that_long_then_succeeds(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """A 429 with ``retry-after: 7`` sleeps exactly 7 s (fake time), then the retry succeeds."""
    uw_server.queue("GET", AAPL_BARS, Reply(429, {"msg": "slow"}, headers={"retry-after": "7"}))
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    assert len(await uw.daily_bars("AAPL", limit=1)) == 1
    assert fake_time.sleeps == [7.0]
    assert len(uw_server.requests) == 2


async def test_429_with_an_http_date_retry_after_waits_until_then(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """A ``retry-after`` HTTP date is turned into the delay from the (fake) wall clock."""
    until = format_datetime(fake_time.now() + timedelta(seconds=12), usegmt=True)
    uw_server.queue("GET", AAPL_BARS, Reply(429, {"msg": "slow"}, headers={"retry-after": until}))
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    await uw.daily_bars("AAPL", limit=1)
    assert fake_time.sleeps == [12.0]


async def test_429_without_retry_after_backs_off_exponentially_with_jitter(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """Without ``retry-after`` each wait is a jittered draw below base * 2^attempt."""
    uw_server.queue("GET", AAPL_BARS, *[Reply(429, {"msg": "slow"})] * 3)
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    await uw.daily_bars("AAPL", limit=1)
    assert len(fake_time.sleeps) == 3
    for attempt, slept in enumerate(fake_time.sleeps):
        assert 0.0 <= slept <= 0.5 * 2 ** (attempt + 1)


async def test_5xx_then_success_is_retried(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """A text/plain 500 and a 503 are retried with backoff; the third answer counts."""
    uw_server.queue("GET", AAPL_BARS, UW_500, Reply(503, b"busy", content_type="text/plain"))
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    assert len(await uw.daily_bars("AAPL", limit=1)) == 1
    assert len(uw_server.requests) == 3
    assert len(fake_time.sleeps) == 2


async def test_persistent_5xx_gives_up_after_bounded_attempts(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """A provider that keeps failing costs at most ``max_attempts`` requests, then a retryable
    error."""
    uw_server.always("GET", AAPL_BARS, UW_500)
    with pytest.raises(TransientError, match="HTTP 500") as caught:
        await uw.daily_bars("AAPL", limit=1)
    assert caught.value.retryable
    assert len(uw_server.requests) == 4


async def test_a_retry_after_beyond_the_time_budget_gives_up_without_sleeping(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """Total time is bounded: a 429 asking for 10 minutes ends the call at once."""
    uw_server.always("GET", AAPL_BARS, Reply(429, {"msg": "slow"}, headers={"retry-after": "600"}))
    with pytest.raises(RateLimitedError):
        await uw.daily_bars("AAPL", limit=1)
    assert fake_time.sleeps == []
    assert len(uw_server.requests) == 1


async def test_timeouts_are_retried_then_reported(
    http: HttpSession, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """An answer slower than the attempt timeout is retried and ends as a retryable timeout."""
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": []}, delay=2.0))
    uw = UnusualWhales(
        http,
        UW_KEY,
        base_url=uw_server.base_url,
        policy=retry_policy(fake_time, attempt_timeout=0.2, max_attempts=2),
    )
    with pytest.raises(TransientError, match="timed out"):
        await uw.daily_bars("AAPL", limit=1)
    assert len(uw_server.requests) == 2


async def test_connection_refused_is_a_retryable_failure(
    http: HttpSession, fake_time: FakeTime
) -> None:
    """Nobody listening: a connection error, retried, then a retryable failure without the key."""
    async with ProviderStandIn() as gone:
        base = gone.base_url
    uw = UnusualWhales(http, UW_KEY, base_url=base, policy=retry_policy(fake_time, max_attempts=2))
    with pytest.raises(TransientError) as caught:
        await uw.daily_bars("AAPL", limit=1)
    assert caught.value.retryable
    assert UW_KEY not in str(caught.value)
    assert len(fake_time.sleeps) == 1


async def test_403_history_means_no_data_not_an_error(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """UW's ``historic_data_access_missing`` yields no bars and no fetch_failed event."""
    uw_server.always("GET", AAPL_BARS, UW_403_HISTORY)
    uw_server.always("GET", FLOW, UW_403_HISTORY)
    assert await uw.daily_bars("AAPL", limit=5) == []
    assert await uw.flow_alerts(["AAPL"]) == []
    result = await fetch_bars(uw, NothingKnown(), ["AAPL"], now=NOW)
    assert result.events == []
    assert result.outcomes[0].status == "no_data"
    assert len(uw_server.requests) == 3  # never retried


async def test_malformed_json_becomes_fetch_failed(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """Truncated JSON is a shape error, recorded as a non-retryable fetch_failed."""
    uw_server.always("GET", AAPL_BARS, Reply(body=b'{"data": [{"open": "1"'))
    result = await fetch_bars(uw, NothingKnown(), ["AAPL"], now=NOW)
    (failed,) = [e.event for e in result.events]
    assert failed.event_tag() == "fetch_failed"
    assert "malformed JSON" in failed.error  # type: ignore[attr-defined]
    assert failed.source == "unusual_whales"  # type: ignore[attr-defined]


async def test_a_renamed_field_fails_loudly_naming_the_field(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """``total_premium`` renamed to ``premium``: fetch_failed names the missing field and row."""
    row = uw_flow_row()
    row["premium"] = row.pop("total_premium")
    uw_server.always("GET", FLOW, Reply(body={"data": [uw_flow_row(), row]}))
    with pytest.raises(ShapeError, match=r"`total_premium` - at `\$\.data\[1\]`"):
        await uw.flow_alerts(["MSFT"])
    result = await fetch_flow_alerts(uw, NothingKnown(), ["MSFT"], now=NOW)
    (failed,) = [e.event for e in result.events]
    assert "total_premium" in failed.error  # type: ignore[attr-defined]
    assert result.outcomes[0].status == "failed"


async def test_a_number_where_text_is_expected_names_the_path(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """A non-numeric premium string is rejected with msgspec's path."""
    uw_server.always("GET", FLOW, Reply(body={"data": [uw_flow_row(total_premium="lots")]}))
    with pytest.raises(ShapeError, match=r"Expected `float`.*\$\.data\[0\]\.total_premium"):
        await uw.flow_alerts(["MSFT"])


async def test_unknown_symbol_422_is_not_retried(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """A 422 is an unknown symbol: one request, no sleep, a non-retryable error."""
    uw_server.always("GET", "/api/stock/ZZZZ/ohlc/1d", UW_422)
    with pytest.raises(UnknownSymbolError, match="ZZZZ") as caught:
        await uw.daily_bars("ZZZZ", limit=5)
    assert not caught.value.retryable
    assert len(uw_server.requests) == 1
    assert fake_time.sleeps == []


async def test_unknown_symbol_empty_data_becomes_a_failed_fetch(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """An empty ``data`` list for a symbol's bars means the symbol is unknown."""
    uw_server.always("GET", "/api/stock/ZZZZ/ohlc/1d", Reply(body={"data": []}))
    result = await fetch_bars(uw, NothingKnown(), ["ZZZZ"], now=NOW)
    assert result.outcomes[0].status == "failed"
    assert "ZZZZ" in result.outcomes[0].detail
    assert result.events[0].stream == "fetch-failures"


async def test_a_refused_key_is_not_retried(
    http: HttpSession, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """A wrong key answers 401 once: an AuthError, no retries."""
    uw = UnusualWhales(
        http, "wrong-key", base_url=uw_server.base_url, policy=retry_policy(fake_time)
    )
    with pytest.raises(AuthError):
        await uw.daily_bars("AAPL", limit=1)
    assert len(uw_server.requests) == 1


async def test_the_rate_limiter_spaces_requests(
    http: HttpSession, uw_server: ProviderStandIn
) -> None:
    """With 2 requests per 0.2 s, six requests reach the server over at least ~0.4 s."""
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    uw = UnusualWhales(http, UW_KEY, base_url=uw_server.base_url, rate=RateLimit(2, 0.2))
    for _ in range(6):
        await uw.daily_bars("AAPL", limit=1)
    arrivals = [r.at for r in uw_server.requests]
    assert arrivals[-1] - arrivals[0] >= 0.35
    gaps = [b - a for a, b in itertools.pairwise(arrivals[2:])]
    assert all(gap >= 0.07 for gap in gaps), gaps


async def test_keys_never_reach_errors_reprs_or_events(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """Even a provider echoing our Authorization header leaves no key in errors or events."""
    echo = Reply(500, f"boom: Authorization: Bearer {UW_KEY}".encode(), content_type="text/plain")
    uw_server.always("GET", AAPL_BARS, echo)
    uw_server.always("GET", FLOW, Reply(422, {"msg": f"bad {UW_KEY}", "url": f"/x?k={UW_KEY}"}))
    bars = await fetch_bars(uw, NothingKnown(), ["AAPL"], now=NOW)
    flows = await fetch_flow_alerts(uw, NothingKnown(), ["AAPL"], now=NOW)
    events: list[NewEvent] = bars.events + flows.events
    assert len(events) == 2
    for new in events:
        assert UW_KEY not in msgspec.json.encode(new.event).decode()
        assert UW_KEY.encode() not in msgspec.msgpack.encode(new.event)
    texts = [bars.summary(), flows.summary(), repr(uw), repr(uw._client)]
    assert all(UW_KEY not in t for t in texts)
    assert "***" in bars.outcomes[0].detail


async def test_limits_and_retries_cost_no_wall_time_with_fake_sleep(
    uw: UnusualWhales, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """Three 60-second retry-after waits take no real time with an injected sleep."""
    uw_server.queue("GET", AAPL_BARS, *[Reply(429, {}, headers={"retry-after": "15"})] * 3)
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    started = time.monotonic()
    await uw.daily_bars("AAPL", limit=1)
    assert fake_time.sleeps == [15.0, 15.0, 15.0]
    assert time.monotonic() - started < 5


async def test_waiting_for_the_rate_limiter_does_not_use_up_the_time_budget(
    http: HttpSession, uw_server: ProviderStandIn
) -> None:
    """Requests queued behind the limiter longer than the retry budget still succeed."""
    row = uw_bar_row(_bars(NOW.date())[0])
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [row]}, delay=0.1))
    uw = UnusualWhales(
        http,
        UW_KEY,
        base_url=uw_server.base_url,
        rate=RateLimit(1, 0.4),
        policy=retry_policy(FakeTime(), clock=time.monotonic, max_total_seconds=0.3),
    )
    for _ in range(3):
        assert len(await uw.daily_bars("AAPL", limit=1)) == 1
    assert len(uw_server.requests) == 3


async def test_a_final_failure_says_how_many_attempts_were_made(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """After retries, the reason tells users the provider was asked more than once."""
    uw_server.always("GET", AAPL_BARS, UW_500)
    result = await fetch_bars(uw, NothingKnown(), ["AAPL"], now=NOW)
    assert "(after 4 attempts)" in result.outcomes[0].detail


async def test_retries_are_logged_without_the_key(
    uw: UnusualWhales, uw_server: ProviderStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry logs one warning with the scrubbed reason and the wait; the key never shows."""
    echo = Reply(503, f"busy {UW_KEY}".encode(), content_type="text/plain")
    uw_server.queue("GET", AAPL_BARS, echo)
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [uw_bar_row(_bars(NOW.date())[0])]}))
    with caplog.at_level("WARNING", logger="fetchers.http"):
        await uw.daily_bars("AAPL", limit=1)
    (record,) = caplog.records
    assert "HTTP 503" in record.getMessage()
    assert "retrying in" in record.getMessage()
    assert UW_KEY not in caplog.text


async def test_an_implausible_bar_is_a_shape_error(
    uw: UnusualWhales, uw_server: ProviderStandIn
) -> None:
    """A bar whose high is below its close is refused, naming the row."""
    row = uw_bar_row(_bars(NOW.date())[0]) | {"high": "50"}
    uw_server.always("GET", AAPL_BARS, Reply(body={"data": [row]}))
    with pytest.raises(ShapeError, match=r"implausible bar .* `\$\.data\[0\]`"):
        await uw.daily_bars("AAPL", limit=1)


async def test_flow_alerts_page_back_with_older_than_beyond_a_page(
    http: HttpSession, uw_server: ProviderStandIn, fake_time: FakeTime
) -> None:
    """With 2 rows a page, a full page asks again ``older_than`` its oldest row's second."""
    page1 = [
        uw_flow_row(option_chain="A", created_at="2026-11-25T15:00:10Z"),
        uw_flow_row(option_chain="B", created_at="2026-11-25T15:00:05Z"),
    ]
    page2 = [uw_flow_row(option_chain="C", created_at="2026-11-25T14:59:00Z")]
    uw_server.queue("GET", FLOW, Reply(body={"data": page1}), Reply(body={"data": page2}))
    uw = UnusualWhales(
        http, UW_KEY, base_url=uw_server.base_url, policy=retry_policy(fake_time), page_size=2
    )
    alerts = await uw.flow_alerts(["MSFT"], limit=10)
    assert [a.option_chain for a in alerts] == ["A", "B", "C"]
    first, second = uw_server.requests
    assert first.query["limit"] == "2"
    assert "older_than" not in first.query
    assert second.query["older_than"] == str(
        int(datetime(2026, 11, 25, 15, 0, 5, tzinfo=UTC).timestamp()) + 1
    )
