"""The fetch service: incremental bars, deduplicated flow alerts, input checks, summaries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from events.base import Actor
from events.clock import FixedClock
from events.journal import Journal
from events.market import (
    Bar,
    BarsFetched,
    EarningsDate,
    EconomicEvent,
    FetchFailed,
    FlowAlert,
    FlowAlertsFetched,
)
from fetchers.calendar import sessions_between
from fetchers.errors import FeatureDisabledError, InvalidSymbolError, TransientError
from fetchers.finnhub import Finnhub
from fetchers.http import HttpSession
from fetchers.sample import SampleProvider
from fetchers.service import (
    HISTORY_BARS,
    MarketData,
    fetch_bars,
    fetch_earnings,
    fetch_flow_alerts,
    market_data_from_keys,
    new_fetch_id,
    normalize_symbols,
)
from fetchers.unusual_whales import UnusualWhales
from tests.support.clocks import FakeClock

# Wednesday 2026-11-25: the session closes at 21:00 UTC.
AFTER_CLOSE = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
DURING_SESSION = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@dataclass
class FakeKnown:
    """A hand-written ``KnownBars``: what a journal would already hold."""

    last: dict[str, date] = field(default_factory=dict)
    alerts: dict[str, set[tuple[str, datetime]]] = field(default_factory=dict)

    def last_bar_day(self, symbol: str) -> date | None:
        """The newest known bar's day."""
        return self.last.get(symbol)

    def known_alert_ids(self, symbol: str) -> set[tuple[str, datetime]]:
        """The known alert ids."""
        return set(self.alerts.get(symbol, set()))

    def learn(self, events: Sequence[object]) -> None:
        """Fold fetched events in, as a state projection would."""
        for event in events:
            if isinstance(event, BarsFetched):
                self.last[event.symbol] = max(b.day for b in event.bars)
            if isinstance(event, FlowAlertsFetched):
                for a in event.alerts:
                    self.alerts.setdefault(a.ticker, set()).add((a.option_chain, a.created_at))


class RecordingProvider:
    """The sample provider, recording what it was asked (a fake of the provider port)."""

    name = "recording"

    def __init__(self, today: date, *, extra_alerts: Sequence[FlowAlert] = ()) -> None:
        self.inner = SampleProvider(today)
        self.bar_calls: list[tuple[str, int]] = []
        self.flow_calls: list[tuple[list[str], datetime | None]] = []
        self.extra_alerts = list(extra_alerts)
        self.fail_flows = False

    async def daily_bars(self, symbol: str, *, limit: int) -> list[Bar]:
        """Record and answer from the sample data."""
        self.bar_calls.append((symbol, limit))
        return await self.inner.daily_bars(symbol, limit=limit)

    async def flow_alerts(
        self,
        symbols: Sequence[str],
        *,
        min_premium: float = 0.0,
        min_volume: int = 0,
        newer_than: datetime | None = None,
        limit: int = 200,
    ) -> list[FlowAlert]:
        """Record and answer from the sample data plus any extra alerts."""
        self.flow_calls.append((list(symbols), newer_than))
        if self.fail_flows:
            raise TransientError("stand-in outage", provider=self.name)
        found = await self.inner.flow_alerts(
            symbols, min_premium=min_premium, min_volume=min_volume, limit=limit
        )
        return found + self.extra_alerts

    async def next_earnings(self, symbol: str) -> EarningsDate | None:
        """From the sample data."""
        return await self.inner.next_earnings(symbol)

    async def economic_calendar(self) -> list[EconomicEvent]:
        """From the sample data."""
        return await self.inner.economic_calendar()


async def test_an_empty_journal_gets_two_years_of_closed_sessions() -> None:
    """Nothing known: the full history is asked for and every bar of a closed session kept."""
    provider = RecordingProvider(date(2026, 11, 25))
    result = await fetch_bars(provider, FakeKnown(), ["AAPL"], now=AFTER_CLOSE)
    assert provider.bar_calls == [("AAPL", HISTORY_BARS)]
    (new,) = result.events
    assert new.stream == "bars:AAPL"
    assert isinstance(new.event, BarsFetched)
    days = [b.day for b in new.event.bars]
    assert days == sorted(days)
    assert days[-1] == date(2026, 11, 25)
    assert result.outcomes[0].summary().startswith(f"AAPL: fetched {len(days)} bars")


async def test_a_symbol_up_to_date_is_not_requested_at_all() -> None:
    """The last closed session already in the journal: no request, no event, "up to date"."""
    provider = RecordingProvider(date(2026, 11, 25))
    known = FakeKnown(last={"AAPL": date(2026, 11, 25)})
    result = await fetch_bars(provider, known, ["AAPL"], now=AFTER_CLOSE)
    assert provider.bar_calls == []
    assert result.events == []
    assert result.outcomes[0].status == "up_to_date"
    assert "up to date" in result.summary()


async def test_only_missing_sessions_are_requested_and_appended() -> None:
    """Three sessions behind: a small request, and exactly those three bars in the event."""
    provider = RecordingProvider(date(2026, 11, 25))
    known = FakeKnown(last={"MSFT": date(2026, 11, 20)})
    result = await fetch_bars(provider, known, ["MSFT"], now=AFTER_CLOSE)
    ((symbol, limit),) = provider.bar_calls
    assert symbol == "MSFT"
    assert limit <= 5
    (new,) = result.events
    assert isinstance(new.event, BarsFetched)
    assert [b.day for b in new.event.bars] == [
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
    ]


async def test_an_unfinished_session_is_not_stored() -> None:
    """During a session, the provider's bar for today is left out (it is not final)."""
    provider = RecordingProvider(date(2026, 11, 25))
    known = FakeKnown(last={"NVDA": date(2026, 11, 20)})
    result = await fetch_bars(provider, known, ["NVDA"], now=DURING_SESSION)
    (new,) = result.events
    assert isinstance(new.event, BarsFetched)
    assert [b.day for b in new.event.bars] == [date(2026, 11, 23), date(2026, 11, 24)]
    again = await fetch_bars(
        provider, FakeKnown(last={"NVDA": date(2026, 11, 24)}), ["NVDA"], now=DURING_SESSION
    )
    assert again.events == []
    assert again.outcomes[0].status == "up_to_date"


async def test_outcomes_follow_input_order_with_failures_as_events() -> None:
    """Mixed symbols: fetched, up to date and unknown each get their outcome, in order."""
    provider = RecordingProvider(date(2026, 11, 25))
    known = FakeKnown(last={"SPY": date(2026, 11, 25)})
    result = await fetch_bars(provider, known, ["AAPL", "SPY", "ZZZZ"], now=AFTER_CLOSE)
    assert [(o.symbol, o.status) for o in result.outcomes] == [
        ("AAPL", "fetched"),
        ("SPY", "up_to_date"),
        ("ZZZZ", "failed"),
    ]
    failed = [e for e in result.events if e.stream == "fetch-failures"]
    assert len(failed) == 1
    assert isinstance(failed[0].event, FetchFailed)
    assert failed[0].event.symbols == ["ZZZZ"]
    assert failed[0].event.source == "recording"
    assert not failed[0].event.retryable
    assert result.failed == [result.outcomes[2]]


async def test_flow_alerts_known_in_the_journal_are_not_appended_again() -> None:
    """Alerts whose (option chain, created at) is known are dropped; the rest kept, per symbol."""
    provider = RecordingProvider(date(2026, 11, 25))
    everything = await provider.inner.flow_alerts(["AAPL"], limit=1000)
    assert len(everything) >= 3
    known_ids = {(a.option_chain, a.created_at) for a in everything[:2]}
    known = FakeKnown(alerts={"AAPL": known_ids})
    result = await fetch_flow_alerts(
        provider, known, ["AAPL"], now=AFTER_CLOSE, lookback=timedelta(days=30)
    )
    (new,) = result.events
    assert new.stream == "flow:AAPL"
    assert isinstance(new.event, FlowAlertsFetched)
    got = {(a.option_chain, a.created_at) for a in new.event.alerts}
    assert got.isdisjoint(known_ids)
    assert len(got) == len(everything) - 2
    times = [a.created_at for a in new.event.alerts]
    assert times == sorted(times)


async def test_duplicates_within_one_answer_are_kept_once() -> None:
    """The provider listing an alert twice (also with another time zone) yields it once."""
    provider = RecordingProvider(date(2026, 11, 25))
    (sample, *_) = await provider.inner.flow_alerts(["MSFT"], limit=1)
    shifted = sample.created_at.astimezone(ZoneInfo("America/New_York"))
    twin = msgspec.structs.replace(sample, created_at=shifted)
    provider.extra_alerts = [sample, twin]
    result = await fetch_flow_alerts(
        provider, FakeKnown(), ["MSFT"], now=AFTER_CLOSE, lookback=timedelta(days=30)
    )
    (new,) = result.events
    assert isinstance(new.event, FlowAlertsFetched)
    keys = [(a.option_chain, a.created_at) for a in new.event.alerts]
    assert len(keys) == len(set(keys))


async def test_flow_alerts_are_asked_since_the_oldest_newest_known_alert() -> None:
    """``newer_than`` is the oldest of the symbols' newest known alerts, within the look-back."""
    provider = RecordingProvider(date(2026, 11, 25))
    recent = AFTER_CLOSE - timedelta(hours=5)
    older = AFTER_CLOSE - timedelta(hours=30)
    known = FakeKnown(alerts={"AAPL": {("A", recent)}, "MSFT": {("B", older), ("C", older)}})
    await fetch_flow_alerts(provider, known, ["AAPL", "MSFT"], now=AFTER_CLOSE)
    assert provider.flow_calls == [(["AAPL", "MSFT"], older)]
    await fetch_flow_alerts(provider, FakeKnown(), ["AAPL"], now=AFTER_CLOSE)
    assert provider.flow_calls[-1][1] == AFTER_CLOSE - timedelta(days=3)


async def test_a_failed_flow_batch_is_one_fetch_failed_for_its_symbols() -> None:
    """An outage yields one retryable fetch_failed naming the batch, each symbol failed."""
    provider = RecordingProvider(date(2026, 11, 25))
    provider.fail_flows = True
    result = await fetch_flow_alerts(provider, FakeKnown(), ["AAPL", "MSFT"], now=AFTER_CLOSE)
    (failed,) = result.events
    assert isinstance(failed.event, FetchFailed)
    assert failed.event.symbols == ["AAPL", "MSFT"]
    assert failed.event.retryable
    assert [o.status for o in result.outcomes] == ["failed", "failed"]


async def test_earnings_for_many_symbols_are_one_event() -> None:
    """Next earnings dates of several symbols go into one earnings_fetched; ETFs have none."""
    provider = RecordingProvider(date(2026, 11, 25))
    result = await fetch_earnings(provider, ["AAPL", "MSFT", "SPY"])
    (new,) = result.events
    assert new.stream == "earnings"
    assert [e.symbol for e in new.event.entries] == ["AAPL", "MSFT"]  # type: ignore[attr-defined]
    assert [o.status for o in result.outcomes] == ["fetched", "fetched", "no_data"]


def test_symbols_are_normalised_and_bad_ones_rejected_by_name() -> None:
    """Lower case, commas and repeats are tidied; anything not a ticker is named in the error."""
    assert normalize_symbols(["aapl, msft", "BRK.B", "AAPL", "bf-b"]) == [
        "AAPL",
        "MSFT",
        "BRK.B",
        "BF-B",
    ]
    with pytest.raises(InvalidSymbolError, match=r"'1abc'.*'TOOLONGSYMBOL'"):
        normalize_symbols(["1abc", "TOOLONGSYMBOL", "ok"])
    with pytest.raises(InvalidSymbolError, match="no symbol"):
        normalize_symbols([" , "])


async def test_bad_input_is_rejected_before_any_request() -> None:
    """``MarketData`` checks symbols first: a bad one means the provider is never called."""
    provider = RecordingProvider(date(2026, 11, 25))
    service = MarketData(provider, clock=FixedClock(AFTER_CLOSE))
    with pytest.raises(InvalidSymbolError):
        await service.bars(["AAPL", "$%^"], FakeKnown())
    with pytest.raises(InvalidSymbolError):
        await service.flow_alerts(["AAPL;DROP"], FakeKnown())
    assert provider.bar_calls == []
    assert provider.flow_calls == []


async def test_quotes_without_finnhub_say_the_feature_is_off() -> None:
    """No Finnhub key: quote and profile requests raise a clear FeatureDisabledError."""
    service = MarketData(RecordingProvider(date(2026, 11, 25)), clock=FixedClock(AFTER_CLOSE))
    with pytest.raises(FeatureDisabledError, match="finnhub-api-key"):
        await service.quotes(["AAPL"])
    assert service.sources == "recording"


async def test_providers_are_chosen_from_the_configured_keys() -> None:
    """A UW key selects Unusual Whales, none the sample data; Finnhub only with its key."""
    async with HttpSession() as http:
        offline = market_data_from_keys(http, uw_api_key=None, finnhub_api_key=None)
        live = market_data_from_keys(http, uw_api_key="k1", finnhub_api_key="k2")
    assert isinstance(offline.market, SampleProvider)
    assert offline.reference is None
    assert isinstance(live.market, UnusualWhales)
    assert isinstance(live.reference, Finnhub)
    assert live.sources == "unusual_whales and finnhub"
    assert "k1" not in repr(live.market)


async def test_offline_sample_data_move_with_the_clock_one_session_a_day() -> None:
    """The sample provider of ``market_data_from_keys`` takes its date from the injected clock at
    each call, not at construction: a service started on Monday 2026-11-23 whose clock moves on
    gets Tuesday's bar on Tuesday, nothing new on Thanksgiving, and the half day's bar on Friday."""
    clock = FakeClock(datetime(2026, 11, 23, 22, 0, tzinfo=UTC))  # Monday, 17:00 in New York
    async with HttpSession() as http:
        service = market_data_from_keys(http, uw_api_key=None, finnhub_api_key=None, clock=clock)
    known = FakeKnown()

    async def fetch() -> tuple[str, int, str]:
        result = await service.bars(["AAPL"], known)
        known.learn([new.event for new in result.events])
        outcome = result.outcomes[0]
        return outcome.status, outcome.count, outcome.detail

    assert await fetch() == ("fetched", 500, "2024-11-25 to 2026-11-23")
    clock.advance(timedelta(days=1))
    assert await fetch() == ("fetched", 1, "2026-11-24 to 2026-11-24")
    clock.advance(timedelta(days=1))
    assert await fetch() == ("fetched", 1, "2026-11-25 to 2026-11-25")
    clock.advance(timedelta(days=1))  # Thanksgiving: no session
    assert await fetch() == ("up_to_date", 0, "last bar 2026-11-25")
    clock.at = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)  # the half day closed at 13:00 ET
    assert await fetch() == ("fetched", 1, "2026-11-27 to 2026-11-27")


async def test_fetched_events_append_once_and_a_second_fetch_finds_nothing_new(
    tmp_path: Path,
) -> None:
    """Fetch → append → fold the journal → fetch again: nothing new, nothing appended twice."""
    provider = RecordingProvider(date(2026, 11, 25))
    service = MarketData(provider, clock=FixedClock(AFTER_CLOSE))
    known = FakeKnown()
    journal = Journal.open(tmp_path / "journal.sqlite")
    try:
        first = await service.bars(["AAPL", "SPY"], known)
        flows = await service.flow_alerts(["AAPL", "SPY"], known)
        fetch_id = new_fetch_id("bars")
        appended = journal.append(first.events + flows.events, command_id=fetch_id,
                                  actor=Actor.system())  # fmt: skip
        assert len(appended.positions) == len(first.events) + len(flows.events)
        repeat = journal.append(first.events, command_id=fetch_id, actor=Actor.system())
        assert repeat.duplicate
        stored = [e.event for page in journal.read() for e in page]
        known.learn(stored)
        again = await service.bars(["AAPL", "SPY"], known)
        flows_again = await service.flow_alerts(["AAPL", "SPY"], known)
    finally:
        journal.close()
    assert again.events == []
    assert flows_again.events == []
    assert {o.status for o in again.outcomes + flows_again.outcomes} == {"up_to_date"}


def test_the_sample_sessions_used_here_are_real_sessions() -> None:
    """The dates these tests rely on are NYSE sessions (Thanksgiving 2026-11-26 is not)."""
    assert sessions_between(date(2026, 11, 20), date(2026, 11, 27)) == [
        date(2026, 11, 20),
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
    ]
