"""The command core's errors: what a handler raises for bad input."""

from __future__ import annotations


class CommandRejectedError(Exception):
    """Bad input: the message says exactly what is wrong and is shown to the member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
