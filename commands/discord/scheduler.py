"""The daily picks loop: post each server's picks at its configured New York time, once a session.

Not disnake's ``tasks.loop``: its ``time=`` rejects zone-aware times, and a run is a date-dependent
instant (DST, half days). Instead, each turn of the loop:

1. asks the daily runs (``commands.picks.daily``) which guilds owe a post now (``due``: enabled,
   a trading session, past the run time, no ``daily_post_published`` for the session in the
   journal, which is what makes a restart catch up a missed run, marked late, and never post
   twice), and keeps those it ``owns``: in a sharded replica, the servers on its shards;
2. for each: ``run`` (fetch, scan, what to post), appends ``daily_post_started`` (the run
   id and the marker its post carries in the embed footer), posts it to the guild's channel, then
   ``record_post`` with the message id. A run that finds its ``daily_post_started`` but no
   ``daily_post_published`` (a crash between Discord accepting the post and the append) reads the
   channel's recent messages for the marker and, when the post is there, records it and does not
   post again;
With ``claimant`` (bot replicas sharing a PostgreSQL journal), step 2 begins with a claim of
the run in the journal (``DailyRuns.claim``): only the replica whose claim is appended runs and
posts; the others record nothing and look again when the claim expires (by then the holder's
``daily_post_published`` normally says it is done).

3. sleeps until the earliest next run (computed by ``commands.picks.schedule`` with
   ``zoneinfo``), at most ``IDLE_S``, or until ``poke()`` (a ``/schedule set``) wakes it.

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
import msgspec

import logs
from commands.core.errors import CommandError
from commands.core.models import DailyRun
from commands.core.ports import Clock
from commands.core.service import CommandService
from commands.discord.render import NO_MENTIONS, render
from commands.picks.daily import DailyRuns
from events.guild import DailyPostStarted

log = logging.getLogger(__name__)

IDLE_S = 3600.0
RETRY_S = 300.0
HISTORY_MARGIN = timedelta(hours=1)
"""How far before a run's ``daily_post_started`` its post is looked for (clock skew)."""
HISTORY_LIMIT = 1000
"""At most this many messages are read looking for an interrupted run's post."""
Sleep = Callable[[float], Awaitable[None]]


class PostRefusedError(CommandError):
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
        claimant: str | None = None,
        owns: Callable[[int], bool] | None = None,
    ) -> None:
        """Post through ``bot`` what ``service`` says is due, by ``clock`` and ``sleep``, for
        the guilds ``owns`` accepts (a sharded replica: those on its shards; default: all)."""
        self.service = service
        self.daily = DailyRuns(service)
        self.owns = owns or (lambda _guild_id: True)
        self.bot = bot
        self.clock = clock
        self.sleep = sleep
        self.idle_s = idle_s
        self.retry_s = retry_s
        self.claimant = claimant
        """This replica's name in claims (``None``: the only writer, no claims)."""
        self._claimed_elsewhere: dict[int, datetime] = {}
        """Guilds whose run another replica claimed, until its claim expires."""
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
        wakes = [w for w in (self.daily.next_wakeup(now),) if w is not None]
        wakes += list(self._retry_at.values())
        wakes += list(self._claimed_elsewhere.values())
        until = min(wakes, default=now + timedelta(seconds=self.idle_s))
        return max(0.0, min((until - now).total_seconds(), self.idle_s))

    async def run_due(self, now: datetime) -> list[int]:
        """Post every run due at ``now``; the guilds that were posted to."""
        done = []
        # Another replica runs the servers on its shards (and wakes for them: this one may wake
        # for their times too and then finds nothing of its own due).
        for guild_id in filter(self.owns, self.daily.due(now)):
            retry = self._retry_at.get(guild_id)
            if retry is not None and now < retry:
                continue
            held_until = self._claimed_elsewhere.get(guild_id)
            if held_until is not None and now < held_until:
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
        """Run, post and record one guild's daily picks; False when there was nothing to post.

        Exactly once across crashes: ``daily_post_started`` (with the post's marker) is appended
        before the post is sent, ``daily_post_published`` after. An attempt that finds the first
        without the second looks for the marked post in the channel and records it instead of
        posting again (the earlier process died after Discord took the post).
        """
        with logs.context(guild_id=guild_id):  # the run adds its run id
            return await self._run_guild(guild_id, now)

    async def _run_guild(self, guild_id: int, now: datetime) -> bool:
        if self.claimant is not None:
            session = self.daily.session(now)
            claim = await self.daily.claim(guild_id, session, claimant=self.claimant, now=now)
            if not claim.won:
                self._claimed_elsewhere[guild_id] = claim.until
                log.info(
                    "daily picks of guild %s for %s are run by replica %s (claimed until %s)",
                    guild_id, session, claim.claimant, claim.until.isoformat(),
                )  # fmt: skip
                return False
            self._claimed_elsewhere.pop(guild_id, None)
        run = await self.daily.run(guild_id, now=now)
        if run.already_posted:
            return False
        intent = await self.daily.intent(run)
        if intent is not None:
            found = await self.find_post(intent)
            if found is not None:
                await self.daily.record_post(
                    run, message_id=found.id, channel_id=found.channel.id,
                    posted_at=found.created_at,
                )  # fmt: skip
                log.warning(
                    "daily picks of guild %s for %s were posted before a restart (message %s): "
                    "recorded, not posted again",
                    guild_id, run.session, found.id,
                )  # fmt: skip
                return False
        channel = await self.channel_for(run)
        marker = post_marker(run.run_id)
        if intent is None:
            await self.daily.record_intent(run, channel_id=channel.id, marker=marker)
        message = await self.send(channel, run, marker)
        recorded = await self.daily.record_post(
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

    async def channel_for(self, run: DailyRun) -> disnake.TextChannel:
        """The text channel a run posts to (refused when missing or of another server)."""
        if run.channel_id is None:
            raise PostRefusedError(f"guild {run.guild_id} has no channel for its daily picks")
        return await self._text_channel(run.channel_id, run.guild_id)

    async def _text_channel(self, channel_id: int, guild_id: int) -> disnake.TextChannel:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            channel = await self.bot.fetch_channel(channel_id)
        if not isinstance(channel, disnake.TextChannel) or channel.guild.id != guild_id:
            raise PostRefusedError(
                f"channel {channel_id} is not a text channel of guild {guild_id}"
            )
        return channel

    async def send(
        self, channel: disnake.TextChannel, run: DailyRun, marker: str
    ) -> disnake.Message:
        """Send a run's post, its embed footer ending with ``marker``."""
        footer = f"{run.reply.footer} · {marker}" if run.reply.footer else marker
        out = render(msgspec.structs.replace(run.reply, footer=footer))
        return await channel.send(
            embed=out.embed, components=out.components, allowed_mentions=NO_MENTIONS
        )

    async def find_post(self, intent: DailyPostStarted) -> disnake.Message | None:
        """The bot's message carrying ``intent.marker`` in the intent's channel, if Discord has it.

        Reads the channel's history from ``HISTORY_MARGIN`` before the intent (clocks differ),
        oldest first, at most ``HISTORY_LIMIT`` messages. Without Read Message History, Discord
        answers no messages: then the post cannot be verified and is sent again (logged).
        """
        try:
            channel = await self._text_channel(intent.channel_id, intent.guild_id)
        except (PostRefusedError, disnake.NotFound, disnake.Forbidden) as exc:
            _unverified("check", intent.channel_id, intent.guild_id, exc, _POSTS_NOW)
            return None
        me = channel.guild.me
        if not channel.permissions_for(me).read_message_history:
            _unverified("check", channel.id, intent.guild_id, _NO_HISTORY, _MAYBE_TWICE)
            return None
        since = (intent.started_at or self.clock.now()) - HISTORY_MARGIN
        history = channel.history(
            limit=HISTORY_LIMIT, after=disnake.Object(disnake.utils.time_snowflake(since))
        )
        try:
            async for message in history:
                if message.author.id == me.id and any(
                    (embed.footer.text or "").endswith(intent.marker) for embed in message.embeds
                ):
                    return message
        except disnake.Forbidden as exc:
            _unverified("read", channel.id, intent.guild_id, exc, _MAYBE_TWICE)
        return None


# Why an interrupted daily post cannot be looked for, and what happens then (``_unverified``).
_POSTS_NOW = "the run posts to its channel now"
_MAYBE_TWICE = "it may be posted twice"
_NO_HISTORY = "no Read Message History permission"


def _unverified(verb: str, channel_id: int, guild_id: int, why: object, then: str) -> None:
    """Log that the channel of an interrupted daily post could not be checked, why, and what
    happens instead (one message shape for the three ways ``find_post`` gives up)."""
    log.warning(
        "cannot %s channel %s for an interrupted daily post of guild %s (%s): %s",
        verb, channel_id, guild_id, why, then,
    )  # fmt: skip


def post_marker(run_id: str) -> str:
    """The text that marks a run's post in its footer (found again after a restart)."""
    return f"run {run_id}"


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the daily picks loop stopped", exc_info=task.exception())
