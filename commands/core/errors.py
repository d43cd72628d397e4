"""The commands package's one root error, ``CommandError``, and the core's own: what a handler
raises for bad input.

Every room's errors derive from ``CommandError`` (the value gate's ``OptionError``, the
front end's ``FrontEndError``, the schedule's ``ScheduleError``…); each edge still maps its types
to the member's or the operator's message.
"""

from __future__ import annotations


class CommandError(Exception):
    """Root of every error the commands package raises on purpose."""


class CommandRejectedError(CommandError):
    """Bad input: the message says exactly what is wrong and is shown to the member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
