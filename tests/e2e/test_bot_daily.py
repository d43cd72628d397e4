"""The daily picks through the real bot and the stand-in, with a fake clock: posted to the
configured channel at the configured New York time, never twice (also across a restart), a
missed run caught up and marked late, and buttons of an old post working after a restart.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from commands.discord.scheduler import IDLE_S
from events.guild import DailyPostStarted
from tests.e2e.bot_harness import (
    HALF_HOUR,
    START,
    Running,
    asleep_until_the_run,
    copy_template,
    daily_posts,
    eventually,
    running_bot,
    schedule_daily_picks,
)
from tests.e2e.discord_standin import DiscordStandin
from tests.support.clocks import FakeTime


async def test_daily_picks_post_to_their_channel_at_the_configured_time(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """At 09:30 New York time the picks are posted in #picks (once), with Log trade buttons."""
    picks = discord_standin.world.guild.channel("picks")
    async with running_bot(
        discord_standin, copy_template(template, tmp_path / "d"), scheduler=True
    ) as r:
        await schedule_daily_picks(r)
        await asleep_until_the_run(r)
        assert not discord_standin.channel_posts
        r.time.set(START + timedelta(seconds=HALF_HOUR))
        post = await discord_standin.wait_for_channel_message(picks.id)
        await eventually(lambda: len(daily_posts(r)) == 1, "the post to be recorded")
        status = await r.run("schedule status", user=r.world.admin)
        recorded = daily_posts(r)
    assert "Daily picks 2025-03-10" in post.text()
    assert "late" not in post.text().lower()
    assert post.allowed_mentions == {"parse": []}
    assert post.components[0]["components"][0]["custom_id"].startswith("ibpicker:logtrade:")
    assert [p.message_id for p in recorded] == [post.message_id]
    assert "2025-03-10" in status.text()
    assert len(discord_standin.channel_posts) == 1


async def test_restart_neither_posts_twice_nor_breaks_old_buttons(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """A new bot on the same data after the post: no second post; the old button still works."""
    picks = discord_standin.world.guild.channel("picks")
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data, scheduler=True) as first:
        await schedule_daily_picks(first)
        await asleep_until_the_run(first, "the loop to sleep")
        first.time.set(START + timedelta(seconds=HALF_HOUR))
        post = await discord_standin.wait_for_channel_message(picks.id)
        await eventually(lambda: len(daily_posts(first)) == 1, "the post to be recorded")
    later = FakeTime(START + timedelta(minutes=40), waits=True)
    async with running_bot(discord_standin, data, time=later, scheduler=True) as second:
        await eventually(lambda: bool(later.sleeps), "the restarted loop to go to sleep")
        button = post.components[0]["components"][0]["custom_id"]
        modal = await (
            await discord_standin.click(post, button, user_id=second.world.member.id)
        ).callback()
        assert len(daily_posts(second)) == 1
    assert len(discord_standin.channel_posts) == 1
    assert later.sleeps[0] == IDLE_S  # nothing due before 09:30 tomorrow
    assert modal.type == 9


async def test_missed_run_is_caught_up_after_restart_and_marked_late(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """Down at 09:30 and back at 10:15: the picks are posted at once, saying they are late."""
    picks = discord_standin.world.guild.channel("picks")
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data) as first:
        await schedule_daily_picks(first)
    back = FakeTime(START + timedelta(minutes=75), waits=True)
    async with running_bot(discord_standin, data, time=back, scheduler=True) as second:
        post = await discord_standin.wait_for_channel_message(picks.id)
        await eventually(lambda: len(daily_posts(second)) == 1, "the post to be recorded")
        recorded = daily_posts(second)[0]
    assert "late" in post.text().lower()
    assert recorded.late


async def test_schedule_run_posts_the_picks_here_now(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """/schedule run (admin) answers with today's picks at once, and is not the daily post."""
    async with running_bot(discord_standin, copy_template(template, tmp_path / "d")) as r:
        await schedule_daily_picks(r)
        reply = await r.run("schedule run", user=r.world.admin)
        assert daily_posts(r) == []
    assert "Daily picks 2025-03-10" in reply.text()


def intents(r: Running) -> list[DailyPostStarted]:
    """Every ``daily_post_started`` in the journal."""
    return [
        env.event
        for page in r.app.service.journal.read(1, r.app.service.journal.head())
        for env in page
        if isinstance(env.event, DailyPostStarted)
    ]


class CrashPoint:
    """Fault injection: the process dies at this call. It never returns, and the test then
    stops the bot around it, so nothing after this point runs, as with a kill."""

    def __init__(self) -> None:
        """Not reached yet."""
        self.reached = asyncio.Event()

    async def __call__(self, *_: Any, **__: Any) -> Any:
        """Stop here for good."""
        self.reached.set()
        await asyncio.Future()


async def run_into_a_crash(
    r: Running, monkeypatch: pytest.MonkeyPatch, owner: object, name: str
) -> CrashPoint:
    """Schedule the daily picks, wait for the loop to sleep until 09:30, make ``owner.name`` a
    ``CrashPoint`` and move the clock to 09:30: the run goes on until it reaches that point."""
    await schedule_daily_picks(r)
    await asleep_until_the_run(r)
    crash = CrashPoint()
    monkeypatch.setattr(owner, name, crash)
    r.time.set(START + timedelta(seconds=HALF_HOUR))
    return crash


async def test_crash_after_discord_took_the_post_neither_repeats_nor_loses_it(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after Discord accepted the daily post and before ``daily_post_published`` was
    appended: the restarted bot finds its post in the channel by the run's marker, records it
    with that message id and posts nothing. One message in the channel, one published event."""
    picks = discord_standin.world.guild.channel("picks")
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data, scheduler=True) as first:
        # The crash point: the REST POST has been answered, the append not made.
        crash = await run_into_a_crash(first, monkeypatch, first.app.scheduler.daily, "record_post")
        post = await discord_standin.wait_for_channel_message(picks.id)
        await asyncio.wait_for(crash.reached.wait(), timeout=5)
        assert daily_posts(first) == []
        before_restart = intents(first)
    monkeypatch.undo()
    later = FakeTime(START + timedelta(minutes=40), waits=True)
    async with running_bot(discord_standin, data, time=later, scheduler=True) as second:
        await eventually(lambda: len(daily_posts(second)) == 1, "the found post to be recorded")
        await eventually(lambda: bool(later.sleeps), "the restarted loop to go to sleep")
        recorded = daily_posts(second)
    guild_id = discord_standin.world.guild.id
    assert [i.run_id for i in before_restart] == [f"daily:{guild_id}:2025-03-10"]
    assert before_restart[0].marker in post.text()
    assert len(discord_standin.channel_posts) == 1
    assert [(p.message_id, p.channel_id) for p in recorded] == [(post.message_id, picks.id)]
    assert discord_standin.requests_to("GET", f"/channels/{picks.id}/messages")


async def test_crash_before_discord_took_the_post_posts_it_after_restart_marked_late(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after ``daily_post_started`` but before the post reached Discord: the restarted
    bot looks in the channel, finds no post for the run, and posts it once, marked late."""
    picks = discord_standin.world.guild.channel("picks")
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data, scheduler=True) as first:
        crash = await run_into_a_crash(first, monkeypatch, first.app.scheduler, "send")
        await asyncio.wait_for(crash.reached.wait(), timeout=5)
        assert len(intents(first)) == 1
    monkeypatch.undo()
    assert not discord_standin.channel_posts
    back = FakeTime(START + timedelta(minutes=75), waits=True)
    async with running_bot(discord_standin, data, time=back, scheduler=True) as second:
        post = await discord_standin.wait_for_channel_message(picks.id)
        await eventually(lambda: len(daily_posts(second)) == 1, "the post to be recorded")
        recorded = daily_posts(second)
        started = intents(second)
    assert len(discord_standin.channel_posts) == 1
    assert [p.message_id for p in recorded] == [post.message_id]
    assert recorded[0].late
    assert "late" in post.text().lower()
    assert len(started) == 1
    assert started[0].marker in post.text()
    assert discord_standin.requests_to("GET", f"/channels/{picks.id}/messages")


async def test_without_read_message_history_an_interrupted_post_is_sent_again_and_logged(
    discord_standin: DiscordStandin,
    template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The limit of the check, stated: when the bot may not read the channel's history, Discord
    answers no messages, so after the same crash the post is sent again (better twice than
    never), with a warning naming the missing permission; it is recorded once."""
    picks = discord_standin.world.guild.channel("picks")
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data, scheduler=True) as first:
        crash = await run_into_a_crash(first, monkeypatch, first.app.scheduler.daily, "record_post")
        await asyncio.wait_for(crash.reached.wait(), timeout=5)
    monkeypatch.undo()
    everyone = discord_standin.world.guild.roles[0]
    discord_standin.world.guild.roles[0] = dataclasses.replace(
        everyone, permissions=everyone.permissions & ~(1 << 16)
    )  # Read Message History taken away
    later = FakeTime(START + timedelta(minutes=40), waits=True)
    async with running_bot(discord_standin, data, time=later, scheduler=True) as second:
        await eventually(lambda: len(daily_posts(second)) == 1, "the second post to be recorded")
        recorded = daily_posts(second)
    assert len(discord_standin.channel_posts) == 2
    assert recorded[0].message_id == discord_standin.channel_posts[1].message_id
    assert recorded[0].channel_id == picks.id
    assert "no Read Message History permission" in caplog.text
