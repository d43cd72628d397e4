"""``commands.discord.client.build_client``: the plain disnake client without a shard count,
disnake's sharded client for the configured shards with one (the gateway side is proven against
the stand-in in tests/e2e/test_bot_replicas.py)."""

from __future__ import annotations

from typing import cast

import pytest

from commands.core.service import CommandService
from commands.discord.client import LoggingBot, LoggingShardedBot, build_client
from commands.discord.cogs import FrontEnd


def front() -> FrontEnd:
    """A front end the cogs can be built over (no command runs in these tests)."""
    return FrontEnd(cast(CommandService, object()))


async def test_without_a_shard_count_the_client_is_the_plain_one() -> None:
    """Unsharded, the bot is the one-session client with every cog, scoped to the test guilds."""
    bot = build_client(front(), guild_ids=[11, 12])
    try:
        assert type(bot) is LoggingBot
        assert bot.shard_count is None
        assert set(bot.cogs) == {"SlashCommands", "Components", "ErrorHandler"}
        assert bot._test_guilds == (11, 12)
    finally:
        await bot.close()


@pytest.mark.parametrize(("shard_ids", "runs"), [((1,), [1]), ((0, 2), [0, 2]), (None, [0, 1, 2])])
async def test_with_a_shard_count_the_client_runs_only_the_given_shards(
    shard_ids: tuple[int, ...] | None, runs: list[int]
) -> None:
    """With a count, the bot is disnake's sharded client for exactly the given shards (all of
    them without ids), with the same cogs and guild scope as the plain one."""
    bot = build_client(front(), guild_ids=[11], shards=3, shard_ids=shard_ids)
    try:
        assert isinstance(bot, LoggingShardedBot)
        assert (bot.shard_count, bot.shard_ids) == (3, runs)
        assert set(bot.cogs) == {"SlashCommands", "Components", "ErrorHandler"}
        assert bot._test_guilds == (11,)
    finally:
        await bot.close()


def test_shard_ids_without_a_count_are_refused() -> None:
    """Ids without a count are a programming error the settings already refuse: said at once."""
    with pytest.raises(ValueError, match="shard ids without a shard count"):
        build_client(front(), guild_ids=None, shard_ids=(0,))
