"""The daily picks loop: post each server's picks at its configured New York time, once a session.

Not disnake's ``tasks.loop``: its ``time=`` rejects zone-aware times, and a run is a date-dependent
instant (DST, half days). Instead, each turn of the loop:

1. asks the service which guilds owe a post now (``due_daily``: enabled, a trading session, past
   the run time, no ``daily_post_published`` for the session in the journal, which is what makes a
   restart catch up a missed run, marked late, and never post twice);
2. for each: ``run_daily`` (fetch, scan, what to post), posts it to the guild's channel, then
   ``record_daily_post`` with the message id;
3. sleeps until the earliest next run (computed by ``commands.schedule`` with ``zoneinfo``), at most
   ``IDLE_S``, or until ``poke()`` (a ``/schedule set``) wakes it.

The clock and the sleep are injected (tests pass a fake clock whose sleep moves time). The loop
starts once the bot is ready. A failing guild is logged with its traceback and retried after
``RETRY_S``; the loop never dies silently (a crash of the task itself is logged too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import disnake

from commands.discord_render import NO_MENTIONS, render
from commands.models import DailyRun
from commands.ports import Clock
from commands.service import CommandService

log = logging.getLogger(__name__)

IDLE_S = 3600.0
RETRY_S = 300.0
Sleep = Callable[[float], Awaitable[None]]


class PostRefusedError(Exception):
    """The configured channel cannot take the post (missing, not a text channel, other server)."""


class DailyScheduler:
    """Runs the daily picks of every guild; see the module docstring."""

    def __init__(
        self,
        service: CommandService,
        bot: disnake.Client,
        *,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        idle_s: float = IDLE_S,
        retry_s: float = RETRY_S,
    ) -> None:
        """Post through ``bot`` what ``service`` says is due, by ``clock`` and ``sleep``."""
        self.service = service
        self.bot = bot
        self.clock = clock
        self.sleep = sleep
        self.idle_s = idle_s
        self.retry_s = retry_s
        self.posted: list[tuple[int, int]] = []
        """(guild id, message id) of each post made by this process, in order."""
        self._poked = asyncio.Event()
        self._retry_at: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop (it waits until the bot is ready)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="ibpicker: daily picks")
            self._task.add_done_callback(_log_crash)

    def poke(self) -> None:
        """Look again now (a schedule changed)."""
        self._poked.set()

    async def stop(self) -> None:
        """Stop the loop (a post in progress is cancelled before it is sent or recorded)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- the loop -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            self._poked.clear()
            now = self.clock.now()
            try:
                await self.run_due(now)
                delay = self.delay(now)
            except Exception:
                log.exception("the daily picks loop failed; it looks again in %.0f s", self.retry_s)
                delay = self.retry_s
            await self._sleep_or_poke(delay)

    async def _sleep_or_poke(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        poked = asyncio.ensure_future(self._poked.wait())
        try:
            await asyncio.wait({sleeper, poked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (sleeper, poked):
                waiter.cancel()
            await asyncio.gather(sleeper, poked, return_exceptions=True)

    def delay(self, now: datetime) -> float:
        """Seconds until the loop should look again."""
        wakes = [w for w in (self.service.next_daily_wakeup(now),) if w is not None]
        wakes += list(self._retry_at.values())
        until = min(wakes, default=now + timedelta(seconds=self.idle_s))
        return max(0.0, min((until - now).total_seconds(), self.idle_s))

    async def run_due(self, now: datetime) -> list[int]:
        """Post every run due at ``now``; the guilds that were posted to."""
        done = []
        for guild_id in self.service.due_daily(now):
            retry = self._retry_at.get(guild_id)
            if retry is not None and now < retry:
                continue
            try:
                if await self.run_guild(guild_id, now):
                    done.append(guild_id)
                self._retry_at.pop(guild_id, None)
            except Exception:
                log.exception(
                    "daily picks for guild %s failed; retried in %.0f s", guild_id, self.retry_s
                )
                self._retry_at[guild_id] = now + timedelta(seconds=self.retry_s)
        return done

    async def run_guild(self, guild_id: int, now: datetime) -> bool:
        """Run, post and record one guild's daily picks; False when there was nothing to post."""
        run = await self.service.run_daily(guild_id, now=now)
        if run.already_posted:
            return False
        message = await self.post(run)
        recorded = await self.service.record_daily_post(
            run, message_id=message.id, channel_id=message.channel.id, posted_at=self.clock.now()
        )
        self.posted.append((guild_id, message.id))
        if not recorded:
            log.warning("daily picks of guild %s for %s were posted twice", guild_id, run.session)
        log.info(
            "daily picks posted: guild %s, session %s, %d picks%s",
            guild_id,
            run.session,
            len(run.picks),
            " (late)" if run.late else "",
        )
        return True

    async def post(self, run: DailyRun) -> disnake.Message:
        """Send a run's post to its channel."""
        if run.channel_id is None:
            raise PostRefusedError(f"guild {run.guild_id} has no channel for its daily picks")
        channel = self.bot.get_channel(run.channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(run.channel_id)
        if not isinstance(channel, disnake.TextChannel) or channel.guild.id != run.guild_id:
            raise PostRefusedError(
                f"channel {run.channel_id} is not a text channel of guild {run.guild_id}"
            )
        out = render(run.reply)
        return await channel.send(
            embed=out.embed, components=out.components, allowed_mentions=NO_MENTIONS
        )


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the daily picks loop stopped", exc_info=task.exception())
