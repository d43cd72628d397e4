"""The stand-in's exceptions: one root, so a test can catch every stand-in problem at once."""

from __future__ import annotations


class StandinError(Exception):
    """Root of every error the Discord stand-in raises to a test."""


class StandinTimeoutError(StandinError, TimeoutError):
    """The bot did not do what a driver call waited for in time (the message lists what it did)."""


class StandinFailureError(StandinError):
    """Something broke on the wire: a gateway parse error, a rejected request, a crashed bot."""


class CommandShapeError(StandinError):
    """A driver call does not fit the commands the bot registered (Discord's client refuses)."""


class CommandHiddenError(StandinError):
    """Discord's client does not offer the command to this member (default_member_permissions)."""
