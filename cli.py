"""The `ibpicker` command line (placeholder; the journal CLI lands with the core)."""

import typer

app = typer.Typer(help="ibpicker: event-sourced trading-community bot.")
