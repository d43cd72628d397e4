"""The real ports over the offline sample data: the fetch adapter (bars with earnings dates) and
the strategy analyzer (earnings skips), through the command service on a temporary data folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from commands.core.service import CommandService
from commands.picks.daily import DailyRuns
from commands.wiring import close_service, open_default_service
from events.market import EarningsFetched, FetchFailed
from fetchers.sample import SampleProvider
from fetchers.service import MarketData
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import Members

NOW = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)  # a Tuesday after the close


@pytest.fixture
async def sample_service(tmp_path: Path) -> AsyncIterator[CommandService]:
    """The default wiring (fetch adapter, packaged strategies) over the sample provider."""
    clock = FakeClock(NOW)
    market = MarketData(SampleProvider(NOW.date(), now=clock.now), clock=clock)
    service = open_default_service(tmp_path, market, clock=clock)
    yield service
    close_service(service)


def _earnings(service: CommandService) -> list[EarningsFetched]:
    return [
        e.event
        for page in service.journal.read()
        for e in page
        if isinstance(e.event, EarningsFetched)
    ]


async def test_fetch_stocks_appends_next_earnings_dates_only_when_new(
    sample_service: CommandService, members: Members
) -> None:
    """/fetch stocks (any front end, not only the CLI) appends each stock's next earnings date
    with its bars, says it in the reply, and a second fetch appends no date again; ETFs have
    none."""
    first = await sample_service.execute("fetch stocks", {"symbols": "AAPL,SPY"}, members.inv())
    assert first.ok, first.description
    [fetched] = _earnings(sample_service)
    [entry] = fetched.entries
    assert entry.symbol == "AAPL"
    assert entry.day >= date(2026, 3, 10)
    assert f"next earnings {entry.day.isoformat()}" in first.description
    again = await sample_service.execute("fetch stocks", {"symbols": "AAPL,SPY"}, members.inv())
    assert again.ok
    assert len(_earnings(sample_service)) == 1
    assert "next earnings" not in again.description


async def test_a_failed_bars_fetch_does_not_ask_for_earnings(
    sample_service: CommandService, members: Members
) -> None:
    """A symbol whose bars fail (unknown to the provider) fails once, not once more for its
    earnings date; the others still get theirs."""
    reply = await sample_service.execute("fetch stocks", {"symbols": "AAPL,ZZZZ"}, members.inv())
    failures = [
        e.event for page in sample_service.journal.read() for e in page
        if isinstance(e.event, FetchFailed)
    ]  # fmt: skip
    assert [(f.kind, f.symbols) for f in failures] == [("bars", ["ZZZZ"])]
    assert reply.description.count("Failed: ") == 1
    assert [e.symbol for ev in _earnings(sample_service) for e in ev.entries] == ["AAPL"]


async def test_analyze_skips_stocks_with_earnings_soon_and_says_so(
    sample_service: CommandService, members: Members
) -> None:
    """/analyze skip_earnings_within:N skips a stock whose stored earnings date is near (the real
    engine's reason), lists it apart as skipped for earnings, and keeps the ETF."""
    await sample_service.execute("fetch stocks", {"symbols": "AAPL,SPY"}, members.inv())
    reply = await sample_service.execute(
        "analyze",
        {"strategy": "fixed_levels", "symbols": "AAPL,SPY", "skip_earnings_within": 120},
        members.inv(),
    )
    assert reply.ok, reply.description
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["Skipped for earnings"].startswith("AAPL: earnings on ")
    assert "SPY" not in fields["Skipped for earnings"]
    plain = await sample_service.execute(
        "analyze", {"strategy": "fixed_levels", "symbols": "AAPL,SPY"}, members.inv()
    )
    assert "Skipped for earnings" not in {name for name, _, _ in plain.fields}


async def test_the_daily_run_fetches_earnings_and_skips_by_the_guilds_default(
    sample_service: CommandService, members: Members
) -> None:
    """The daily run's bars fetch brings the earnings dates too, and with the guild's
    skip_earnings_within its post names the stock skipped for earnings (real engine)."""
    for symbol in ("AAPL", "SPY"):
        await sample_service.execute("watchlist add", {"symbol": symbol}, members.inv())
    await sample_service.execute(
        "schedule set",
        {"strategy": "fixed_levels", "channel": 77, "skip_earnings_within": 120},
        members.inv(admin=True),
    )
    run = await DailyRuns(sample_service).run(100, now=NOW)
    assert [e.symbol for ev in _earnings(sample_service) for e in ev.entries] == ["AAPL"]
    fields = {name: value for name, value, _ in run.reply.fields}
    assert fields["Skipped for earnings"].startswith("AAPL: earnings on ")
    assert run.failures == []


async def test_a_trade_from_a_pick_carries_its_levels_and_key_and_metrics_show_one_row(
    sample_service: CommandService, members: Members
) -> None:
    """With the real analyzer (which records a scan under the strategy's display name), a trade
    opened with signal: takes the pick's stop and target and the strategy's key; a trade filed
    by key and one from the pick are one /metrics row, named "Fixed Levels"."""
    await sample_service.execute("fetch stocks", {"symbols": "MSFT"}, members.inv())
    scan = await sample_service.execute(
        "analyze", {"strategy": "fixed_levels", "symbols": "MSFT"}, members.inv()
    )
    [button] = scan.buttons
    scan_id = button.custom_id.split(":")[2]
    base = {"symbol": "MSFT", "direction": "long", "entry": "600", "size": "1"}
    from_pick = await sample_service.execute(
        "trade open", {**base, "signal": f"{scan_id}:MSFT"}, members.inv()
    )
    assert from_pick.ok, from_pick.description
    fields = {name: value for name, value, _ in from_pick.fields}
    assert (fields["Stop"], fields["Target"], fields["Strategy"]) == (
        "560",
        "700",
        "fixed\\_levels",
    )
    by_key = await sample_service.execute(
        "trade open", {**base, "strategy": "fixed_levels"}, members.inv()
    )
    other = await sample_service.execute(
        "trade open", {**base, "symbol": "AAPL", "signal": f"{scan_id}:MSFT"}, members.inv()
    )
    assert not other.ok
    assert "is for MSFT, not AAPL" in other.description
    for opened in (from_pick, by_key):
        trade_id = opened.title.split()[1]
        closed = await sample_service.execute(
            "trade close", {"id": trade_id, "exit": "610"}, members.inv()
        )
        assert closed.ok, closed.description
    metrics = await sample_service.execute("metrics", {}, members.inv())
    by_strategy = {name: value for name, value, _ in metrics.fields}["By strategy"]
    assert by_strategy.splitlines() == ["Fixed Levels: 2 trades, +20.00, win 100.0%"]
