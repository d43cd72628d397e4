"""A protocol-level Discord stand-in (gateway websocket + REST) for end-to-end tests.

The real, unmodified disnake client talks to it on 127.0.0.1. Tests drive it as Discord users
would and read what the bot answered; see README.md in this folder. This package is test code:
nothing outside ``tests/`` imports it.
"""

from .driver import DiscordStandin
from .errors import (
    CommandHiddenError,
    CommandShapeError,
    StandinError,
    StandinFailureError,
    StandinTimeoutError,
)
from .interactions import InteractionHandle
from .records import RecordedFile, RecordedRequest, Reply, StoredMessage
from .runner import GUILD_READY_TIMEOUT, BotRun, run_bot, serve_standin
from .world import ChannelSpec, GuildSpec, RoleSpec, UserSpec, World

__all__ = [
    "GUILD_READY_TIMEOUT",
    "BotRun",
    "ChannelSpec",
    "CommandHiddenError",
    "CommandShapeError",
    "DiscordStandin",
    "GuildSpec",
    "InteractionHandle",
    "RecordedFile",
    "RecordedRequest",
    "Reply",
    "RoleSpec",
    "StandinError",
    "StandinFailureError",
    "StandinTimeoutError",
    "StoredMessage",
    "UserSpec",
    "World",
    "run_bot",
    "serve_standin",
]
