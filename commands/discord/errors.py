"""The Discord front end's one error handler: exception type -> what the member reads + log level.

Every failure of a slash command, a button or a modal ends here (``report``). The member gets a
short ephemeral message, never a traceback; the log gets the traceback only for the unexpected.
User errors (bad input, someone else's trade) never arrive here: the command service answers
them with an ``ok=False`` reply. What arrives is the front end's own refusals (``FrontEndError``,
among them ``NotWriterError``: the composition root's write gate translates sync's refusal into
it, so this room never imports sync), Discord refusing a request, and bugs.
"""

from __future__ import annotations

import logging
from typing import Any

import disnake
from disnake.ext import commands
from disnake.interactions import Interaction

from commands.core.errors import CommandError

log = logging.getLogger(__name__)

NO_MENTIONS = disnake.AllowedMentions.none()
RESTARTING = "ibpicker is restarting, try again in a moment."


class FrontEndError(CommandError):
    """Root of the Discord front end's own refusals; ``message`` is meant for the member."""

    message = "That did not work."
    level = logging.INFO

    def __init__(self, message: str | None = None) -> None:
        """Use the class's message unless a more specific one is given."""
        if message is not None:
            self.message = message
        super().__init__(self.message)


class ShuttingDownError(FrontEndError):
    """The bot is stopping (SIGTERM) and takes no new commands."""

    message = RESTARTING


class NotWriterError(FrontEndError):
    """This instance may not append now: it is stopping, or it lost the writer lease."""

    message = RESTARTING
    level = logging.WARNING

    def __init__(self, reason: str = "") -> None:
        """The member reads ``message``; ``reason`` (the gate's own words) is for the log."""
        super().__init__()
        self.reason = reason

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class GuildOnlyError(FrontEndError):
    """A command outside a server (a direct message): every piece of data belongs to a server."""

    message = "ibpicker's commands work in a server, not in direct messages."


class ExpiredError(FrontEndError):
    """A button whose state is gone (a list's pages after a restart)."""

    message = "This list has expired; run the command again."


def classify(exc: BaseException, reference: str = "") -> tuple[str | None, int]:
    """What the member is told (``None``: nothing can be sent) and the log level for ``exc``."""
    if isinstance(exc, commands.CommandInvokeError):
        exc = exc.original
    if isinstance(exc, FrontEndError):
        return exc.message, exc.level
    if isinstance(exc, commands.MissingPermissions):
        return "You need the Manage Server permission for this.", logging.INFO
    if isinstance(exc, commands.CheckFailure):
        return "You cannot use this command here.", logging.INFO
    if isinstance(exc, disnake.NotFound | disnake.InteractionTimedOut):
        # The interaction expired (Discord's 3 s / 15 min windows): there is no one to answer.
        return None, logging.WARNING
    suffix = f" (reference {reference})" if reference else ""
    return f"Something went wrong on our side{suffix}.", logging.ERROR


async def report(inter: Interaction[Any], exc: BaseException, *, what: str) -> None:
    """Log ``exc`` at its level and tell the member, ephemerally, what happened."""
    reference = str(inter.id)
    message, level = classify(exc, reference)
    original = exc.original if isinstance(exc, commands.CommandInvokeError) else exc
    log.log(
        level,
        "%s failed for user %s in guild %s (reference %s): %r",
        what,
        inter.author.id,
        inter.guild_id,
        reference,
        original,
        exc_info=original if level >= logging.ERROR else None,
    )
    if message is None:
        return
    try:
        if inter.response.is_done():
            await inter.followup.send(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
        else:
            await inter.response.send_message(message, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except disnake.HTTPException as send_failed:
        log.warning("could not tell the member about %s: %r", what, send_failed)


class ErrorHandler(commands.Cog):
    """Routes slash-command errors to ``report``."""

    @commands.Cog.listener("on_slash_command_error")
    async def on_slash_command_error(
        self, inter: disnake.interactions.ApplicationCommandInteraction[Any], exc: Exception
    ) -> None:
        """Answer a failed slash command with its message."""
        await report(inter, exc, what=f"/{inter.application_command.qualified_name}")
