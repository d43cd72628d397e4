"""The ``ibpicker strategy`` command group: list the shipped strategies, show one, validate files.

``validate`` exits 1 when a file is invalid and prints each problem as ``file: field: problem``;
an unknown strategy name exits 2 with the valid names. Nothing here needs a data folder: these
commands read strategy files only, so they append nothing to a journal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.syntax import Syntax
from rich.table import Table

import cli_options
from analysis.errors import StrategyError
from analysis.strategy import Strategy, list_strategies, load_strategy, summary_lines
from cli_options import JsonOption

strategy_app = typer.Typer(
    name="strategy",
    help="Strategies: list the shipped ones, show one, validate strategy files.",
    no_args_is_help=True,
)

_out = cli_options.out
_err = cli_options.err


def register(app: typer.Typer) -> None:
    """Add the ``strategy`` group to the ``ibpicker`` app."""
    app.add_typer(strategy_app, name="strategy")


def _as_dict(strategy: Strategy) -> dict[str, object]:
    meta = strategy.spec.strategy
    return {
        "key": strategy.key,
        "name": strategy.name,
        "version": meta.version,
        "description": meta.description,
        "tags": list(meta.tags),
        "indicators": {i.name: i.label() for i in strategy.spec.indicators},
        "source": strategy.source,
        "sha256": strategy.sha256,
    }


@strategy_app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List the strategies shipped with ibpicker: key, name, description, tags, indicators, file.

    Scan with one by its key (``ibpicker scan --strategy KEY``) or with any file by its path.
    """
    strategies = list_strategies()
    if as_json:
        print(json.dumps([_as_dict(s) for s in strategies], indent=2))
        return
    if not _out.is_terminal:
        # Piped: one block per strategy, every value whole on its line (greppable, never cut).
        for s in strategies:
            _out.print(f"{s.key}: {s.name} v{s.spec.strategy.version}", markup=False)
            for label, value in _list_values(s)[2:]:
                _out.print(f"  {label}: {value}", markup=False)
        return
    # Every cell folds over lines at a narrow width: never cut with "…".
    table = Table()
    for header in ("key", "name", "description", "tags", "indicators", "file"):
        table.add_column(header, overflow="fold")
    for s in strategies:
        table.add_row(*(value for _, value in _list_values(s)))
    _out.print(table)


def _list_values(s: Strategy) -> list[tuple[str, str]]:
    """What ``strategy list`` shows of one strategy: (column, value) in column order."""
    return [
        ("key", s.key),
        ("name", f"{s.name} v{s.spec.strategy.version}"),
        ("description", s.spec.strategy.description),
        ("tags", ", ".join(s.spec.strategy.tags)),
        ("indicators", ", ".join(f"{i.name}={i.label()}" for i in s.spec.indicators)),
        ("file", s.source),
    ]


@strategy_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="A shipped strategy's key, or a strategy file.")],
    as_json: JsonOption = False,
) -> None:
    """Show one strategy: indicators, entry conditions, exits, risk and filters, then its YAML."""
    try:
        strategy = load_strategy(name)
    except StrategyError as exc:
        cli_options.fail(str(exc))
    if as_json:
        print(
            json.dumps(
                {**_as_dict(strategy), "summary": summary_lines(strategy), "yaml": strategy.text},
                indent=2,
            )
        )
        return
    for line in summary_lines(strategy):
        _out.print(line, markup=False)
    _out.print()
    _out.rule(strategy.source, style="dim")
    if _out.is_terminal:
        _out.print(Syntax(strategy.text.rstrip("\n"), "yaml", theme="ansi_dark", word_wrap=True))
    else:  # piped: the YAML exactly as in the file, never cropped to a width
        _out.print(strategy.text, markup=False, highlight=False, end="")


@strategy_app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(help="Strategy files to check.")],
    as_json: JsonOption = False,
) -> None:
    """Validate strategy files: each problem is printed as file: field: problem."""
    outcomes: list[dict[str, object]] = []
    for path in files:
        try:
            strategy = load_strategy(path)
        except StrategyError as exc:
            outcomes.append(
                {
                    "file": str(path),
                    "ok": False,
                    "problems": [{"field": p.field, "problem": p.problem} for p in exc.problems],
                }
            )
            if not as_json:
                _out.print(str(exc), markup=False)
            continue
        outcomes.append({"file": str(path), "ok": True, "name": strategy.name})
        if not as_json:
            _out.print(f"{path}: OK ({strategy.name}, sha256 {strategy.sha256[:12]})", markup=False)
    if as_json:
        print(json.dumps(outcomes, indent=2))
    if not all(o["ok"] for o in outcomes):
        raise typer.Exit(1)
