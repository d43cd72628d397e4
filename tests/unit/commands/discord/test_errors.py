"""The one error handler's table: exception type -> member's message and log level."""

from __future__ import annotations

import logging

from disnake.ext import commands

from commands.discord.errors import (
    RESTARTING,
    GuildOnlyError,
    NotWriterError,
    ShuttingDownError,
    classify,
)


def test_front_end_refusals_are_told_as_they_are() -> None:
    """The front end's own refusals reach the member verbatim, logged at INFO."""
    assert classify(GuildOnlyError()) == (GuildOnlyError.message, logging.INFO)
    assert classify(ShuttingDownError())[0] == RESTARTING


def test_a_journal_that_may_not_be_written_means_restarting() -> None:
    """Losing the writer lease (or stopping) tells the member to try again in a moment."""
    assert classify(NotWriterError("lease lost")) == (RESTARTING, logging.WARNING)
    assert repr(NotWriterError("lease lost")) == "NotWriterError('lease lost')"  # for the log


def test_wrapped_errors_are_unwrapped() -> None:
    """disnake wraps a callback's exception; the table looks at the original."""
    wrapped = commands.CommandInvokeError(ShuttingDownError())
    assert classify(wrapped)[0] == RESTARTING


def test_a_bug_gets_a_reference_and_no_detail() -> None:
    """An unexpected error gives a generic message with the reference, never its text."""
    message, level = classify(ZeroDivisionError("secret detail"), reference="123")
    assert message == "Something went wrong on our side (reference 123)."
    assert level == logging.ERROR
