"""The daily run (``commands.picks.daily``) over a real journal, with fake clock, fetcher and
analyzer: due once per session, what failed said, no second post after a restart, earnings."""

from __future__ import annotations

from datetime import date, timedelta

from commands.core.service import CommandService
from commands.picks.daily import DailyRuns
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeAnalyzer, FakeFetcher, Members
from tests.unit.commands.service_kit import Start, open_trade


async def test_daily_run_posts_once_per_session(
    service: CommandService, members: Members, clock: FakeClock, fetcher: FakeFetcher
) -> None:
    """A due run fetches bars and flows, scans, and after record_daily_post is no longer due."""
    await service.execute("watchlist add", {"symbol": "AAPL"}, members.inv())
    await service.execute(
        "schedule set",
        {"strategy": "rsi_flow", "time": "09:30", "channel": 77},
        members.inv(admin=True),
    )
    assert DailyRuns(service).due(clock.now()) == [100]
    run = await DailyRuns(service).run(100, now=clock.now())
    assert run.late
    assert run.picks[0].symbol == "AAPL"
    assert run.channel_id == 77
    assert [c[0] for c in fetcher.calls] == ["bars", "flows"]
    assert "Posted late" in run.reply.description
    assert await DailyRuns(service).record_post(run, message_id=1234)
    assert not await DailyRuns(service).record_post(run, message_id=1235)
    assert DailyRuns(service).due(clock.now()) == []
    again = await DailyRuns(service).run(100, now=clock.now() + timedelta(minutes=1))
    assert again.already_posted


async def test_daily_run_says_what_failed(
    service: CommandService, members: Members, clock: FakeClock, fetcher: FakeFetcher
) -> None:
    """A raising flow provider still yields a post naming the failure."""
    fetcher.raise_flows = True
    await service.execute("watchlist add", {"symbol": "AAPL"}, members.inv())
    await service.execute(
        "schedule set", {"strategy": "rsi_flow", "channel": 77}, members.inv(admin=True)
    )
    run = await DailyRuns(service).run(100, now=clock.now())
    assert run.failures == ["flows: ConnectionError: flow provider down"]
    assert ("What failed", "flows: ConnectionError: flow provider down", False) in run.reply.fields


async def test_a_restart_does_not_post_twice_and_keeps_trades(
    start: Start,
    clock: FakeClock,
    members: Members,
) -> None:
    """After a restart on the same data dir, the posted session is not owed and trades remain."""
    with start() as first:
        await first.execute("watchlist add", {"symbol": "AAPL"}, members.inv())
        await first.execute("schedule set", {"strategy": "rsi_flow", "channel": 77},
                            members.inv(admin=True))  # fmt: skip
        opened = await open_trade(first, members)
        run = await DailyRuns(first).run(100, now=clock.now())
        assert await DailyRuns(first).record_post(run, message_id=1)
    with start() as second:
        assert DailyRuns(second).due(clock.now()) == []
        clock.advance(timedelta(days=1))  # Wednesday: a new session is owed once its time passes
        assert DailyRuns(second).due(clock.now()) == [100]
        trade_id = opened.title.split()[1]
        assert await second.autocomplete("open_trade", "", members.inv()) == [trade_id]


async def test_daily_run_skips_earnings_by_the_guilds_default_and_says_which(
    service: CommandService, members: Members, clock: FakeClock, analyzer: FakeAnalyzer
) -> None:
    """schedule set skip_earnings_within:N is kept with the schedule (status shows it); the daily
    run scans with it and its post names the stocks skipped for earnings; the other settings
    stay as they were."""
    for symbol in ("AAPL", "MSFT"):
        await service.execute("watchlist add", {"symbol": symbol}, members.inv())
    admin = members.inv(admin=True)
    await service.execute("schedule set", {"strategy": "rsi_flow", "channel": 77}, admin)
    reply = await service.execute("schedule set", {"skip_earnings_within": 5},
                                  members.inv(admin=True))  # fmt: skip
    assert reply.ok, reply.description
    assert "skipping stocks with earnings within 5 days" in reply.description
    status = await service.execute("schedule status", {}, members.inv(admin=True))
    assert ("Skip earnings within", "5 days", True) in status.fields
    assert ("Strategy", "rsi_flow", True) in status.fields
    analyzer.earnings = {"AAPL": date(2026, 3, 12)}
    run = await DailyRuns(service).run(100, now=clock.now())
    assert analyzer.skip_earnings == [5]
    assert run.picks == []
    fields = {name: value for name, value, _ in run.reply.fields}
    assert fields["Skipped for earnings"] == "AAPL: earnings on 2026-03-12 (within 5 days)"
    await service.execute("schedule set", {"skip_earnings_within": 0}, members.inv(admin=True))
    off = await service.execute("schedule status", {}, members.inv(admin=True))
    assert ("Skip earnings within", "off", True) in off.fields


async def test_daily_run_names_an_earnings_failure_as_such(
    service: CommandService, members: Members, clock: FakeClock, fetcher: FakeFetcher
) -> None:
    """A failed earnings fetch in the daily run is reported with its own kind, not as bars."""
    await service.execute("watchlist add", {"symbol": "AAPL"}, members.inv())
    await service.execute(
        "schedule set", {"strategy": "rsi_flow", "channel": 77}, members.inv(admin=True)
    )
    fetcher.failing_earnings = {"AAPL"}
    run = await DailyRuns(service).run(100, now=clock.now())
    assert run.failures == ["earnings: HTTP 500"]
