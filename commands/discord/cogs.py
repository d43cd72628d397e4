"""The thin disnake cogs: parse, check, defer when slow, call the command service, render.

``slash`` generates the slash commands from ``commands.core.spec``; ``components`` answers
buttons and modals; ``frontend`` is what they share. No cog holds domain logic: that is the
service's. Imports the command service, rendering and views; never ``bot.py`` (which assembles
the cogs).
"""

from __future__ import annotations

import disnake
from disnake.ext.commands.interaction_bot_base import InteractionBotBase

from commands.discord.components import Components
from commands.discord.errors import ErrorHandler
from commands.discord.frontend import FrontEnd
from commands.discord.slash import SlashCommands

__all__ = ["Components", "FrontEnd", "SlashCommands", "add_cogs"]


def add_cogs(bot: InteractionBotBase, front: FrontEnd) -> None:
    """Add every cog of the Discord front end to ``bot``."""
    bot.add_cog(SlashCommands(front))
    bot.add_cog(Components(front))
    bot.add_cog(ErrorHandler())


def intents() -> disnake.Intents:
    """The gateway intents the bot needs: guilds only (interactions need no privileged intent)."""
    return disnake.Intents(guilds=True)
