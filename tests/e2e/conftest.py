"""Fixtures of the end-to-end suite: a Discord stand-in the real disnake client talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.bot_harness import Running, copy_template, prepare_template, running_bot
from tests.e2e.discord_standin import DiscordStandin, serve_standin
from tests.support.postgres import pg_url, postgres  # noqa: F401  (fixtures: the bot on PostgreSQL)


@pytest.fixture
async def discord_standin() -> AsyncIterator[DiscordStandin]:
    """A started Discord stand-in on 127.0.0.1 with disnake's REST base pointed at it."""
    async with serve_standin() as standin:
        yield standin


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sample bars and flows fetched once per module, at ``START`` (Monday 2025-03-10); each
    test copies it with ``copy_template``."""
    return prepare_template(tmp_path_factory.mktemp("bot-template"))


@pytest.fixture
async def running(
    discord_standin: DiscordStandin, template: Path, tmp_path: Path
) -> AsyncIterator[Running]:
    """The real bot on a copy of the template, connected to the stand-in (a test module may
    override it, as the drafting tests do to give the bot an Anthropic key)."""
    async with running_bot(discord_standin, copy_template(template, tmp_path / "data")) as r:
        yield r
