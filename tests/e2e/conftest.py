"""Fixtures of the end-to-end suite: a Discord stand-in the real disnake client talks to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.discord_standin import DiscordStandin, serve_standin


@pytest.fixture
async def discord_standin() -> AsyncIterator[DiscordStandin]:
    """A started Discord stand-in on 127.0.0.1 with disnake's REST base pointed at it."""
    async with serve_standin() as standin:
        yield standin
