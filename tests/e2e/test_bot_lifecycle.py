"""The bot process's life: ``serve`` until SIGTERM then a graceful stop with exit status 0
(journal shipped, lease released, bot closed), and ``ibpicker bot`` refusing to start without a
Discord token.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import serve
from cli import build_app
from sync.writer_lease import LeaseState
from tests.e2e.bot_harness import FakeTime, bot_app, eventually
from tests.e2e.discord_standin import GUILD_READY_TIMEOUT, DiscordStandin


async def test_sigterm_stops_gracefully_and_exits_0(
    discord_standin: DiscordStandin, tmp_path: Path
) -> None:
    """SIGTERM: commands refused, the journal shipped, the lease released, the bot closed, 0."""
    world = discord_standin.world
    async with bot_app(tmp_path / "d", FakeTime(), [world.guild.id]) as app:
        app.bot._connection.guild_ready_timeout = GUILD_READY_TIMEOUT
        served = asyncio.create_task(serve(app, discord_standin.token, stop_bound_s=10))
        await asyncio.wait_for(app.bot.wait_until_ready(), 10)
        await eventually(lambda: bool(discord_standin.commands), "the command sync")
        ping = await (await discord_standin.slash(world.guild.id, world.member.id, "ping")).final()
        head = app.service.journal.head()
        started = asyncio.get_running_loop().time()
        os.kill(os.getpid(), signal.SIGTERM)
        code = await asyncio.wait_for(served, 15)
        took = asyncio.get_running_loop().time() - started
    assert ping.embeds
    assert code == 0
    assert not app.front.accepting
    assert app.flushed
    assert app.runtime.shipper.status().shipped == head > 0
    assert app.runtime.lease.state is LeaseState.RELEASED
    assert took < 5
    assert app.bot.is_closed()


def test_bot_command_without_a_token_says_which_secret_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ibpicker bot`` with no DISCORD_TOKEN (and no Key Vault) exits 2 naming DISCORD_TOKEN."""
    for name in ("DISCORD_TOKEN", "KEY_VAULT_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(build_app(), ["bot", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
