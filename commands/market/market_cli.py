"""``ibpicker fetch bars|flows`` and ``ibpicker scan``: the console's ``/fetch stocks``,
``/fetch flows`` and ``/analyze`` from a shell, rendered for a terminal.

Each command runs through the command service (``commands.wiring.open_service``) exactly as the
console and Discord do: the fetched events, or the scan, are appended with one
``command_handled`` audit event under one command id (``--command-id`` retries a command
idempotently), as the console's local member (guild 1, user 1), so the console's ``/signals``
shows CLI scans. Only the rendering is the terminal's: rich tables, ``--json`` for scripts, and a
progress bar on stderr when it is a terminal (nothing when piped).

The provider comes from the secrets (``settings.load_secrets``: environment variables, or Key
Vault when ``KEY_VAULT_URL`` is set): Unusual Whales with ``uw-api-key``, else the offline sample
data. Every command prints the source it used.

What differs from a chat front end, through the same ports:
- no limit on how many symbols one command names (the service's ``symbol_limit=None``): a fetch
  or scan of a large universe is fine here, and fetches are asked for in batches;
- ``scan --strategy FILE`` offers that file to the analyzer under its path, beside the packaged
  strategies, so the journal records its name and hash like any other scan.

``fetch bars`` also fetches each symbol's next earnings date (appended only when new; the shared
fetch adapter does it for every front end), which ``scan --skip-earnings-within N`` reads.

Exit status (``commands.console.exit_status``, the console's too): 0 done; 1 a provider failed
for some symbol (recorded as ``fetch_failed``) or an unexpected error; 2 bad input (unknown
strategy, bad symbol, invalid strategy file): then only the audit event is appended, or nothing
when the input was refused before reaching the service.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.table import Table

import cli_options
from analysis.errors import StrategyError
from analysis.strategy import Strategy, load_strategy_file
from cli_options import DataDirOption, JsonOption, resolve_data_dir
from commands.console.console import EXIT_FAILED, exit_status, outcome_of
from commands.core.models import Reply
from commands.core.service import CommandService
from commands.market.cli_service import CliInputError, Meter, cli_invocation, cli_service, stored_by
from events.analysis import SignalsGenerated
from events.wording import plural
from fetchers.service import (
    FetchResult,
    SymbolOutcome,
    new_fetch_id,
)

fetch_app = typer.Typer(
    name="fetch",
    help="Fetch market data into the journal (offline sample data unless provider keys are set).",
    no_args_is_help=True,
)

_out = cli_options.out
_err = cli_options.err

CommandIdOption = Annotated[
    str | None,
    typer.Option(
        "--command-id",
        help="The journal command id (default: a fresh one). Re-running with the same id "
        "appends nothing the second time.",
        show_default=False,
    ),
]
SymbolsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Tickers (space- or comma-separated). Default with the sample data: its whole "
        "universe.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``fetch`` group and ``scan`` to the ``ibpicker`` command line."""
    app.add_typer(fetch_app, name="fetch")
    app.command("scan")(scan_command)


# -- fetch ------------------------------------------------------------------------------------


@fetch_app.command("bars")
def fetch_bars_command(
    symbols: SymbolsArgument = None,
    data_dir: DataDirOption = None,
    command_id: CommandIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch daily price bars (and next earnings dates); only what the journal lacks is asked
    for and appended ("up to date" otherwise). Same as the console's /fetch stocks."""
    code = asyncio.run(
        _fetch("bars", resolve_data_dir(data_dir), symbols or [], {}, command_id, as_json)
    )
    raise typer.Exit(code)


@fetch_app.command("flows")
def fetch_flows_command(
    symbols: SymbolsArgument = None,
    min_premium: Annotated[
        float | None,
        typer.Option("--min-premium", help="Smallest total premium in USD.", min=0),
    ] = None,
    data_dir: DataDirOption = None,
    command_id: CommandIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fetch options-flow alerts; alerts already in the journal are not appended again.
    Same as the console's /fetch flows."""
    options: dict[str, object] = {} if min_premium is None else {"min_premium": min_premium}
    code = asyncio.run(
        _fetch("flows", resolve_data_dir(data_dir), symbols or [], options, command_id, as_json)
    )
    raise typer.Exit(code)


async def _fetch(
    kind: str,
    data_dir: Path,
    symbols: list[str],
    options: dict[str, object],
    command_id: str | None,
    as_json: bool,
) -> int:
    meter = Meter(enabled=not as_json and _err.is_terminal)
    try:
        async with cli_service(data_dir, meter) as ctx:
            service, market_data = ctx.service, ctx.market_data
            universe = split_symbols(symbols) or market_data.default_universe()
            command_id = command_id or new_fetch_id(kind)
            head = service.journal.head()
            # Bars also fetch each symbol's next earnings date: two answers per symbol.
            total = len(universe) * (2 if kind == "bars" else 1)
            with meter.running(f"{kind} from {market_data.sources}", total):
                reply = await service.execute(
                    "fetch stocks" if kind == "bars" else "fetch flows",
                    {"symbols": ",".join(universe), **options},
                    cli_invocation(command_id),
                )
            stored = stored_by(service, command_id)
            appended = service.journal.head() - head
            outcome = outcome_of(stored)
            source = market_data.describe_source()
            results = market_data.results
            journal_head = service.journal.head()
    except CliInputError as exc:
        cli_options.fail(str(exc))
    outcomes = [o for r in results for o in r.outcomes]
    failed = any(o.status == "failed" for o in outcomes)
    code = exit_status(outcome, partial=reply.partial or failed)
    if as_json:
        print(
            json.dumps(
                {
                    "command": f"fetch {kind}",
                    "command_id": command_id,
                    "outcome": outcome,
                    "message": reply.description if outcome != "ok" else "",
                    "source": market_data.sources,
                    "outcomes": [_outcome_dict(o) for o in outcomes],
                    "appended": appended,
                    "journal_head": journal_head,
                },
                indent=2,
            )
        )
    elif outcome == "ok":
        _print_fetch(kind, results, source, reply, command_id, appended, journal_head)
    else:
        _err.print(f"error: {reply.description}", markup=False)
    return code


def split_symbols(entries: Sequence[str]) -> list[str]:
    """Symbols given as several arguments, comma- or space-separated (the service checks them)."""
    return [part for entry in entries for part in entry.replace(",", " ").split()]


def stored_universe(service: CommandService, symbols: Sequence[str], data_dir: Path) -> list[str]:
    """The symbols a scan or backtest from the command line runs over: those given, else every
    symbol with stored bars (refused when there are none)."""
    universe = split_symbols(symbols) or sorted(service.market.known_symbols())
    if not universe:
        raise CliInputError(
            f"no bars in {data_dir}: fetch some first (ibpicker fetch bars SYMBOLS)"
        )
    return universe


def _outcome_dict(o: SymbolOutcome) -> dict[str, object]:
    return {
        "symbol": o.symbol,
        "kind": o.kind,
        "status": o.status,
        "count": o.count,
        "detail": o.detail,
    }


SKIPPED_SHOWN = 12
"""Reasons listed under a scan on a terminal; ``--json`` has them all."""

_STATUS_STYLE = {"fetched": "green", "up_to_date": "cyan", "no_data": "yellow", "failed": "red"}


def _print_fetch(
    kind: str,
    results: Sequence[FetchResult],
    source: str,
    reply: Reply,
    command_id: str,
    appended: int,
    journal_head: int,
) -> None:
    if not results:  # the same command id again: the journal already has it
        _out.print(f"Already handled (command id {command_id}): {reply.title}", markup=False)
        return
    _out.print(f"Source: {source}", markup=False)
    # Several results when the service fetched in batches: bars (or flows) and earnings each.
    outcomes = [o for r in results for o in r.outcomes]
    main = [o for o in outcomes if o.kind != "earnings"]
    earnings = {o.symbol: o for o in outcomes if o.kind == "earnings"}
    table = Table("symbol", "status", "new", "detail")
    if earnings:
        table.add_column("next earnings")
    for o in main:
        row = [
            o.symbol,
            f"[{_STATUS_STYLE[o.status]}]{o.status.replace('_', ' ')}[/]",
            str(o.count) if o.status == "fetched" else "",
            o.detail,
        ]
        if earnings:
            e = earnings.get(o.symbol)
            row.append("" if e is None else e.detail or e.status.replace("_", " "))
        table.add_row(*row)
    _out.print(table)
    noun = "bars" if kind == "bars" else "flow alerts"
    total = sum(o.count for o in main if o.status == "fetched")
    up_to_date = sum(1 for o in main if o.status == "up_to_date")
    failed = sum(1 for o in main if o.status == "failed")
    _out.print(
        f"{total} new {noun} for {len(main)} symbols ({up_to_date} up to date, "
        f"{failed} failed); appended {appended} events (journal head {journal_head}, "
        f"command id {command_id})",
        markup=False,
    )


# -- scan -------------------------------------------------------------------------------------


def scan_command(
    strategy: Annotated[
        str,
        typer.Option(
            "--strategy",
            help="A packaged strategy's key (ibpicker strategy list) or a strategy FILE.",
            show_default=False,
        ),
    ],
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--symbols",
            help="Tickers, comma-separated or repeated. Default: every symbol with stored bars.",
            show_default=False,
        ),
    ] = None,
    skip_earnings_within: Annotated[
        int | None,
        typer.Option(
            "--skip-earnings-within",
            help="Skip symbols with earnings within N days, 0 to skip none (dates from "
            "ibpicker fetch bars).",
            min=0,
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
    command_id: CommandIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run one strategy over stored bars and flow alerts and append its signals (the journal
    records the strategy's name and file hash). Same as the console's /analyze."""
    code = asyncio.run(
        _scan(
            strategy,
            symbols or [],
            skip_earnings_within,
            resolve_data_dir(data_dir),
            command_id,
            as_json,
        )
    )
    raise typer.Exit(code)


def strategy_file(text: str) -> Strategy | None:
    """The strategy file ``text`` names (an existing file, or a ``.yaml``/``.yml`` path), loaded
    and validated; ``None`` when ``text`` is a strategy key. ``StrategyError`` if invalid."""
    path = Path(text)
    if not (path.is_file() or path.suffix in (".yaml", ".yml")):
        return None
    return load_strategy_file(path)


async def _scan(
    strategy: str,
    symbols: list[str],
    skip_earnings_within: int | None,
    data_dir: Path,
    command_id: str | None,
    as_json: bool,
) -> int:
    try:
        from_file = strategy_file(strategy)
    except StrategyError as exc:
        _err.print(str(exc), markup=False)
        return 2
    name = from_file.source if from_file is not None else strategy
    meter = Meter(enabled=not as_json and _err.is_terminal)
    try:
        async with cli_service(
            data_dir,
            meter,
            strategy_files=[from_file] if from_file is not None else [],
        ) as ctx:
            service = ctx.service
            universe = stored_universe(service, symbols, data_dir)
            command_id = command_id or f"cli-scan-{uuid.uuid4().hex}"
            head = service.journal.head()
            with meter.running(f"scanning {len(universe)} symbols with {strategy}", None):
                options: dict[str, object] = {"strategy": name, "symbols": ",".join(universe)}
                if skip_earnings_within is not None:
                    options["skip_earnings_within"] = skip_earnings_within
                reply = await service.execute("analyze", options, cli_invocation(command_id))
            stored = stored_by(service, command_id)
            appended = service.journal.head() - head
            outcome = outcome_of(stored)
            scan = next((e.event for e in stored if isinstance(e.event, SignalsGenerated)), None)
            bar_sources = ctx.stored.bar_sources(universe)
    except CliInputError as exc:
        cli_options.fail(str(exc))
    if outcome != "ok" or scan is None:
        if as_json:
            print(json.dumps({"command": "scan", "command_id": command_id, "outcome": outcome,
                              "message": reply.description}, indent=2))  # fmt: skip
        else:
            _err.print(f"error: {reply.description}", markup=False)
        return exit_status(outcome) or EXIT_FAILED
    if as_json:
        # Every field, defaults included (events omit them when encoded): a stable document.
        doc = msgspec.to_builtins(msgspec.structs.asdict(scan))
        doc.update(
            command="scan",
            command_id=command_id,
            outcome=outcome,
            strategy_file=from_file.source if from_file is not None else None,
            bar_sources=bar_sources,
            appended=appended,
        )
        print(json.dumps(doc, indent=2))
        return 0
    _print_scan(scan, from_file, bar_sources, data_dir, command_id, appended)
    return 0


def _print_scan(
    scan: SignalsGenerated,
    from_file: Strategy | None,
    bar_sources: Sequence[str],
    data_dir: Path,
    command_id: str,
    appended: int,
) -> None:
    where = f" from {from_file.source}" if from_file is not None else ""
    _out.print(
        f"Strategy: {scan.strategy_name} v{scan.strategy_version}{where} "
        f"(sha256 {scan.strategy_hash[:12]}), scan {scan.scan_id}, "
        f"evaluated at {scan.evaluated_at:%Y-%m-%d %H:%M} UTC",
        markup=False,
    )
    _out.print(
        f"Source: bars and flow alerts stored in {data_dir} "
        f"(fetched from {', '.join(bar_sources) or 'nowhere yet'})",
        markup=False,
    )
    if scan.signals:
        table = Table("symbol", "side", "as of", "entry", "stop", "target", "R:R", "size", "score")
        for s in scan.signals:
            table.add_row(
                s.symbol,
                s.direction,
                s.as_of.isoformat(),
                f"{s.entry:,.2f}",
                _num(s.stop_loss),
                _num(s.take_profit),
                _num(s.risk_reward, "{:.1f}"),
                _num(s.position_size, "{:,.0f}"),
                f"{s.score:.2f}",
            )
        _out.print(table)
    picks = len(scan.signals)
    summary = f"{plural(picks, 'pick')} of {plural(len(scan.universe), 'symbol')}"
    if scan.skipped:
        summary += f"; {len(scan.skipped)} skipped or not taken:"
    _out.print(summary, markup=False)
    reasons: dict[str, list[str]] = {}
    for k in scan.skipped:
        reasons.setdefault(k.reason, []).append(k.symbol)
    ranked = sorted(reasons.items(), key=lambda r: (-len(r[1]), r[0]))
    for reason, names in ranked[:SKIPPED_SHOWN]:
        _out.print(f"  {', '.join(names)}: {reason}", markup=False)
    if len(ranked) > SKIPPED_SHOWN:
        rest = sum(len(names) for _, names in ranked[SKIPPED_SHOWN:])
        _out.print(f"  … {rest} more (--json lists every one)", markup=False)
    _out.print(f"Appended {appended} events (command id {command_id})", markup=False)


def _num(value: float | None, fmt: str = "{:,.2f}") -> str:
    return "" if value is None else fmt.format(value)
