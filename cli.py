"""The ``ibpicker`` command line: one Typer app assembling each feature's command group.

Every command accepts ``--data-dir`` after its name (``ibpicker journal verify --data-dir D``);
its default comes from ``IBPICKER_DATA_DIR``, else the per-user data folder. Feature folders own
their commands (``projections/cli.py`` for ``journal``, ``analysis/cli.py`` for ``strategy`` and
``scan``, …) and take the shared options from the leaf ``cli_options``; this module imports them
to put the groups together, and turns a failure into one ``error:`` line (``explain``).

``ibpicker bot`` is declared here: it starts the composition root ``bot.py``, which no package
may import (the import-linter contracts in pyproject.toml), so only this entry point does.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import sys

import typer

import analysis.cli
import commands.cli
import logs
import projections.cli
import settings
import sync.cli
from cli_options import (
    DEBUG_ENV,
    DEBUG_FLAG,
    DataDirOption,
    debug_enabled,
    err,
    set_debug,
    setup_logging,
)

APP_NAME = "ibpicker"
EXIT_FAILED = 1


def explain(exc: BaseException) -> str | None:
    """What a failure that stopped a command means for the person who ran it, or ``None`` when
    it is a bug (then only its type and text are shown, and ``--debug`` shows the traceback).

    The one place the CLI turns errors into messages (STYLE.md, point 8): each area raises its
    own root error with a message meant for the user (``JournalError``: a second writer, a
    changed byte; ``AnalyticsError``: a damaged or busy analytics file, a full disk); storage
    errors that arrive unwrapped are read here (a damaged ``journal.sqlite``, a full disk).
    """
    from events.journal import JournalError
    from projections.analytics import AnalyticsError, disk_full_message

    if isinstance(exc, JournalError | AnalyticsError | settings.SettingsError):
        return str(exc)
    text = str(exc)
    if (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        "database or disk is full" in text or "No space left on device" in text
    ):
        return disk_full_message("the data folder")
    if _is_database_error(exc) and ("malformed" in text or "not a database" in text):
        return (
            f"the journal (journal.sqlite) is damaged: {text}. It cannot be repaired in place: "
            "restore it from blob storage with `ibpicker sync pull --data-dir NEW_FOLDER` onto a "
            "fresh folder, then check it with `ibpicker journal verify --data-dir NEW_FOLDER`"
        )
    if _is_database_error(exc) and "unable to open database file" in text:
        return (
            "cannot open the journal (journal.sqlite) in the data folder: is --data-dir a "
            "folder this user may write to?"
        )
    if _is_database_error(exc) and "locked" in text:
        return "the journal is locked by another process: stop it first, or use another --data-dir"
    return None


def _is_database_error(exc: BaseException) -> bool:
    """SQLite's errors, raised as they are or wrapped by the ``eventsourcing`` library."""
    from eventsourcing.persistence import PersistenceError

    return isinstance(exc, sqlite3.DatabaseError | PersistenceError)


def build_app() -> typer.Typer:
    """The whole command line, every feature's group registered."""
    app = typer.Typer(
        name=APP_NAME,
        help="ibpicker: an event-sourced Discord bot for a trading community "
        "(daily picks, options flow, trade journal). A failure prints one `error:` line; add "
        f"{DEBUG_FLAG} anywhere (or set {DEBUG_ENV}=1) to see its traceback.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
    )
    # Every command logs through the one set-up (``logs``); ``bot`` switches to the service's.
    app.callback()(lambda: setup_logging())
    for register in (
        projections.cli.register,
        analysis.cli.register,
        sync.cli.register,
        _register_bot,
        commands.cli.register,
    ):
        register(app)
    return app


def _register_bot(app: typer.Typer) -> None:
    """Add ``bot`` to the command line."""

    @app.command("bot")
    def bot(data_dir: DataDirOption = None) -> None:
        """Run the Discord bot (needs DISCORD_TOKEN or Key Vault; DISCORD_GUILD_ID for fast sync).

        SIGTERM stops it gracefully (journal shipped, lease released, exit 0); a second SIGTERM
        exits at once.
        """
        setup_logging("service")  # INFO on stdout: JSON lines unless stdout is a terminal
        try:
            config = settings.load_settings(
                **({"data_dir": data_dir} if data_dir is not None else {})
            )
        except settings.SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        # Imported when the bot runs: the other commands never load disnake and the cogs.
        from bot import main

        raise typer.Exit(asyncio.run(main(config)))


def main() -> None:
    """Console-script entry point: runs the command; a failure ends as one ``error:`` line on
    stderr and exit status 1 (``explain``), with the traceback only under ``--debug``."""
    app = build_app()
    # --debug is taken anywhere on the line (``ibpicker console --debug`` as well as before the
    # command), so it is read here rather than declared on each command.
    if DEBUG_FLAG in sys.argv[1:]:
        set_debug()
        sys.argv = [a for a in sys.argv if a != DEBUG_FLAG]
    try:
        app()
    except Exception as exc:
        if debug_enabled():
            raise
        message = explain(exc)
        if message is None:
            message = (
                f"unexpected {type(exc).__name__}: {exc} (`ibpicker --debug …` shows where; "
                "please report it)"
            )
        if logs.json_enabled():  # one JSON object, the traceback in a field
            logging.getLogger(APP_NAME).critical("error: %s", message, exc_info=exc)
        else:
            err.print(f"error: {message}", markup=False)
        sys.exit(EXIT_FAILED)
