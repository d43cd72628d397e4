"""``ibpicker backtest run|walk-forward|monte-carlo|compare``: the console's ``/backtest`` from a
shell, rendered for a terminal.

Each runs through the command service (``commands.market.cli_service``) exactly as Discord and the
console do: the same checks, the same ``backtest_completed`` and ``command_handled`` events under
one command id, as the console's local member. What is the terminal's: no symbol limit, the
default universe (every symbol with stored bars), a progress bar on stderr when it is a terminal,
a table of the figures, and ``--json``: the whole result document on stdout (``trades``,
``open_positions``, ``equity``, ``metrics``; for ``compare`` one such part per strategy under
``strategies``), the bytes ``backtest_completed.result_hash`` hashes, indented.

``--from``/``--to`` are session dates, inclusive; ``--at POSITION`` reads the journal's data as it
was at that position, so a run listed by ``/backtests`` repeats to the byte. Exit status: 0 done;
2 bad input (the message names what would be valid); 1 an unexpected failure.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
import json
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import cli_options
from analysis.errors import StrategyError
from analysis.strategy import Strategy
from cli_options import DataDirOption, JsonOption, resolve_data_dir
from commands.backtest.gather import compute
from commands.backtest.report import document, pretty
from commands.console.console import EXIT_FAILED, exit_status, outcome_of
from commands.core.handler import Command
from commands.core.models import Attachment, Reply
from commands.core.service import CommandService
from commands.core.spec import coerce_options, find_command
from commands.market.cli_service import CliInputError, Meter, cli_invocation, cli_service, stored_by
from commands.market.market_cli import (
    CommandIdOption,
    split_symbols,
    stored_universe,
    strategy_file,
)
from events.backtests import BacktestCompleted
from events.base import Envelope

_out = cli_options.out
_err = cli_options.err
TRADES_SHOWN = 10
"""The last trades listed on a terminal (``--json`` and the saved CSV have them all)."""
SHOWN_COLUMNS = ("symbol", "direction", "entry_date", "entry_price", "exit_date", "exit_price",
                 "exit_reason", "pnl", "r")  # fmt: skip

StrategyOption = Annotated[
    list[str],
    typer.Option(
        "--strategy",
        help="A strategy's key (ibpicker strategy list) or a strategy FILE; compare: repeat it.",
        show_default=False,
    ),
]
SymbolsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--symbols",
        help="Tickers, comma-separated or repeated. Default: every symbol with stored bars.",
        show_default=False,
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option("--from", help="First session, YYYY-MM-DD (inclusive).", show_default=False),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="Last session, YYYY-MM-DD (inclusive).", show_default=False),
]
CapitalOption = Annotated[float, typer.Option("--capital", help="Starting capital.")]
CommissionOption = Annotated[
    float, typer.Option("--commission", help="Commission per trade side.", min=0)
]
SlippageOption = Annotated[
    float, typer.Option("--slippage-bps", help="Slippage in basis points.", min=0, max=1000)
]
AtOption = Annotated[
    int | None,
    typer.Option(
        "--at",
        help="Read the data as the journal held it at this position (repeat a past run).",
        min=1,
        show_default=False,
    ),
]


class Resampling(enum.StrEnum):
    """How ``monte-carlo`` resamples the trades."""

    shuffle = "shuffle"
    bootstrap = "bootstrap"
    drop = "drop"


class Side(enum.StrEnum):
    """Which side the strategy's entries are traded on."""

    long = "long"
    short = "short"


class Mode(enum.StrEnum):
    """What ``ibpicker backtest`` runs (``/backtest``'s ``mode``)."""

    run = "run"
    walk_forward = "walk-forward"
    monte_carlo = "monte-carlo"
    compare = "compare"


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to the ``ibpicker`` command line."""
    app.command("backtest")(backtest_command)


def backtest_command(
    mode: Annotated[
        Mode,
        typer.Argument(
            help="run: one strategy; walk-forward: rolling in/out-of-sample windows; "
            "monte-carlo: the run's trades resampled; compare: several --strategy side by side.",
            show_default=False,
        ),
    ],
    strategy: StrategyOption,
    symbols: SymbolsOption = None,
    start: FromOption = None,
    end: ToOption = None,
    capital: CapitalOption = 100_000.0,
    commission: CommissionOption = 0.0,
    slippage_bps: SlippageOption = 0.0,
    at: AtOption = None,
    in_sample: Annotated[
        int, typer.Option("--in-sample", help="walk-forward: in-sample sessions.", min=1)
    ] = 126,
    out_of_sample: Annotated[
        int, typer.Option("--out-of-sample", help="walk-forward: out-of-sample sessions.", min=1)
    ] = 63,
    resamples: Annotated[
        int, typer.Option("--resamples", help="monte-carlo: resampled sequences.", min=1)
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="monte-carlo: random seed.", min=0)] = 0,
    method: Annotated[
        Resampling, typer.Option("--method", help="monte-carlo: how trades are resampled.")
    ] = Resampling.shuffle,
    ruin: Annotated[
        float | None,
        typer.Option(
            "--ruin",
            help="monte-carlo: the drawdown counted as ruin (default 0.5 = 50 %).",
            min=0,
            max=1,
            show_default=False,
        ),
    ] = None,
    direction: Annotated[
        Side, typer.Option("--direction", help="Trade the entries long, or as shorts.")
    ] = Side.long,
    fraction: Annotated[
        float | None,
        typer.Option(
            "--fraction",
            help="Size each entry at this fraction of equity (default: the strategy's risk per "
            "trade down to its stop).",
            min=0,
            max=1,
            show_default=False,
        ),
    ] = None,
    max_positions: Annotated[
        int | None,
        typer.Option(
            "--max-positions",
            help="Open positions at most (default: the strategy's own).",
            min=1,
            show_default=False,
        ),
    ] = None,
    risk_free_rate: Annotated[
        float,
        typer.Option(
            "--risk-free-rate",
            help="Annual risk-free rate for Sharpe and Sortino (0.04 = 4 %).",
            min=0,
            max=1,
        ),
    ] = 0.0,
    skip_earnings_within: Annotated[
        int | None,
        typer.Option(
            "--skip-earnings-within",
            help="No entry when an earnings date known at the signal is within N days "
            "(0: none; dates from ibpicker fetch bars).",
            min=0,
            show_default=False,
        ),
    ] = None,
    earnings_lead: Annotated[
        int | None,
        typer.Option(
            "--earnings-lead",
            help="Days before an earnings date from which it counts as known when it was "
            "fetched later (default 7).",
            min=0,
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    command_id: CommandIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest strategies on the journal's bars and flow alerts (ibpicker fetch first): trades,
    positions open at the end, daily equity and figures. Same as the console's /backtest."""
    options: dict[str, object] = {
        "mode": mode.value,
        "from": start,
        "to": end,
        "capital": capital,
        "commission": commission,
        "slippage_bps": slippage_bps,
        "at": at,
        "skip_earnings_within": skip_earnings_within,
        "earnings_lead": earnings_lead,
        "direction": direction.value,
        "risk_free_rate": risk_free_rate,
        "fraction": fraction,
        "max_positions": max_positions,
    }
    if mode is Mode.walk_forward:
        options.update(in_sample=in_sample, out_of_sample=out_of_sample)
    if mode is Mode.monte_carlo:
        options.update(resamples=resamples, seed=seed, method=method.value, ruin=ruin)
    _run(strategy, options, symbols, data_dir, command_id, as_json)


def _run(
    strategies: list[str],
    options: dict[str, object],
    symbols: list[str] | None,
    data_dir: Path | None,
    command_id: str | None,
    as_json: bool,
) -> None:
    names = split_symbols(strategies)
    try:
        files = [f for f in (strategy_file(n) for n in names) if f is not None]
    except StrategyError as exc:
        cli_options.fail(str(exc))
    options["strategy"] = ",".join(names)
    code = asyncio.run(
        _backtest(options, symbols or [], files, resolve_data_dir(data_dir), command_id, as_json)
    )
    raise typer.Exit(code)


async def _backtest(
    options: dict[str, object],
    symbols: list[str],
    files: list[Strategy],
    data_dir: Path,
    command_id: str | None,
    as_json: bool,
) -> int:
    meter = Meter(enabled=not as_json and _err.is_terminal)
    try:
        async with cli_service(data_dir, meter, strategy_files=files) as ctx:
            service = ctx.service
            universe = stored_universe(service, symbols, data_dir)
            command_id = command_id or f"cli-backtest-{uuid.uuid4().hex}"
            options.update(symbols=",".join(universe), export="json" if as_json else "csv")
            given = {k: v for k, v in options.items() if v is not None}
            with meter.running(f"backtest of {len(universe)} symbols", None):
                reply = await service.execute(
                    "backtest",
                    given,
                    cli_invocation(command_id),
                    progress=lambda _kind, done, total: meter.update(done, total),
                )
            stored = stored_by(service, command_id)
            outcome = outcome_of(stored)
            if outcome == "ok" and as_json and _result(reply) is None:
                reply = await _again(service, given, command_id, stored)
    except CliInputError as exc:
        cli_options.fail(str(exc))
    if outcome != "ok":
        if as_json:
            failure = {"command": "backtest", "command_id": command_id, "outcome": outcome}
            print(json.dumps({**failure, "message": reply.description}, indent=2))
        else:
            _err.print(f"error: {reply.description}", markup=False)
        return exit_status(outcome) or EXIT_FAILED
    if as_json:
        print((_result(reply) or b"").decode(), end="")
        return 0
    _print(reply, data_dir / "backtests", command_id)
    return 0


def _result(reply: Reply) -> bytes | None:
    """The result document a ``--json`` run's reply carries (none on a retried command id: a
    reply kept for a retry has no attachments)."""
    return next((a.data for a in reply.attachments if a.filename == "backtest.json"), None)


async def _again(
    service: CommandService, options: dict[str, object], command_id: str, stored: list[Envelope]
) -> Reply:
    """The result of a command id already handled (``--command-id`` retried), computed again at
    the journal position it read: the same bytes, and nothing appended."""
    done = next(e.event for e in stored if isinstance(e.event, BacktestCompleted))
    spec = find_command("backtest")
    assert spec is not None
    typed = coerce_options(spec, {**options, "at": done.data_position})
    cmd = Command(name="backtest", options=typed, inv=cli_invocation(command_id))
    outcome = await service.call(compute, service, cmd, None)
    body = pretty(document(outcome))
    return Reply(attachments=[Attachment("backtest.json", body, "The whole result (JSON)")])


def _print(reply: Reply, folder: Path, command_id: str) -> None:
    """The reply's figures as a table, the last trades, and where the chart and the trades'
    CSV were saved (``<data-dir>/backtests/<command id>.png|.csv``)."""
    _out.print(reply.title, markup=False)
    _out.print(reply.description.replace("`", ""), markup=False)
    table = Table("figure", "value")
    for name, value, _ in reply.fields:
        table.add_row(name, value)
    _out.print(table)
    trades = next((a for a in reply.attachments if a.filename == "trades.csv"), None)
    rows = list(csv.DictReader(io.StringIO(trades.data.decode()))) if trades is not None else []
    if rows:
        shown = Table(*SHOWN_COLUMNS)
        for row in rows[-TRADES_SHOWN:]:
            shown.add_row(*(_short(row[c]) for c in SHOWN_COLUMNS))
        _out.print(f"Last {min(TRADES_SHOWN, len(rows))} of {len(rows)} trades:", markup=False)
        _out.print(shown)
    folder.mkdir(parents=True, exist_ok=True)
    for attachment in reply.attachments:
        file = Path(attachment.filename)
        # the chart and the trades are named by the run's id; another file (the cone) adds its name
        own = "" if file.stem in ("backtest", "trades") else f"-{file.stem}"
        path = folder / f"{command_id}{own}{file.suffix}"
        path.write_bytes(attachment.data)
        _out.print(f"{attachment.description}: {path}", markup=False)


def _short(cell: str) -> str:
    """A CSV cell for the table: numbers to two places."""
    try:
        return f"{float(cell):,.2f}"
    except ValueError:
        return cell
