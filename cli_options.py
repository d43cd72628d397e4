"""What every feature's command group shares: the ``--data-dir`` and ``--json`` options, the
stdout / stderr console pair, ``fail()``, the ``--debug`` switch and the log set-up of every
command (``setup_logging``, over ``logs.configure``).

A leaf below the feature CLIs (``projections/cli.py``, ``analysis/cli.py``, ``sync/cli.py``,
``commands/cli.py``): it imports nothing of ours but the leaves ``settings`` (the default data
folder) and ``logs``, so
they import it while the top-level ``cli`` module imports them to assemble the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

import logs
import settings

DEBUG_FLAG = "--debug"
DEBUG_ENV = "IBPICKER_DEBUG"
"""``IBPICKER_DEBUG=1`` does what ``--debug`` does (for a command started by something else)."""

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
    """The data folder to use for ``--data-dir`` (created if missing): the option, else
    ``IBPICKER_DATA_DIR``, else the per-user data folder (``settings.default_data_dir``)."""
    path = value if value is not None else settings.default_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def journal_url() -> str | None:
    """``IBPICKER_JOURNAL_URL``: the PostgreSQL journal to use instead of the data folder's
    SQLite file (``None``: the file). A value that is not a ``postgresql://`` URL exits 2."""
    try:
        return settings.journal_url()
    except settings.SettingsError as exc:
        fail(str(exc))


class _Flags:
    debug = False


def set_debug() -> None:
    """``--debug`` was given: tracebacks are shown from now on (``cli.main`` reads the flag)."""
    _Flags.debug = True


def debug_enabled() -> bool:
    """Whether ``--debug`` (or ``IBPICKER_DEBUG=1``) asked for tracebacks."""
    return _Flags.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def setup_logging(role: logs.Role = "command") -> None:
    """The log set-up of this process (``logs.configure`` with ``--debug``): for a command a
    person runs, a warning on stderr reads as one ``warning: …`` line, its traceback only under
    ``--debug``; for the bot, JSON lines on stdout when it is not a terminal. A bad
    ``IBPICKER_LOG_FORMAT`` ends the command with exit 2, naming the variable."""
    try:
        logs.configure(role, debug=debug_enabled())
    except logs.LogFormatError as exc:
        fail(str(exc))
