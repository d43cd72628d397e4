"""The ``ibpicker console`` command (registered by ``cli.build_app``)."""

from __future__ import annotations

import asyncio
import importlib
from typing import Annotated

import typer

from cli_options import DataDirOption, resolve_data_dir


def register(app: typer.Typer) -> None:
    """Add ``console`` to the ``ibpicker`` command line."""
    # `ibpicker bot` (the Discord front end); `ibpicker fetch`, `ibpicker scan` (market data)
    importlib.import_module("commands.discord.bot_cli").register(app)
    importlib.import_module("commands.market.market_cli").register(app)

    @app.command("console")
    def console(
        data_dir: DataDirOption = None,
        demo: Annotated[
            bool,
            typer.Option("--demo", help="First add a sample watchlist and fetch its sample data."),
        ] = False,
    ) -> None:
        """Type the bot's slash commands (/help lists them) against a local journal.

        Reads commands from stdin when piped (one a line; a line that is not UTF-8 is refused
        and the rest run). Exit status: 0 all ran, 1 a command failed, 2 a command was refused
        or a line could not be parsed.
        """
        from commands.console.console import run_console

        code = asyncio.run(run_console(resolve_data_dir(data_dir), demo=demo))
        raise typer.Exit(code)
