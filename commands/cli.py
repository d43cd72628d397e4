"""The commands' part of the command line (registered by ``cli.build_app``): ``ibpicker
fetch`` and ``ibpicker scan`` (the market room's), ``ibpicker backtest`` (the backtest room's),
and ``ibpicker console``. ``ibpicker bot`` is
declared by ``cli`` itself, the one module that may import the composition root."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli_options import DataDirOption, resolve_data_dir
from commands.backtest import backtest_cli
from commands.market import market_cli


def register(app: typer.Typer) -> None:
    """Add ``fetch``, ``scan``, ``backtest`` and ``console`` to the ``ibpicker`` command line."""
    market_cli.register(app)
    backtest_cli.register(app)

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
