"""The ``ibpicker bot`` command: run the Discord bot (registered by ``commands.cli.register``)."""

from __future__ import annotations

import asyncio

import typer

from cli_options import DataDirOption, setup_logging


def register(app: typer.Typer) -> None:
    """Add ``bot`` to the ``ibpicker`` command line."""

    @app.command("bot")
    def bot(data_dir: DataDirOption = None) -> None:
        """Run the Discord bot (needs DISCORD_TOKEN or Key Vault; DISCORD_GUILD_ID for fast sync).

        SIGTERM stops it gracefully (journal shipped, lease released, exit 0); a second SIGTERM
        exits at once.
        """
        from settings import SettingsError, load_settings

        setup_logging("service")  # INFO on stdout: JSON lines unless stdout is a terminal
        try:
            settings = load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))
        except SettingsError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        # The composition root is imported by this entry point only (nothing else imports it).
        from bot import main

        raise typer.Exit(asyncio.run(main(settings)))
