"""The disnake client of the bot: one plain client, or disnake's sharded one for some shards.

``build_client`` makes the bot ``bot.create_app`` runs: every cog added, commands scoped to the
test guilds when given, no message cache. With a shard count (``IBPICKER_SHARDS``) it is
disnake's ``AutoShardedInteractionBot`` running only ``shard_ids`` (``IBPICKER_SHARD_IDS``): one
gateway session per shard, Discord sending each server's events to the session of the server's
shard (``commands.core.shards.shard_of``), so replicas that split the shards split the servers.
Both classes log unhandled event and gateway errors (``LogErrors``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from disnake.ext import commands

from commands.discord.cogs import FrontEnd, add_cogs, intents
from commands.discord.render import NO_MENTIONS

__all__ = ["DiscordBot", "LoggingBot", "LoggingShardedBot", "build_client"]

log = logging.getLogger("ibpicker.bot")


class LogErrors:
    """Unhandled event and gateway errors go to the log (in JSON mode one object with the
    traceback in a field); disnake's own handlers print them to stderr as lines of text, which
    Log Analytics splits."""

    async def on_error(self, event_method: str, *args: Any, **kwargs: Any) -> None:
        """An event listener raised: logged with its traceback, the bot carries on."""
        log.exception("an error in the Discord event %s was ignored", event_method)

    async def on_gateway_error(
        self, event: str, data: Any, shard_id: int | None, exc: Exception, /
    ) -> None:
        """A gateway event could not be parsed: logged with its traceback, the bot carries on."""
        log.error("the Discord gateway event %s could not be handled", event, exc_info=exc)


# The ignores below: with a second base, mypy checks disnake's own two bases against each
# other (CommonBotBase.dispatch vs Client.dispatch), a mismatch inside disnake, not ours.
class LoggingBot(LogErrors, commands.InteractionBot):  # type: ignore[misc]
    """disnake's bot (one gateway session, every server) with errors logged."""


class LoggingShardedBot(LogErrors, commands.AutoShardedInteractionBot):  # type: ignore[misc]
    """disnake's sharded bot (a session per shard it runs) with errors logged."""


DiscordBot = LoggingBot | LoggingShardedBot
"""The bot ``build_client`` makes."""


def build_client(
    front: FrontEnd,
    *,
    guild_ids: Sequence[int] | None,
    shards: int | None = None,
    shard_ids: Sequence[int] | None = None,
) -> DiscordBot:
    """The disnake bot with every cog; commands scoped to ``guild_ids`` when given (fast sync).

    ``shards`` set: the sharded client for ``shard_ids`` of ``shards`` (every shard when the ids
    are not given); unset, the plain client (``shard_ids`` must then be unset too).
    """
    options: dict[str, Any] = {
        "intents": intents(),
        "test_guilds": list(guild_ids) if guild_ids else None,
        "allowed_mentions": NO_MENTIONS,
        # Buttons arrive with their message in the interaction: no message cache is needed.
        "max_messages": None,
    }
    bot: DiscordBot
    if shards is None:
        if shard_ids is not None:
            raise ValueError("shard ids without a shard count")
        bot = LoggingBot(**options)
    else:
        ids = list(shard_ids) if shard_ids is not None else list(range(shards))
        bot = LoggingShardedBot(shard_count=shards, shard_ids=ids, **options)
    add_cogs(bot, front)
    return bot
