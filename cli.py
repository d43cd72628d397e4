"""The ``ibpicker`` command line: one Typer app assembling each feature's command group.

Every command accepts ``--data-dir`` after its name (``ibpicker journal verify --data-dir D``);
its default comes from ``IBPICKER_DATA_DIR``, else the per-user data folder. Feature folders own
their commands (``projections/cli.py`` for ``journal``, ``analysis/cli.py`` for ``strategy`` and
``scan``, …); this module only defines the shared options and puts the groups together, importing
them inside ``build_app`` so that they can import the shared options from here.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

import settings

APP_NAME = "ibpicker"
DEBUG_FLAG = "--debug"
DEBUG_ENV = "IBPICKER_DEBUG"
"""``IBPICKER_DEBUG=1`` does what ``--debug`` does (for a command started by something else)."""
EXIT_FAILED = 1


def default_data_dir() -> Path:
    """``IBPICKER_DATA_DIR``, else the per-user folder (``settings.default_data_dir``)."""
    explicit = os.environ.get("IBPICKER_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    return settings.default_data_dir()


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding journal.sqlite and analytics.duckdb "
        "(default: $IBPICKER_DATA_DIR, else ~/.local/share/ibpicker).",
        show_default=False,
        file_okay=False,
    ),
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


# One pair of consoles for every command group: results to stdout, messages and errors to stderr.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` to stderr (never as markup); exit with ``code`` (2: bad input)."""
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def resolve_data_dir(value: Path | None) -> Path:
    """The data folder to use for ``--data-dir`` (created if missing)."""
    path = value if value is not None else default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


class _Flags:
    debug = False


def debug_enabled() -> bool:
    """Whether ``--debug`` (or ``IBPICKER_DEBUG=1``) asked for tracebacks."""
    return _Flags.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")


class _MessageOnly(logging.Formatter):
    """``warning: message`` without the traceback (``--debug`` shows it)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def log_to_stderr(level: int = logging.WARNING) -> None:
    """Route log records of ``level`` and above to stderr: as one plain line each, or with
    timestamps and tracebacks under ``--debug``. For the commands a person runs (the console):
    a warning reads as a message, never as a traceback."""
    handler = logging.StreamHandler(sys.stderr)
    if debug_enabled():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(_MessageOnly())
    logging.basicConfig(level=logging.INFO if debug_enabled() else level, handlers=[handler])


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
    import importlib

    for module_name in ("projections.cli", "analysis.cli", "sync.cli", "commands.cli"):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that feature has no commands yet
            raise
        module.register(app)

    return app


def main() -> None:
    """Console-script entry point: runs the command; a failure ends as one ``error:`` line on
    stderr and exit status 1 (``explain``), with the traceback only under ``--debug``."""
    app = build_app()
    # --debug is taken anywhere on the line (``ibpicker console --debug`` as well as before the
    # command), so it is read here rather than declared on each command.
    if DEBUG_FLAG in sys.argv[1:]:
        _Flags.debug = True
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
        err.print(f"error: {message}", markup=False)
        sys.exit(EXIT_FAILED)
