"""The real bot against the gateway stand-in with a fake clock that moves: each new day's daily
run fetches that day's new sample bar and posts on it, and a bot up for eleven months (past the
end of the calendar a process used to build a year ahead of its start) still finds its sessions.

Before, the sample provider's date was fixed when the bot started (a bot started on Monday was
"up to date, last bar Monday" on Wednesday), and the NYSE calendar ended a year after the
process started. Expectations are written down per date, never computed from a clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from events.market import BarsFetched
from tests.e2e.bot_harness import (
    START,
    WATCHLIST,
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

POST_TIMEOUT_S = 30.0
"""Generous: a first daily run fetches two years of bars for the watchlist (no timing asserted)."""


def last_bar(r: Running, symbol: str) -> date:
    """The newest bar of ``symbol`` in the journal."""
    journal = r.app.service.journal
    return max(
        bar.day
        for page in journal.read(1, journal.head())
        for env in page
        if isinstance(env.event, BarsFetched) and env.event.symbol == symbol
        for bar in env.event.bars
    )


async def post_at(r: Running, standin: DiscordStandin, at: datetime, posts: int) -> str:
    """Move the clock to ``at`` (the daily loop asleep); the text of the daily post that follows
    (the ``posts``-th), once the loop has gone back to sleep after it."""
    slept = len(r.time.sleeps)
    r.time.set(at)
    post = await standin.wait_for_channel_message(
        r.world.guild.channel("picks").id, timeout=POST_TIMEOUT_S
    )
    await eventually(lambda: len(daily_posts(r)) == posts, f"post {posts} to be recorded")
    # Moving the clock while the loop is still busy would make it sleep from the moved time.
    await eventually(lambda: len(r.time.sleeps) > slept, "the daily loop to sleep again")
    return post.text()


async def test_a_bot_whose_clock_moves_a_day_on_fetches_the_new_session_and_posts_on_it(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> None:
    """Started Monday 2025-03-10 (bars to Friday 03-07): at 09:30 each day the daily run posts
    that session's picks on bars up to the previous session (Monday's post on Friday's bar,
    Tuesday's on Monday's, Wednesday's on Tuesday's: the day a fixed sample date went stale)."""
    data = copy_template(template, tmp_path / "d")
    async with running_bot(discord_standin, data, scheduler=True) as r:
        await schedule_daily_picks(r)
        # Both tests start at 09:00 New York time: the loop sleeps half an hour, until 09:30.
        await asleep_until_the_run(r, "the daily loop to sleep until 09:30")
        days = [
            (timedelta(days=0), "2025-03-10", date(2025, 3, 7)),
            (timedelta(days=1), "2025-03-11", date(2025, 3, 10)),
            (timedelta(days=2), "2025-03-12", date(2025, 3, 11)),
        ]
        for n, (offset, session, bar_day) in enumerate(days, start=1):
            text = await post_at(r, discord_standin, START + offset + timedelta(minutes=30), n)
            assert f"Daily picks {session}" in text
            assert "late" not in text.lower()
            assert [last_bar(r, s) for s in WATCHLIST] == [bar_day] * len(WATCHLIST)
        sessions = [p.session for p in daily_posts(r)]
    assert sessions == [date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12)]


async def test_a_bot_up_for_eleven_months_still_finds_its_sessions(
    discord_standin: DiscordStandin, tmp_path: Path
) -> None:
    """A bot started on Tuesday 2027-06-01 (an empty data folder: the first daily run fetches
    the bars) posts that day; its clock moved to Monday 2028-05-15, eleven and a half months on,
    it posts that session's picks on bars to Friday 2028-05-12 (the calendar reaches that far)."""
    start = datetime(2027, 6, 1, 13, 0, tzinfo=UTC)  # 09:00 EDT
    clock = FakeTime(start, waits=True)
    async with running_bot(discord_standin, tmp_path / "d", time=clock, scheduler=True) as r:
        await schedule_daily_picks(r)
        # Both tests start at 09:00 New York time: the loop sleeps half an hour, until 09:30.
        await asleep_until_the_run(r, "the daily loop to sleep until 09:30")
        first = await post_at(r, discord_standin, start + timedelta(minutes=30), 1)
        assert "Daily picks 2027-06-01" in first
        assert last_bar(r, "AAPL") == date(2027, 5, 28)  # Friday; Monday 05-31 is Memorial Day
        later = await post_at(r, discord_standin, datetime(2028, 5, 15, 13, 30, tzinfo=UTC), 2)
        assert "Daily picks 2028-05-15" in later
        assert "late" not in later.lower()
        assert last_bar(r, "AAPL") == date(2028, 5, 12)
        status = await r.run("schedule status", user=r.world.admin)
    assert "2028-05-16 09:30 EDT" in status.text()
