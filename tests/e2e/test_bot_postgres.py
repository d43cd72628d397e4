"""The bot on the PostgreSQL journal through real disnake and the gateway stand-in: a replica
answers commands and posts a server's daily picks once, claimed in the journal; two replicas
connected at once, both owning the server, race for the run and exactly one posts.

The template's journal (sample bars and flows) is copied into a fresh database per test
(``tests.e2e.pg_harness``); each replica has its own data folder (its own analytics) and no
journal file. The server is real PostgreSQL (``tests.support.postgres``): missing, these fail.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path

import pytest

from commands.core.models import Invocation
from events.guild import DailyPostPublished, DailyRunClaimed
from sync.replica import ReplicaRuntime
from tests.e2e.bot_harness import (
    HALF_HOUR,
    START,
    STRATEGY,
    WATCHLIST,
    asleep_until_the_run,
    bot_app,
    eventually,
    running_bot,
    schedule_daily_picks,
)
from tests.e2e.discord_standin import DiscordStandin, run_bot
from tests.e2e.pg_harness import journal_events, pg_template, replica_folder, replica_settings
from tests.support.clocks import FakeTime

pytestmark = pytest.mark.postgres

GUARD_S = 60.0
"""Only a hang guard around event-driven waits."""


async def test_a_replica_on_postgres_answers_and_posts_the_daily_picks_once(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path, pg_url: str
) -> None:
    """One replica on the PostgreSQL journal, connected through disnake: slash commands work
    (the watchlist and schedule land in the database), and at 09:30 New York time the picks
    are posted once in #picks, with the run's claim (this replica's name, host and process) and
    the published post in the journal."""
    pg_template(template, pg_url)
    picks = discord_standin.world.guild.channel("picks")
    data = replica_folder(template, tmp_path / "a")
    settings = replica_settings(pg_url, "replica-a")
    async with running_bot(discord_standin, data, scheduler=True, settings=settings) as r:
        assert isinstance(r.app.runtime, ReplicaRuntime)
        await schedule_daily_picks(r)
        await asleep_until_the_run(r)
        r.time.set(START + timedelta(seconds=HALF_HOUR))
        post = await discord_standin.wait_for_channel_message(picks.id)
        await eventually(
            lambda: len(journal_events(pg_url, "daily_post_published")) == 1, "the post recorded"
        )
    claims = journal_events(pg_url, "daily_run_claimed")
    published = journal_events(pg_url, "daily_post_published")
    assert "Daily picks 2025-03-10" in post.text()
    claimants = [c.claimant for c in claims if isinstance(c, DailyRunClaimed)]
    assert len(claimants) == 1
    assert claimants[0].startswith("replica-a@")
    assert [p.message_id for p in published if isinstance(p, DailyPostPublished)] == [
        post.message_id
    ]
    assert len(discord_standin.channel_posts) == 1
    assert not (data / "journal.sqlite").exists()


async def test_two_replicas_racing_for_a_servers_daily_picks_post_them_once(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path, pg_url: str
) -> None:
    """Two replicas on one journal, both connected (unsharded: both own the server) and both
    waiting for the 09:30 run on one clock. When it comes, both look: exactly one claim is
    appended, exactly one post is sent and recorded, and both loops go back to sleep without
    a second post."""
    pg_template(template, pg_url)
    world = discord_standin.world
    picks = world.guild.channel("picks")
    time = FakeTime(START, waits=True)
    guilds = [world.guild.id, world.other_guild.id]
    folders = [replica_folder(template, tmp_path / name) for name in ("a", "b")]
    async with contextlib.AsyncExitStack() as stack:
        apps = [
            await stack.enter_async_context(
                bot_app(folder, time, guilds, settings=replica_settings(pg_url, name))
            )
            for folder, name in zip(folders, ("a", "b"), strict=True)
        ]
        a, b = apps
        # Set up through replica a's service (one interaction would reach both connections).
        steps: list[tuple[str, dict[str, object]]] = [
            ("watchlist add", {"symbol": s}) for s in WATCHLIST
        ]
        options = {"channel": picks.id, "time": "09:30", "strategy": STRATEGY, "enabled": True}
        steps.append(("schedule set", options))
        for n, (command, opts) in enumerate(steps):
            inv = Invocation(
                command_id=f"setup-{n}", guild_id=world.guild.id, user_id=world.admin.id,
                is_admin=True,
            )  # fmt: skip
            reply = await a.service.execute(command, opts, inv)
            assert reply.ok, reply
        assert isinstance(b.runtime, ReplicaRuntime)
        async with asyncio.timeout(GUARD_S):
            await b.runtime.wait_applied(a.service.journal.head())
        for app in apps:
            await stack.enter_async_context(run_bot(app.bot, discord_standin))
            app.scheduler.start()
        await eventually(lambda: time.sleeps.count(HALF_HOUR) == 2, "both loops asleep")
        slept = len(time.sleeps)
        time.set(START + timedelta(seconds=HALF_HOUR))
        post = await discord_standin.wait_for_channel_message(picks.id)
        await eventually(lambda: len(time.sleeps) >= slept + 2, "both loops asleep again")
        posted = a.scheduler.posted + b.scheduler.posted
    claims = journal_events(pg_url, "daily_run_claimed")
    published = journal_events(pg_url, "daily_post_published")
    assert len(claims) == 1
    assert [p.message_id for p in published if isinstance(p, DailyPostPublished)] == [
        post.message_id
    ]
    assert posted == [(world.guild.id, post.message_id)]
    assert len(discord_standin.channel_posts) == 1
