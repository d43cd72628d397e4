"""The sharded bot through real disnake and the Discord stand-in (two shards, Discord's rule).

The stand-in sends each guild's events to the session of its shard only (``guild`` is on shard 0
and ``other_guild`` on shard 1 of two). One replica running both shards answers and posts in both
servers; two replicas, one shard each, on one shared PostgreSQL journal (a real server), each
answer only their server's interactions and post its daily picks, each server's exactly once.

Nothing is timed: the tests wait on events (a reply, a channel post, the journal, the daily loops
going back to sleep), each under a guard that only keeps a broken build from hanging.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import disnake
import pytest
from disnake.interactions import Interaction

from commands.discord.client import LoggingShardedBot
from commands.discord.scheduler import IDLE_S
from tests.e2e.bot_harness import (
    HALF_HOUR,
    START,
    STRATEGY,
    WATCHLIST,
    Running,
    copy_template,
    daily_posts,
    eventually,
    running_bot,
)
from tests.e2e.discord_standin import DiscordStandin, UserSpec
from tests.e2e.pg_harness import journal_events, pg_template, replica_folder, replica_settings
from tests.support import postgres as postgres_support
from tests.support.clocks import FakeTime

postgres = postgres_support.postgres
pg_url = postgres_support.pg_url


def interactions_seen(bot: disnake.Client) -> list[int]:
    """A list that fills with the guild id of every interaction ``bot`` receives (disnake's own
    ``on_interaction`` event, before any command runs)."""
    seen: list[int] = []

    async def on_interaction(inter: Interaction[Any]) -> None:
        seen.append(inter.guild_id or 0)

    bot.add_listener(on_interaction, "on_interaction")
    return seen


async def schedule_picks(r: Running, guild_id: int, user: UserSpec, channel_id: int) -> None:
    """As ``user`` (a manager of the server): a watchlist and the daily picks at 09:30 New York
    time in ``channel_id``."""
    for symbol in WATCHLIST:
        await r.run("watchlist add", {"symbol": symbol}, user=user, guild_id=guild_id)
    options = {"channel": channel_id, "time": "09:30", "strategy": STRATEGY, "enabled": True}
    reply = await r.run("schedule set", options, user=user, guild_id=guild_id)
    assert "09:30" in reply.text(), reply.text()


def asleep(time: FakeTime, turns: int) -> Callable[[], bool]:
    """True once the daily loops on ``time`` have gone to sleep ``turns`` times in all (each
    turn of a loop ends in one sleep; a loop started after the schedules were set is never
    poked, so its turns are only those the clock wakes)."""
    return lambda: len(time.sleeps) >= turns


async def test_one_replica_running_both_shards_answers_and_posts_in_every_server(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """IBPICKER_SHARDS=2 alone: the bot is disnake's sharded client on shards 0 and 1, each
    guild's commands come on its shard's session and are answered, and at 09:30 each server's
    picks are posted once in its channel."""
    world = discord_standin.world
    picks, general = world.guild.channel("picks"), world.other_guild.general
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data, settings={"shards": 2}) as r:
        bot = r.app.bot
        assert isinstance(bot, LoggingShardedBot)
        seen = interactions_seen(bot)
        await schedule_picks(r, world.guild.id, world.admin, picks.id)
        await schedule_picks(r, world.other_guild.id, world.owner, general.id)
        r.app.scheduler.start()
        await eventually(asleep(r.time, 1), "the daily loop to sleep until 09:30")
        r.time.set(START + timedelta(seconds=HALF_HOUR))
        first = await discord_standin.wait_for_channel_message(picks.id)
        second = await discord_standin.wait_for_channel_message(general.id)
        await eventually(asleep(r.time, 2), "the loop to go back to sleep after its turn")
        recorded = {(p.guild_id, p.message_id) for p in daily_posts(r)}
        sleeps = list(r.time.sleeps)
    sessions = {c.session.shard for c in discord_standin.connections if c.session}
    assert (bot.shard_count, bot.shard_ids) == (2, [0, 1])
    assert sleeps == [HALF_HOUR, IDLE_S]  # nothing more due today
    assert sessions == {(0, 2), (1, 2)}
    assert sorted(set(seen)) == sorted([world.guild.id, world.other_guild.id])
    for shard, guild_id in ((0, world.guild.id), (1, world.other_guild.id)):
        (conn,) = [
            c for c in discord_standin.connections if c.session and c.session.shard[0] == shard
        ]
        carried = {int(d["guild_id"]) for t, d in conn.dispatched if t == "INTERACTION_CREATE"}
        assert carried == {guild_id}
    assert "Daily picks 2025-03-10" in first.text()
    assert "Daily picks 2025-03-10" in second.text()
    assert [p.channel_id for p in discord_standin.channel_posts] in (
        [picks.id, general.id],
        [general.id, picks.id],
    )
    assert recorded == {
        (world.guild.id, first.message_id),
        (world.other_guild.id, second.message_id),
    }


@pytest.mark.postgres
async def test_two_replicas_on_one_journal_each_answer_their_server_and_post_its_picks_once(
    discord_standin: DiscordStandin,
    template: Path,
    tmp_path: Path,
    pg_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Replica a runs shard 0 and replica b shard 1 of two, both on one PostgreSQL journal (a
    real server): a sees and answers only guild's interactions and b only other_guild's; at
    09:30 a posts guild's picks and b other_guild's, each exactly once in its channel, each run
    claimed in the journal by its own replica, one daily_post_published per server; neither
    replica so much as tries the other's server (no claim of it lost)."""
    caplog.set_level(logging.INFO, logger="commands.discord.scheduler")
    world = discord_standin.world
    picks, general = world.guild.channel("picks"), world.other_guild.general
    pg_template(template, pg_url)
    time = FakeTime(START, waits=True)

    def replica(name: str, shard: int) -> Any:
        settings = replica_settings(pg_url, name, shards=2, shard_ids=[shard])
        folder = replica_folder(template, tmp_path / name)
        return running_bot(discord_standin, folder, time=time, settings=settings)

    async with replica("a", 0) as a, replica("b", 1) as b:
        seen = {"a": interactions_seen(a.app.bot), "b": interactions_seen(b.app.bot)}
        guilds = {"a": [g.id for g in a.app.bot.guilds], "b": [g.id for g in b.app.bot.guilds]}
        await schedule_picks(a, world.guild.id, world.admin, picks.id)
        await schedule_picks(b, world.other_guild.id, world.owner, general.id)
        a.app.scheduler.start()
        b.app.scheduler.start()
        await eventually(asleep(time, 2), "both daily loops to sleep until 09:30")
        time.set(START + timedelta(seconds=HALF_HOUR))
        first = await discord_standin.wait_for_channel_message(picks.id)
        second = await discord_standin.wait_for_channel_message(general.id)
        await eventually(asleep(time, 4), "both loops to go back to sleep after their turn")
        posted = {"a": list(a.app.scheduler.posted), "b": list(b.app.scheduler.posted)}
    assert guilds == {"a": [world.guild.id], "b": [world.other_guild.id]}
    assert set(seen["a"]) == {world.guild.id}
    assert set(seen["b"]) == {world.other_guild.id}
    assert posted == {
        "a": [(world.guild.id, first.message_id)],
        "b": [(world.other_guild.id, second.message_id)],
    }
    channels = [p.channel_id for p in discord_standin.channel_posts]
    assert len(channels) == 2
    assert set(channels) == {picks.id, general.id}
    lost = [r.getMessage() for r in caplog.records if "are run by replica" in r.getMessage()]
    assert lost == []
    published = journal_events(pg_url, "daily_post_published")
    assert sorted((p.guild_id, p.message_id) for p in published) == sorted(
        [(world.guild.id, first.message_id), (world.other_guild.id, second.message_id)]
    )
    claims = journal_events(pg_url, "daily_run_claimed")
    # A claimant is the replica's IBPICKER_REPLICA_ID@host:pid.
    assert sorted((c.guild_id, c.claimant.split("@")[0]) for c in claims) == sorted(
        [(world.guild.id, "a"), (world.other_guild.id, "b")]
    )
