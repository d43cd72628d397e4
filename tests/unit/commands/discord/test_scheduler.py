"""The daily-picks loop's own decisions: how long to sleep, and a failing guild logged and retried
later (never swallowed, never retried in a hot loop). Posting itself is proven end to end in
tests/e2e/test_bot_daily.py."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, cast
from unittest.mock import create_autospec

import disnake
import pytest

from commands.core.models import DailyRun
from commands.core.service import CommandService
from commands.core.shards import owns_guild
from commands.discord.scheduler import DailyScheduler
from commands.picks.daily import DailyRuns
from events.clock import FixedClock

NOW = datetime(2025, 3, 10, 13, 0, tzinfo=UTC)


class StubDaily:
    """The scheduler's view of the daily runs: one guild always due, its run failing."""

    def __init__(self, wake: datetime | None = None) -> None:
        self.wake = wake
        self.calls = 0

    def due(self, now: datetime) -> list[int]:
        return [7]

    def next_wakeup(self, now: datetime) -> datetime | None:
        return self.wake

    async def run(self, guild_id: int, *, now: datetime) -> DailyRun:
        self.calls += 1
        raise RuntimeError("provider down")


def scheduler(daily: StubDaily, **kwargs: Any) -> DailyScheduler:
    bot = create_autospec(disnake.Client, instance=True, spec_set=True)
    loop = DailyScheduler(cast(CommandService, object()), bot, clock=FixedClock(NOW), **kwargs)
    loop.daily = cast(DailyRuns, daily)
    return loop


def test_sleeps_until_the_next_run_but_never_longer_than_idle() -> None:
    """The delay is the time to the next run, capped so the loop looks again at least hourly."""
    assert scheduler(StubDaily(NOW + timedelta(minutes=10))).delay(NOW) == 600
    assert scheduler(StubDaily(NOW + timedelta(days=3)), idle_s=3600).delay(NOW) == 3600
    assert scheduler(StubDaily(None), idle_s=50).delay(NOW) == 50


async def test_a_failing_guild_is_logged_and_retried_after_the_retry_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run that raises is logged with its traceback, skipped until retry_s has passed."""
    service = StubDaily()
    loop = scheduler(service, retry_s=300)
    with caplog.at_level(logging.ERROR, logger="commands.discord.scheduler"):
        assert await loop.run_due(NOW) == []
    assert service.calls == 1
    assert caplog.records[0].exc_info is not None
    assert "guild 7" in caplog.records[0].getMessage()
    await loop.run_due(NOW + timedelta(seconds=10))
    assert service.calls == 1
    assert loop.delay(NOW + timedelta(seconds=10)) == 290
    await loop.run_due(NOW + timedelta(seconds=300))
    assert service.calls == 2


class TwoShardDaily(StubDaily):
    """Two guilds owed their post, on shards 0 and 1 of two; each run records its guild."""

    ON_ZERO, ON_ONE = 10 << 22, 11 << 22

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[int] = []

    def due(self, now: datetime) -> list[int]:
        return [self.ON_ZERO, self.ON_ONE]

    async def run(self, guild_id: int, *, now: datetime) -> DailyRun:
        self.ran.append(guild_id)
        return await super().run(guild_id, now=now)


@pytest.mark.parametrize(("shard", "runs"), [(0, TwoShardDaily.ON_ZERO), (1, TwoShardDaily.ON_ONE)])
async def test_a_sharded_replica_runs_only_the_guilds_on_its_shards(shard: int, runs: int) -> None:
    """Given every due guild, the loop of the replica running shard 0 (or 1) of two attempts the
    guild on that shard only; unsharded, it attempts both."""
    daily = TwoShardDaily()
    await scheduler(daily, owns=partial(owns_guild, shard_count=2, shard_ids=(shard,))).run_due(NOW)
    assert daily.ran == [runs]
    everything = TwoShardDaily()
    await scheduler(everything).run_due(NOW)
    assert everything.ran == [TwoShardDaily.ON_ZERO, TwoShardDaily.ON_ONE]
