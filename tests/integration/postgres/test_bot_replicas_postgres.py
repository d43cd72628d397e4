"""Bot replicas on one PostgreSQL journal (``IBPICKER_JOURNAL_URL``), against the real server:
each replica's projections follow the other's appends, a command id is idempotent across them,
the daily run's claim lets exactly one win, and health reports the lag behind the head.

The apps are the real ``bot.create_app`` (not connected to Discord: the e2e suite does that);
waits are event-driven (``ReplicaRuntime.wait_applied``, an event set by the follower), each
under a generous guard that only keeps a broken build from hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot import BotApp
from commands.core.models import Invocation
from commands.picks.daily import CLAIM_TTL, claim_stream
from events.base import Actor, NewEvent
from events.guild import DailyRunClaimed, WatchlistSymbolAdded
from events.journal import Journal
from events.trading import TradeOpened
from settings import load_settings
from sync.replica import ReplicaConfig, ReplicaRuntime
from tests.e2e.bot_harness import START, bot_app
from tests.e2e.pg_harness import journal_events, replica_settings
from tests.support.clocks import FakeClock, FakeTime

pytestmark = pytest.mark.postgres

GUARD_S = 60.0
"""Only a hang guard: the waits end on an event long before."""
GUILD = 4242


@contextlib.asynccontextmanager
async def replicas(
    tmp_path: Path, url: str, time: FakeTime
) -> AsyncIterator[tuple[BotApp, BotApp]]:
    """Two started bot apps, ``a`` and ``b``, each with its own data folder, on the journal at
    ``url``."""
    async with (
        bot_app(tmp_path / "a", time, [GUILD], settings=replica_settings(url, "a")) as a,
        bot_app(tmp_path / "b", time, [GUILD], settings=replica_settings(url, "b")) as b,
    ):
        yield a, b


def replica(app: BotApp) -> ReplicaRuntime:
    """The app's replica runtime (the PostgreSQL journal selects it)."""
    assert isinstance(app.runtime, ReplicaRuntime)
    return app.runtime


def inv(command_id: str, *, admin: bool = True) -> Invocation:
    """A command of a member of ``GUILD``."""
    return Invocation(command_id=command_id, guild_id=GUILD, user_id=7, is_admin=admin)


async def test_the_bot_on_the_postgres_journal_runs_a_replica_without_file_lease_or_blob(
    tmp_path: Path, pg_url: str
) -> None:
    """With IBPICKER_JOURNAL_URL the bot starts as a replica: the PostgreSQL journal, the replica
    runtime (no lease, no Blob store), no journal file in its folder, and it takes commands."""
    time = FakeTime(START, waits=True)
    async with bot_app(tmp_path / "a", time, [GUILD], settings=replica_settings(pg_url, "a")) as a:
        reply = await a.service.execute("watchlist add", {"symbol": "AAPL"}, inv("c1"))
        runtime = replica(a)
        health = runtime.health()
    assert reply.ok, reply
    assert a.service.journal.url == pg_url
    assert a.store is None
    assert health.lease_state == "unused"
    assert not (tmp_path / "a" / "journal.sqlite").exists()
    assert journal_events(pg_url, "watchlist_symbol_added")


async def test_a_command_in_one_replica_reaches_the_other_replicas_projections(
    tmp_path: Path, pg_url: str
) -> None:
    """A watchlist symbol added and a trade opened through replica a are in replica b's state
    projections and analytics once b's follower applied a's head (woken by the database's
    notification or its poll), without b appending anything; b can then close the trade."""
    time = FakeTime(START, waits=True)
    async with replicas(tmp_path, pg_url, time) as (a, b):
        head_b = b.service.journal.head()
        await a.service.execute("watchlist add", {"symbol": "MSFT"}, inv("w1"))
        opened = await a.service.execute(
            "trade open",
            {"symbol": "AAPL", "direction": "long", "entry": 187.5, "size": 10},
            inv("t1"),
        )
        head = a.service.journal.head()
        async with asyncio.timeout(GUARD_S):
            await replica(b).wait_applied(head)
        watched = b.service.guilds.watched_symbols(GUILD)
        open_in_b = [t.trade_id for t in b.service.trades.open_trades(GUILD, 7)]
        assert b.service.analytics_runner is not None
        analytics = set(b.service.analytics_runner.positions().values())
        trade_id = opened.title.split()[1]
        closed = await b.service.execute("trade close", {"id": trade_id, "exit": 190.25}, inv("t2"))
    assert head > head_b
    assert watched == ["MSFT"]
    assert open_in_b == [trade_id]
    assert analytics == {head}
    assert closed.ok, closed


async def test_a_command_id_is_appended_once_across_replicas(tmp_path: Path, pg_url: str) -> None:
    """The same command id run by both replicas at once (a retried interaction reaching two
    replicas) appends its events once: one trade_opened, and both answer it as opened."""
    time = FakeTime(START, waits=True)
    options = {"symbol": "NVDA", "direction": "long", "entry": 100.0, "size": 1}
    async with replicas(tmp_path, pg_url, time) as (a, b):
        first, second = await asyncio.gather(
            a.service.execute("trade open", options, inv("same-id")),
            b.service.execute("trade open", options, inv("same-id")),
        )
        again = await b.service.execute("trade open", options, inv("same-id"))
    opened = journal_events(pg_url, "trade_opened")
    assert len(opened) == 1
    assert isinstance(opened[0], TradeOpened)
    assert first.ok
    assert second.ok
    assert again.ok
    assert opened[0].trade_id in first.title


async def test_two_replicas_racing_for_a_daily_run_claim_it_once(
    tmp_path: Path, pg_url: str
) -> None:
    """Both replicas claim guild GUILD's run for one session at once: exactly one claim is
    appended and wins; the other learns the winner and its expiry and appends nothing. Asking
    again, the winner still holds it (nothing appended) and the loser is still refused; after
    CLAIM_TTL with no post, the loser takes it over with the next stream version."""
    time = FakeTime(START, waits=True)
    session = date(2025, 3, 10)
    now = START + timedelta(minutes=30)
    async with replicas(tmp_path, pg_url, time) as (a, b):
        claims = await asyncio.gather(
            a.scheduler.daily.claim(GUILD, session, claimant="a", now=now),
            b.scheduler.daily.claim(GUILD, session, claimant="b", now=now),
        )
        winner = "a" if claims[0].won else "b"
        loser_daily = b.scheduler.daily if winner == "a" else a.scheduler.daily
        winner_daily = a.scheduler.daily if winner == "a" else b.scheduler.daily
        loser = "b" if winner == "a" else "a"
        held = await winner_daily.claim(GUILD, session, claimant=winner, now=now)
        refused = await loser_daily.claim(GUILD, session, claimant=loser, now=now)
        after_ttl = now + CLAIM_TTL + timedelta(seconds=1)
        taken = await loser_daily.claim(GUILD, session, claimant=loser, now=after_ttl)
        version = a.service.journal.stream_version(claim_stream(GUILD, session))
    assert sorted(c.won for c in claims) == [False, True]
    assert {c.claimant for c in claims} == {winner}
    assert all(c.until == now + CLAIM_TTL for c in claims)
    assert held.won
    assert not refused.won
    assert refused.claimant == winner
    assert taken.won
    assert version == 2
    recorded = journal_events(pg_url, "daily_run_claimed")
    assert [c.claimant for c in recorded if isinstance(c, DailyRunClaimed)] == [winner, loser]


async def test_readiness_reports_the_lag_behind_the_shared_head_and_recovers(pg_url: str) -> None:
    """A replica whose projections are still applying three events another writer appended:
    /readyz answers 503 naming the lag (3 events, 42 s: the oldest missing event was recorded
    42 s before the replica's clock), /metrics carries the lag, the position and the shards;
    once applied, /readyz answers 200 with no lag."""
    recorded = datetime(2025, 3, 10, 14, 0, tzinfo=UTC)
    writer = Journal.open("", url=pg_url)
    reader = Journal.open("", url=pg_url)
    entered, release = asyncio.Event(), asyncio.Event()
    applied: list[int] = []

    async def follow(head: int) -> int:
        if head:  # the start's empty round passes
            entered.set()
            await release.wait()
        applied.append(head)
        return head

    runtime = ReplicaRuntime(
        reader,
        ReplicaConfig(health_port=0, max_lag_events=1, max_lag_s=600),  # 0: the OS picks one
        follow=follow,
        clock=FakeClock(recorded + timedelta(seconds=42)),
        shards=[1, 3],
        shard_count=4,
    )
    await runtime.start()
    assert runtime.health_server is not None
    base = f"http://127.0.0.1:{runtime.health_server.port}"
    try:
        for n in range(3):
            event = WatchlistSymbolAdded(guild_id=GUILD, symbol=f"S{n}")
            writer.append(
                [NewEvent(f"watchlist:{GUILD}", event)],
                command_id=f"w{n}",
                actor=Actor(guild_id=GUILD),
                recorded_at=recorded,
            )
        async with asyncio.timeout(GUARD_S):
            await entered.wait()  # the follower read head 3 and is applying it
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as resp:
                behind_status, behind = resp.status, await resp.json()
            async with http.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            release.set()
            async with asyncio.timeout(GUARD_S):
                await runtime.wait_applied(3)
            async with http.get(f"{base}/readyz") as resp:
                ready_status, ready = resp.status, await resp.json()
    finally:
        await runtime.stop()
        writer.close()
        reader.close()
    assert behind_status == 503
    assert behind["lag"] == {"events": 3, "seconds": 42.0}
    assert any("3 events (42.0 s) behind the journal head" in r for r in behind["reasons"])
    assert behind["shards"] == [1, 3]
    assert behind["shard_count"] == 4
    assert "ibpicker_replica_lag_events 3.0" in metrics
    assert "ibpicker_replica_lag_seconds 42.0" in metrics
    assert "ibpicker_projections_position 0.0" in metrics
    assert 'ibpicker_shard{shard="3"} 1.0' in metrics
    assert "ibpicker_shard_count 4.0" in metrics
    assert ready_status == 200, ready
    assert ready["lag"] == {"events": 0, "seconds": 0.0}
    assert applied == [3]


def test_replica_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """IBPICKER_REPLICA_ID and the lag bounds reach the replica's config; unset, its defaults."""
    from sync.runtime import SyncConfig

    monkeypatch.setenv("IBPICKER_REPLICA_ID", "replica-7")
    monkeypatch.setenv("IBPICKER_REPLICA_MAX_LAG_EVENTS", "50")
    monkeypatch.setenv("IBPICKER_REPLICA_MAX_LAG_S", "5")
    settings = load_settings()
    config = ReplicaConfig.from_settings(settings, SyncConfig(health_port=9))
    for name in ("IBPICKER_REPLICA_MAX_LAG_EVENTS", "IBPICKER_REPLICA_MAX_LAG_S"):
        monkeypatch.delenv(name)
    defaults = ReplicaConfig.from_settings(load_settings(), SyncConfig())
    assert settings.replica_id == "replica-7"
    assert (config.max_lag_events, config.max_lag_s, config.health_port) == (50, 5.0, 9)
    assert (defaults.max_lag_events, defaults.max_lag_s) == (1000, 30.0)


@pytest.mark.parametrize(
    ("listen", "poll_s"),
    [(True, 3600.0), (False, 0.05)],
    ids=["woken-by-notify-alone", "polling-alone"],
)
async def test_a_replica_follows_another_writers_appends_by_notify_or_by_poll(
    pg_url: str, listen: bool, poll_s: float
) -> None:
    """Each way of learning about other writers' appends works on its own: with LISTEN and a
    poll an hour apart, the database's notification alone wakes the replica; without LISTEN, the
    poll alone brings it to the head. Either way it applies exactly up to the new head."""
    writer = Journal.open("", url=pg_url)
    reader = Journal.open("", url=pg_url)
    heads: list[int] = []

    async def follow(head: int) -> int:
        heads.append(head)
        return head

    runtime = ReplicaRuntime(
        reader,
        ReplicaConfig(health_port=None, poll_s=poll_s, listen=listen),
        follow=follow,
        clock=FakeClock(START),
    )
    await runtime.start()
    try:
        if listen:
            async with asyncio.timeout(GUARD_S):
                await runtime.listening.wait()  # appends from now on are notified
        event = WatchlistSymbolAdded(guild_id=GUILD, symbol="AAPL")
        writer.append([NewEvent(f"watchlist:{GUILD}", event)], command_id="w", actor=Actor())
        async with asyncio.timeout(GUARD_S):
            await runtime.wait_applied(1)
    finally:
        await runtime.stop()
        writer.close()
        reader.close()
    assert heads == [1]
    assert runtime.lag() == (0, 0.0)


async def test_stop_ends_the_follower_woken_at_that_moment(pg_url: str) -> None:
    """stop() right as the first notification wakes the follower (the listener's first wake-up
    is immediate) ends both tasks: none named ``replica:`` is left (with asyncio.wait_for in the
    follow loop, Python 3.11 dropped that cancellation and the loop ran on)."""
    reader = Journal.open("", url=pg_url)

    async def follow(head: int) -> int:
        return head

    runtime = ReplicaRuntime(
        reader, ReplicaConfig(health_port=None, poll_s=3600), follow=follow, clock=FakeClock()
    )
    await runtime.start()
    try:
        async with asyncio.timeout(GUARD_S):
            await runtime.listening.wait()
    finally:
        await runtime.stop()
        reader.close()
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("replica:")]
    assert left == []
