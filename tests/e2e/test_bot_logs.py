"""The bot's own log output as Azure collects it: JSON lines on stdout, none holding a secret."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import disnake
import pytest

import bot
import logs
from commands.discord.client import DiscordBot, LoggingBot, LoggingShardedBot
from settings import load_settings
from tests.e2e.bot_harness import (
    HALF_HOUR,
    START,
    asleep_until_the_run,
    copy_template,
    daily_posts,
    eventually,
    prepare_template,
    running_bot,
    schedule_daily_picks,
)
from tests.e2e.discord_standin import DiscordStandin
from tests.support.azurite import ACCOUNT_KEY, Azurite, azurite

__all__ = ["azurite"]

SECRETS = {
    "DISCORD_TOKEN": "MTA5ODc2NTQzMjEwOTg3NjU0Mw.Gx1y2z.log-scan-discord-0001",
    "UW_API_KEY": "uw-log-scan-secret-0002",
    "ANTHROPIC_API_KEY": "sk-ant-log-scan-secret-0003",
    "FINNHUB_API_KEY": "finnhub-log-scan-secret-0004",
}


@pytest.fixture
def json_stdout() -> Iterator[io.StringIO]:
    """The bot's log set-up (``logs.configure("service")``, under ``debug`` so that Azure's
    request lines are there to scan too) writing to a stream that is not a terminal, as the
    container's stdout is; undone at the end."""
    out = io.StringIO()
    logs.configure("service", stream=out, debug=True, force=True)
    yield out
    logs.reset()


async def test_json_log_lines_of_a_bot_start_and_stop_hold_no_secret(
    discord_standin: DiscordStandin,
    azurite: Azurite,
    json_stdout: io.StringIO,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``bot.main`` with all four secrets and an Azure Blob connection string in its environment
    starts (restore, lease, Discord), syncs its commands and stops on SIGTERM with 0; every line
    it logged, DEBUG and the libraries' included, is one JSON object with timestamp, level,
    logger and message, and none holds a secret value or the storage account key."""
    monkeypatch.delenv(logs.FORMAT_ENV, raising=False)
    monkeypatch.delenv("KEY_VAULT_URL", raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("IBPICKER_BLOB_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("IBPICKER_BLOB_CONTAINER", "bot-log-scan")
    monkeypatch.setenv("DISCORD_GUILD_ID", str(discord_standin.world.guild.id))
    discord_standin.token = SECRETS["DISCORD_TOKEN"]  # the gateway accepts only this token
    logging.getLogger().setLevel(logging.DEBUG)  # more lines to scan than the bot's INFO
    settings = load_settings(data_dir=tmp_path / "data", health_port=0)

    running = asyncio.create_task(bot.main(settings))
    guild = discord_standin.world.guild.id

    def serving() -> bool:
        return bool(discord_standin.commands.commands_in(guild)) or running.done()

    await eventually(serving, "the command sync", 20)
    text = json_stdout.getvalue()
    assert not running.done(), f"the bot ended early: {running.result()}; {text[-3000:]}"
    os.kill(os.getpid(), signal.SIGTERM)  # serve's handler takes it: a graceful stop
    code = await asyncio.wait_for(running, 30)

    text = json_stdout.getvalue()
    records = [json.loads(line) for line in text.splitlines()]
    assert code == 0, text[-2000:]
    messages = [str(r["message"]) for r in records if r["logger"] == "ibpicker.bot"]
    assert any(m.startswith("journal at ") for m in messages), messages
    assert "stopped (journal shipped)" in messages
    assert {r["level"] for r in records} >= {"DEBUG", "INFO"}
    assert any(str(r["logger"]).startswith("azure.") for r in records), "azure's lines scanned"
    assert any(str(r["logger"]).startswith("disnake.") for r in records), "disnake's scanned"
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
    for value in [*SECRETS.values(), ACCOUNT_KEY]:
        assert value not in text


@pytest.mark.parametrize("sharded", [False, True], ids=["plain", "sharded"])
async def test_discord_event_and_gateway_errors_are_one_json_line_each(
    json_stdout: io.StringIO, sharded: bool
) -> None:
    """The bot's errors that disnake would print to stderr as traceback lines (a listener that
    raised, a gateway event it could not parse) are each one JSON object, ERROR, with the
    traceback in ``exception``: from the plain client and from the sharded one alike."""
    client: DiscordBot = (
        LoggingShardedBot(intents=disnake.Intents.none(), shard_count=2)
        if sharded
        else LoggingBot(intents=disnake.Intents.none())
    )
    try:
        try:
            raise ValueError("listener failed")
        except ValueError:
            await client.on_error("on_message")
        await client.on_gateway_error("GUILD_CREATE", {}, None, KeyError("id"))
    finally:
        await client.close()
    records = [json.loads(line) for line in json_stdout.getvalue().splitlines()]
    event, gateway = [r for r in records if r["logger"] == "ibpicker.bot"]
    assert event["level"] == gateway["level"] == "ERROR"
    assert "on_message" in str(event["message"])
    assert str(event["exception"]).endswith("ValueError: listener failed")
    assert "GUILD_CREATE" in str(gateway["message"])
    assert str(gateway["exception"]).endswith("KeyError: 'id'")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample bars and flows fetched once for the module."""
    return prepare_template(tmp_path_factory.mktemp("bot-logs-template"))


async def test_the_daily_runs_lines_name_its_guild_run_id_and_positions(
    discord_standin: DiscordStandin,
    template: Path,
    json_stdout: io.StringIO,
    tmp_path: Path,
) -> None:
    """The scheduler's daily post logs its lines with the guild and the run id: the post line,
    and the append of each of its steps (scan, intent, post) with positions; the
    admin's commands before it log theirs with their own command ids."""
    guild = discord_standin.world.guild
    async with running_bot(
        discord_standin, copy_template(template, tmp_path / "d"), scheduler=True
    ) as r:
        await schedule_daily_picks(r)
        await asleep_until_the_run(r)
        r.time.set(START + timedelta(seconds=HALF_HOUR))
        await discord_standin.wait_for_channel_message(guild.channel("picks").id)
        await eventually(lambda: len(daily_posts(r)) == 1, "the post to be recorded")
    records = [json.loads(line) for line in json_stdout.getvalue().splitlines()]
    run_id = f"daily:{guild.id}:{START.date().isoformat()}"
    of_run = [r for r in records if r.get("run_id") == run_id]
    [posted] = [r for r in of_run if str(r["message"]).startswith("daily picks posted")]
    assert (posted["guild_id"], posted["logger"]) == (guild.id, "commands.discord.scheduler")
    appends = [r for r in of_run if str(r["message"]).startswith("appended ")]
    assert len(appends) >= 3  # scan, intent, post (fetching what is stored appends nothing)
    assert all(r["guild_id"] == guild.id for r in appends)
    assert [r["first_position"] for r in appends] == sorted(r["first_position"] for r in appends)
    commands = [r for r in records if str(r.get("command", "")).startswith(("watchlist", "sch"))]
    assert len({r["command_id"] for r in commands}) == 6  # five symbols and the schedule
    assert all(r["guild_id"] == guild.id and "run_id" not in r for r in commands)
