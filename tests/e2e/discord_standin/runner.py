"""Start the stand-in with disnake pointed at it, and run a real disnake bot against it.

``serve_standin`` sets ``disnake.http.Route.BASE`` (read on every request, by the bot's HTTP
client and by the interaction webhook adapter alike) and restores it afterwards. ``run_bot``
starts ``bot.start(token)`` in a task, waits until the bot is ready and its command sync has
finished, collects gateway and event errors as stand-in failures, and closes the bot cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import traceback
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import disnake
from disnake.ext import commands
from disnake.interactions import ApplicationCommandInteraction

from .driver import DiscordStandin
from .errors import StandinFailureError, StandinTimeoutError
from .world import World

# disnake's default is 2 s of waiting for more GUILD_CREATEs before READY; the stand-in sends
# them all at once, so a short wait makes each bot start take milliseconds.
GUILD_READY_TIMEOUT = 0.05
SYNC_TASK_NAME = "disnake: app_command_preparation"

# The bot classes that have application commands (and so a command sync to wait for).
COMMAND_BOTS = (
    commands.InteractionBot,
    commands.Bot,
    commands.AutoShardedInteractionBot,
    commands.AutoShardedBot,
)


@contextlib.asynccontextmanager
async def serve_standin(
    world: World | None = None, *, shards: int = 1
) -> AsyncIterator[DiscordStandin]:
    """A started stand-in with disnake's REST base pointed at it; everything undone at exit.
    ``shards``: the shard count ``GET /gateway/bot`` recommends (what a sharded bot without its
    own count runs)."""
    standin = DiscordStandin(world, shards=shards)
    await standin.start()
    previous = disnake.http.Route.BASE
    disnake.http.Route.BASE = standin.api_base
    try:
        yield standin
    finally:
        disnake.http.Route.BASE = previous
        await standin.stop()


@dataclass
class BotRun:
    """A bot running against the stand-in."""

    bot: disnake.Client
    task: asyncio.Task[None]
    started_in: float


def _install_hooks(bot: disnake.Client, standin: DiscordStandin) -> None:
    async def on_gateway_error(event: str, data: Any, shard_id: int | None, exc: Exception) -> None:
        detail = "".join(traceback.format_exception(exc)).strip()
        standin.report("gateway_error", f"disnake could not parse {event}: {exc!r}\n{detail}", exc)

    async def on_error(event_method: str, *args: Any, **kwargs: Any) -> None:
        detail = traceback.format_exc().strip()
        standin.report("on_error", f"an event handler for {event_method} raised\n{detail}")

    async def on_slash_command_error(
        inter: ApplicationCommandInteraction[Any], exc: Exception
    ) -> None:
        # Informational: a bot may refuse a command on purpose (a failed check is an answer).
        standin.command_errors.append(f"/{inter.data.name}: {exc!r}")

    async def before_identify_hook(shard_id: int | None, *, initial: bool = False) -> None:
        # disnake waits 5 s before each IDENTIFY after a sharded client's first (Discord's
        # identify rate limit); the stand-in has no such limit, so a two-shard bot starts at once.
        return

    # Instance attributes shadow the Client methods disnake calls for these hooks.
    bot.on_gateway_error = on_gateway_error  # type: ignore[method-assign]
    bot.on_error = on_error  # type: ignore[method-assign]
    bot.before_identify_hook = before_identify_hook  # type: ignore[method-assign]
    if isinstance(bot, COMMAND_BOTS):
        bot.add_listener(on_slash_command_error, "on_slash_command_error")


def _remove_hooks(bot: disnake.Client) -> None:
    for name in ("on_gateway_error", "on_error", "before_identify_hook"):
        bot.__dict__.pop(name, None)


async def _race(
    standin: DiscordStandin,
    task: asyncio.Task[None],
    awaitable: Any,
    timeout: float,  # noqa: ASYNC109
    what: str,
) -> None:
    """Await ``awaitable``; fail at once if the bot task ends or a failure is recorded."""
    waiter = asyncio.ensure_future(awaitable)
    failed: asyncio.Future[None] = asyncio.ensure_future(
        standin.changes.wait_until(lambda: None, timeout, what)
    )
    try:
        done, _ = await asyncio.wait({waiter, task, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (waiter, failed):
            future.cancel()
        await asyncio.gather(waiter, failed, return_exceptions=True)
    if waiter in done and not waiter.cancelled() and waiter.exception() is None:
        return
    if task in done:
        exc = task.exception()
        msg = f"the bot stopped while waiting for {what}: {exc!r}\n{standin.describe_recent()}"
        raise StandinFailureError(msg) from exc
    if failed in done and failed.exception() is not None:
        raise failed.exception()  # type: ignore[misc]
    if waiter.exception() is not None:
        raise StandinFailureError(f"{what} failed: {waiter.exception()!r}") from waiter.exception()
    raise StandinTimeoutError(f"{what} did not finish in {timeout:g}s")


async def _sync_done() -> None:
    """Wait for disnake's command sync task (cache, diff, PUT) started at login."""
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == SYNC_TASK_NAME and not t.done()]
    if tasks:
        await asyncio.gather(*tasks)


@contextlib.asynccontextmanager
async def run_bot(
    bot: disnake.Client,
    standin: DiscordStandin,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109
) -> AsyncIterator[BotRun]:
    """Run ``bot`` against ``standin`` until the block ends; ready and commands synced inside.

    Use a fresh bot object for a restart (as a new process would be). Failures recorded while it
    ran (gateway parse errors, handler errors, rejected requests) are raised at exit.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    connection = bot._connection
    connection.guild_ready_timeout = min(connection.guild_ready_timeout, GUILD_READY_TIMEOUT)
    _install_hooks(bot, standin)
    task = asyncio.create_task(bot.start(standin.token), name="discord-standin: bot")
    try:
        await _race(standin, task, bot.wait_until_ready(), timeout, "the bot to be ready")
        await _race(standin, task, _sync_done(), timeout, "the bot's command sync")
        yield BotRun(bot, task, loop.time() - started)
    finally:
        await bot.close()
        try:
            await asyncio.wait_for(task, timeout)
        except (Exception, asyncio.CancelledError) as exc:
            standin.report("bot", f"the bot task ended with {exc!r}", exc)
        _remove_hooks(bot)
        for pending in asyncio.all_tasks():
            # disnake's delayed command sync sleeps 2 s after cog changes; it must not outlive us.
            if pending.get_name().startswith("disnake:") and not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending
    standin.changes.raise_failures()
