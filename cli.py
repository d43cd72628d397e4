"""The ``ibpicker`` command line: one Typer app assembling each feature's command group.

Every command accepts ``--data-dir`` after its name (``ibpicker journal verify --data-dir D``);
its default comes from ``IBPICKER_DATA_DIR``, else the per-user data folder. Feature folders own
their commands (``projections/cli.py`` for ``journal``, ``analysis/cli.py`` for ``strategy`` and
``scan``, …); this module only defines the shared options and puts the groups together, importing
them inside ``build_app`` so that they can import the shared options from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

import settings

APP_NAME = "ibpicker"


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


def build_app() -> typer.Typer:
    """The whole command line, every feature's group registered."""
    app = typer.Typer(
        name=APP_NAME,
        help="ibpicker: an event-sourced Discord bot for a trading community "
        "(daily picks, options flow, trade journal).",
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
    """Console-script entry point."""
    build_app()()
