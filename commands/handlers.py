"""The command handlers: plain functions ``(command, state, clock) -> (events, reply)``.

A handler never touches Discord, SQLite or the network. What a command needs from outside (fetched
market data, a scan, a strategy's text, a daily run) is gathered by the service first and handed
in as ``command.inputs`` / ``command.context``. Bad input raises ``CommandRejectedError`` with a
specific message; the service turns it into an ephemeral ``ok=False`` reply and appends only the
audit event.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import msgspec

from commands import text as tx
from commands.metrics import JournalMetrics, StrategyNames, compute_metrics, in_window
from commands.models import BLUE, GREEN, GREY, RED, Button, DailyRun, Invocation, Reply
from commands.ports import Clock, MarketView, SignalRow, StrategyInfo
from commands.schedule import ScheduleError, TradingCalendar, next_run, parse_time
from commands.spec import COMMANDS, find_command, usage
from commands.values import MAX_EARNINGS_DAYS, OptionError, decimal_value
from events.analysis import SignalsGenerated, SkippedSymbol
from events.base import NewEvent
from events.guild import (
    ScheduleConfigured,
    WatchlistCleared,
    WatchlistSymbolAdded,
    WatchlistSymbolRemoved,
)
from events.market import BarsFetched, EarningsFetched, FetchFailed, FlowAlertsFetched
from events.trading import TradeClosed, TradeNoteAdded, TradeOpened
from fetchers.service import SYMBOL_PATTERN
from projections.guild import GuildBook
from projections.trading import TradeBook, TradeRecord

MAX_TEXT = 1000
MAX_SYMBOLS = 50
"""Symbols a member may type into one command (Discord, the console). It bounds typed input
only: an omitted ``symbols`` option (the watchlist, every stored symbol) is never refused, and a
front end that is not a chat (the CLI) opens its service without a limit. Fetches of more
symbols than this are asked for in batches of it (``CommandService``), with progress."""
DEFAULT_SIGNAL_DAYS = 7
EARNINGS_SKIP_REASON = "earnings on "
"""How ``analysis.scan`` begins the reason of a symbol skipped for its earnings date."""


class CommandRejectedError(Exception):
    """Bad input: the message says exactly what is wrong and is shown to the member."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed command: its name, typed options, who runs it, and what the service gathered."""

    name: str
    options: dict[str, Any]
    inv: Invocation
    inputs: list[NewEvent] = []
    context: dict[str, Any] = {}


class ServiceInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ``/about`` shows."""

    version: str
    sources: list[str]
    features_off: list[str] = []
    journal_head: int = 0
    projection_faults: list[str] = []
    """Projections stopped at an event they could not apply (``ProjectionFault.message``)."""


@dataclass(frozen=True)
class State:
    """The state a handler reads: projections and read models, never the journal itself."""

    trades: TradeBook
    guilds: GuildBook
    market: MarketView
    strategies: Sequence[StrategyInfo]
    info: ServiceInfo
    calendar: TradingCalendar | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    symbol_limit: int | None = MAX_SYMBOLS
    """How many symbols one command may name (``None``: any number; see ``MAX_SYMBOLS``)."""


Outcome = tuple[list[NewEvent], Reply]
Handler = Callable[[Command, State, Clock], Outcome]


# -- validation helpers (also used by the service before it gathers anything) ---------------------


def reject(message: str) -> CommandRejectedError:
    """A rejection to raise."""
    return CommandRejectedError(message)


def check_symbol(raw: str, state: State, guild_id: int) -> str:
    """A known or well-formed ticker, normalised; rejected otherwise."""
    symbol = tx.normalise_symbol(raw)
    if not symbol:
        raise reject("Give a ticker symbol, e.g. AAPL.")
    known = symbol in state.market.known_symbols() or symbol in state.guilds.watched_symbols(
        guild_id
    )
    if not known and not SYMBOL_PATTERN.fullmatch(symbol):
        raise reject(
            f"Unknown symbol {tx.escape(raw)!s}: not in the watchlist or fetched data, and not a "
            "ticker (a letter, then up to 9 letters, digits, '.' or '-', e.g. AAPL or BRK.B)."
        )
    return symbol


def check_symbols(raw: str | None, state: State, guild_id: int) -> list[str]:
    """A list of checked symbols from comma/space-separated text, at most
    ``state.symbol_limit`` of them."""
    items = tx.split_list(raw)
    limit = state.symbol_limit
    if limit is not None and len(items) > limit:
        raise reject(f"At most {limit} symbols at once (got {len(items)}).")
    out: list[str] = []
    for item in items:
        symbol = check_symbol(item, state, guild_id)
        if symbol not in out:
            out.append(symbol)
    return out


def analyze_symbols(cmd: Command, state: State) -> list[str]:
    """The symbols ``/analyze`` scans: the option, else the watchlist (rejected when empty)."""
    symbols = check_symbols(cmd.options.get("symbols"), state, cmd.inv.guild_id)
    if not symbols:
        symbols = state.guilds.watched_symbols(cmd.inv.guild_id)
    if not symbols:
        raise reject(
            "The watchlist is empty: give symbols (symbols:AAPL,MSFT) or add some with "
            "/watchlist add."
        )
    return symbols


def watched_and_stored(state: State, guild_id: int) -> list[str]:
    """The guild's watchlist, then every other symbol with stored bars (sorted)."""
    watched = state.guilds.watched_symbols(guild_id)
    return list(dict.fromkeys([*watched, *sorted(state.market.known_symbols())]))


def find_strategy(name: str, strategies: Sequence[StrategyInfo]) -> StrategyInfo | None:
    """The strategy ``name`` names: its key, else its display name (case-insensitive)."""
    wanted = name.strip().lower()
    by_key = (s for s in strategies if s.name.lower() == wanted)
    by_title = (s for s in strategies if s.title and s.title.lower() == wanted)
    return next(by_key, None) or next(by_title, None)


def check_strategy(name: str, state: State) -> str:
    """A known strategy's key, from its key or its display name (case-insensitive)."""
    found = find_strategy(name, state.strategies)
    if found is not None:
        return found.name
    names = ", ".join(s.name for s in state.strategies) or "none are installed"
    raise reject(f"Unknown strategy {tx.escape(name)!s}. Known strategies: {names}.")


def strategy_names(state: State) -> StrategyNames:
    """One key and display name per strategy, however a trade named it (key or display name)."""
    return StrategyNames((s.name, s.title) for s in state.strategies)


def skip_earnings_days(options: Mapping[str, Any]) -> int:
    """The ``skip_earnings_within`` option in days (0 when omitted: skip none); rejected unless
    between 0 and ``MAX_EARNINGS_DAYS``."""
    days = int(options.get("skip_earnings_within", 0))
    if not 0 <= days <= MAX_EARNINGS_DAYS:
        raise reject(
            f"skip_earnings_within must be between 0 and {MAX_EARNINGS_DAYS} days (got {days})."
        )
    return days


def _amount(name: str, value: object, *, required: bool = False) -> Decimal | None:
    """A price or size through the one value gate (``commands.values.decimal_value``: exact, at
    most 8 places, at most ``MAX_AMOUNT``), and greater than zero."""
    if value is None:
        if required:
            raise reject(f"{name} is required.")
        return None
    try:
        amount = decimal_value(name, value)
    except OptionError as exc:
        raise reject(f"{exc}.") from None
    if amount <= 0:
        raise reject(f"{name} must be greater than zero (got {amount}).")
    return amount


def _required_amount(name: str, value: object) -> Decimal:
    checked = _amount(name, value, required=True)
    assert checked is not None
    return checked


def _text(name: str, value: str | None) -> str:
    value = (value or "").strip()
    if len(value) > MAX_TEXT:
        raise reject(f"{name} is too long ({len(value)} characters; at most {MAX_TEXT}).")
    return value


def _own_trade(cmd: Command, state: State) -> TradeRecord:
    raw = str(cmd.options["id"]).strip()
    trade_id = raw.upper()
    trade = state.trades.get(cmd.inv.guild_id, trade_id)
    if trade is None:
        raise reject(f"No trade with id {tx.escape(raw)} in this server. /trades lists yours.")
    if trade.user_id != cmd.inv.user_id:
        raise reject(f"Trade {trade_id} belongs to another member: only its owner can change it.")
    return trade


def _footer(state: State, clock: Clock) -> str:
    return tx.footer(state.info.sources, clock.now())


# -- core -----------------------------------------------------------------------------------------


def handle_ping(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Answer, with the journal head (the front end adds its timings: ``with_ping_timings``)."""
    return [], Reply(
        title="Pong!",
        description=f"Journal head: {state.info.journal_head}",
        color=GREEN,
        ephemeral=True,
    )


def with_ping_timings(reply: Reply, *, gateway_latency: float | None, answered_in: float) -> Reply:
    """/ping's reply with what only the front end measures: the gateway's heartbeat latency
    (``None``: there is no gateway, the console; infinite or NaN: no heartbeat answered yet) and
    the seconds from receiving the command to sending this answer."""
    if gateway_latency is None:
        gateway = "none (local console)"
    elif not math.isfinite(gateway_latency):
        gateway = "not measured yet (no heartbeat answered)"
    else:
        gateway = f"{gateway_latency * 1000:.0f} ms"
    fields = [
        ("Gateway latency", gateway, True),
        ("Answered in", f"{answered_in * 1000:.0f} ms", True),
    ]
    return msgspec.structs.replace(reply, fields=[*reply.fields, *fields])


def handle_help(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The command list grouped by area, or one command's options (generated from the specs)."""
    wanted = cmd.options.get("command")
    if wanted:
        spec = find_command(str(wanted).lstrip("/"))
        if spec is None:
            raise reject(f"No command {tx.escape(str(wanted))}. /help lists them.")
        lines = [spec.description, "", f"`{usage(spec)}`"]
        for o in spec.options:
            need = "required" if o.required else "optional"
            choices = f" ({' | '.join(o.choices)})" if o.choices else ""
            lines.append(f"• **{o.name}** ({o.type}, {need}){choices}: {o.description}")
        if spec.admin_only:
            lines.append("Needs the Manage Server permission.")
        return [], Reply(
            title=f"/{spec.name}", description="\n".join(lines), color=BLUE, ephemeral=True
        )
    groups: dict[str, list[str]] = {}
    for spec in COMMANDS:
        mark = " (admin)" if spec.admin_only else ""
        groups.setdefault(spec.group, []).append(f"`/{spec.name}`{mark}: {spec.description}")
    fields = [(group.capitalize(), "\n".join(lines), False) for group, lines in groups.items()]
    return [], Reply(
        title="ibpicker commands",
        description='Options are name:value; `/help command:"trade open"` shows one command.',
        fields=fields,
        color=BLUE,
        ephemeral=True,
    )


def handle_about(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Version, data sources, features that are off, and the journal head."""
    info = state.info
    return [], Reply(
        title="About ibpicker",
        description="Daily picks, options flow and a trade journal, event-sourced.",
        fields=[
            ("Version", info.version, True),
            ("Journal head", str(info.journal_head), True),
            ("Data sources", ", ".join(info.sources) or "none", False),
            ("Features off", "\n".join(info.features_off) or "none", False),
            *[("Projection stopped", fault, False) for fault in info.projection_faults],
        ],
        footer=_footer(state, clock),
        color=BLUE,
    )


# -- data -----------------------------------------------------------------------------------------


def fetch_symbols(cmd: Command, state: State) -> list[str]:
    """The symbols a fetch asks for: those given, else the watchlist and every stored symbol
    (rejected when there are none, or a given one is unknown)."""
    given = check_symbols(cmd.options.get("symbols"), state, cmd.inv.guild_id)
    symbols = given or watched_and_stored(state, cmd.inv.guild_id)
    if not symbols:
        raise reject(
            "Give symbols, e.g. symbols:AAPL,MSFT (the watchlist is empty and no data is "
            "stored yet)."
        )
    return symbols


def _fetched_symbols(cmd: Command, state: State) -> list[str]:
    """The symbols the service fetched for ``cmd`` (it resolves them once, before fetching)."""
    gathered = cmd.context.get("symbols")
    return list(gathered) if gathered is not None else fetch_symbols(cmd, state)


def _failures(inputs: Sequence[NewEvent]) -> list[str]:
    return [
        f"{', '.join(e.event.symbols) or e.event.kind} ({e.event.source}"
        + (", earnings date" if e.event.kind == "earnings" else "")
        + f"): {e.event.error}"
        for e in inputs
        if isinstance(e.event, FetchFailed)
    ]


def handle_fetch_stocks(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Append the fetched bars (gathered by the service) and say what arrived per symbol."""
    symbols = _fetched_symbols(cmd, state)
    got: dict[str, int] = {}
    next_earnings: dict[str, str] = {}
    sources: set[str] = set()
    for e in cmd.inputs:
        if isinstance(e.event, BarsFetched):
            got[e.event.symbol] = got.get(e.event.symbol, 0) + len(e.event.bars)
            sources.add(e.event.source)
        elif isinstance(e.event, EarningsFetched):
            next_earnings.update((x.symbol, x.day.isoformat()) for x in e.event.entries)
    failed = _failures(cmd.inputs)
    failed_symbols = {
        s
        for e in cmd.inputs
        if isinstance(e.event, FetchFailed) and e.event.kind == "bars"
        for s in e.event.symbols
    }
    lines = [
        f"**{s}**: {tx.plural(got.get(s, 0), 'new bar')}"
        + (f" · next earnings {next_earnings[s]}" if s in next_earnings else "")
        for s in symbols
        if s not in failed_symbols
    ]
    lines += [f"Failed: {tx.escape(f)}" for f in failed]
    return list(cmd.inputs), Reply(
        title="Fetched price bars",
        description="\n".join(lines) or "Nothing new.",
        footer=tx.footer(sorted(sources) or state.info.sources, clock.now()),
        color=RED if failed and not got else GREEN,
        partial=bool(failed),
    )


def handle_fetch_flows(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Append the fetched flow alerts and count them per symbol and direction."""
    symbols = _fetched_symbols(cmd, state)
    counts: dict[str, dict[str, int]] = {s: {} for s in symbols}
    sources: set[str] = set()
    for e in cmd.inputs:
        if isinstance(e.event, FlowAlertsFetched):
            sources.add(e.event.source)
            for a in e.event.alerts:
                per = counts.setdefault(a.ticker, {})
                per[a.direction] = per.get(a.direction, 0) + 1
    failed = _failures(cmd.inputs)
    lines = []
    for s, per in counts.items():
        total = sum(per.values())
        detail = ", ".join(f"{n} {d}" for d, n in sorted(per.items()))
        lines.append(f"**{s}**: {tx.plural(total, 'alert')}" + (f" ({detail})" if detail else ""))
    lines += [f"Failed: {tx.escape(f)}" for f in failed]
    min_premium = cmd.options.get("min_premium")
    return list(cmd.inputs), Reply(
        title="Fetched options flow" + (f" (premium ≥ ${min_premium:,.0f})" if min_premium else ""),
        description="\n".join(lines),
        footer=tx.footer(sorted(sources) or state.info.sources, clock.now()),
        color=RED if failed else GREEN,
        partial=bool(failed),
    )


def handle_status(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Coverage per symbol: bars from-to, last fetch, last flow alert."""
    guild = cmd.inv.guild_id
    symbols = check_symbols(cmd.options.get("symbols"), state, guild)
    symbols = symbols or watched_and_stored(state, guild)
    lines = []
    for c in state.market.coverage(symbols):
        bars = (
            f"{tx.plural(c.bars, 'bar')} {c.first_day}→{c.last_day}"
            if c.bars
            else "no bars (/fetch stocks gets them)"
        )
        fetch = "never fetched"
        if c.last_fetch_at is not None:
            fetch = f"last fetch {c.last_fetch_at:%Y-%m-%d %H:%M}"
            if c.last_fetch_ok is False:
                fetch += f" (failed: {tx.escape(c.last_fetch_error)})"
        flow = f"last flow {c.last_flow_at:%Y-%m-%d %H:%M}" if c.last_flow_at else "no flow"
        lines.append(f"**{c.symbol}**: {bars} · {fetch} · {flow}")
    base = Reply(title="Data coverage", footer=_footer(state, clock), color=BLUE)
    return [], tx.paged(
        base, lines, empty="No data yet. Try /fetch stocks symbols:AAPL,MSFT then /analyze."
    )


def handle_watchlist_list(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The guild's watchlist with notes and tags."""
    lines = []
    for w in state.guilds.watchlist(cmd.inv.guild_id):
        extra = []
        if w.tags:
            extra.append(" ".join(f"#{tx.escape(t)}" for t in w.tags))
        if w.note:
            extra.append(tx.escape(w.note))
        lines.append(f"**{w.symbol}**" + (f": {' · '.join(extra)}" if extra else ""))
    return [], tx.paged(
        Reply(title="Watchlist", color=BLUE),
        lines,
        empty="The watchlist is empty. Add with /watchlist add symbols:AAPL,MSFT.",
    )


def handle_watchlist_add(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Add (or update) watched symbols, each with the note and tags given: ``symbols:`` takes
    several as ``/fetch`` does, ``symbol:`` one; one bad ticker refuses them all."""
    guild = cmd.inv.guild_id
    raw = ",".join(str(cmd.options[k]) for k in ("symbols", "symbol") if cmd.options.get(k))
    symbols = check_symbols(raw, state, guild)
    if not symbols:
        raise reject("Give symbols, e.g. symbols:AAPL,MSFT (or symbol:AAPL).")
    note = _text("note", cmd.options.get("note"))
    tags = tx.split_list(cmd.options.get("tags"))
    watched = set(state.guilds.watched_symbols(guild))
    events = [
        NewEvent(
            f"watchlist:{guild}",
            WatchlistSymbolAdded(guild_id=guild, symbol=symbol, note=note, tags=tags),
        )
        for symbol in symbols
    ]
    added = [s for s in symbols if s not in watched]
    updated = [s for s in symbols if s in watched]
    lines = [
        f"{verb} {', '.join(f'**{s}**' for s in group)}."
        for verb, group in (("Added", added), ("Updated", updated))
        if group
    ]
    return events, Reply(title="Watchlist", description="\n".join(lines), color=GREEN)


def handle_watchlist_remove(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Remove a watched symbol."""
    guild = cmd.inv.guild_id
    symbol = tx.normalise_symbol(str(cmd.options["symbol"]))
    if symbol not in state.guilds.watched_symbols(guild):
        raise reject(f"{tx.escape(symbol)} is not on the watchlist.")
    event = WatchlistSymbolRemoved(guild_id=guild, symbol=symbol)
    return [NewEvent(f"watchlist:{guild}", event)], Reply(
        title="Watchlist", description=f"Removed **{symbol}**.", color=GREEN
    )


def handle_watchlist_clear(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Empty the guild's watchlist."""
    guild = cmd.inv.guild_id
    count = len(state.guilds.watched_symbols(guild))
    if not count:
        raise reject("The watchlist is already empty.")
    return [NewEvent(f"watchlist:{guild}", WatchlistCleared(guild_id=guild))], Reply(
        title="Watchlist", description=f"Cleared {tx.plural(count, 'symbol')}.", color=GREEN
    )


# -- analysis -------------------------------------------------------------------------------------


def log_trade_custom_id(scan_id: str, symbol: str) -> str:
    """The persistent button id that opens the "Log trade" modal for one pick."""
    return f"ibpicker:logtrade:{scan_id}:{symbol}"


def _skip_reason(skipped: SkippedSymbol) -> str:
    """Why a scan skipped a symbol, with what to do when it has no bars yet."""
    reason = tx.escape(skipped.reason)
    if skipped.reason.startswith("no bars"):
        reason += f": run /fetch stocks symbols:{skipped.symbol}"
    return reason


def scan_reply(scan: SignalsGenerated, *, title: str, footer: str) -> Reply:
    """A scan's picks (with "Log trade" buttons) and the symbols it skipped, and why."""
    lines = []
    for s in scan.signals:
        parts = [f"**{s.symbol}** {s.direction} @ {s.entry:,.2f}"]
        if s.stop_loss is not None:
            parts.append(f"stop {s.stop_loss:,.2f}")
        if s.take_profit is not None:
            parts.append(f"target {s.take_profit:,.2f}")
        if s.risk_reward is not None:
            parts.append(f"R:R {s.risk_reward:.1f}")
        parts.append(f"score {s.score:.2f}")
        lines.append(" · ".join(parts))
    for_earnings = [k for k in scan.skipped if k.reason.startswith(EARNINGS_SKIP_REASON)]
    others = [k for k in scan.skipped if k not in for_earnings]
    fields = [
        (name, "\n".join(f"{k.symbol}: {_skip_reason(k)}" for k in part)[:1000], False)
        for name, part in (("Skipped for earnings", for_earnings), ("Skipped", others))
        if part
    ]
    evaluated = len(scan.universe) - len(scan.skipped)
    if not scan.signals:
        why = (
            f"No picks: none of the {tx.plural(evaluated, 'symbol')} evaluated met the entry "
            "conditions."
        )
        if not evaluated:
            why = "No picks: no symbol could be evaluated (see Skipped)."
        lines = [why]
    buttons = [
        Button(label=f"Log {s.symbol}", custom_id=log_trade_custom_id(scan.scan_id, s.symbol))
        for s in scan.signals[:5]
    ]
    return Reply(
        title=title,
        description="\n".join(lines),
        fields=fields,
        footer=f"{footer} · scan {scan.scan_id}",
        color=GREEN if scan.signals else GREY,
        buttons=buttons,
    )


def handle_analyze(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Append the scan the service ran, and show its picks."""
    strategy = check_strategy(str(cmd.options["strategy"]), state)
    analyze_symbols(cmd, state)
    skip_earnings_days(cmd.options)
    scans = [e for e in cmd.inputs if isinstance(e.event, SignalsGenerated)]
    if len(scans) != 1:
        raise RuntimeError("the service did not gather exactly one scan")  # a wiring bug
    scan = scans[0].event
    assert isinstance(scan, SignalsGenerated)
    return list(cmd.inputs), scan_reply(
        scan,
        title=f"{strategy}: {tx.plural(len(scan.signals), 'pick')}",
        footer=_footer(state, clock),
    )


def handle_signals(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The guild's picks over the last N days."""
    days = int(cmd.options.get("days", DEFAULT_SIGNAL_DAYS))
    if days <= 0:
        raise reject("days must be at least 1.")
    symbol = cmd.options.get("symbol")
    sym = check_symbol(str(symbol), state, cmd.inv.guild_id) if symbol else None
    rows = state.market.signals(
        cmd.inv.guild_id, symbol=sym, since=clock.now() - timedelta(days=days)
    )
    lines = [
        f"{r.evaluated_at:%m-%d %H:%M} **{r.symbol}** {r.direction} @ {r.entry:,.2f} "
        f"({tx.escape(r.strategy_name)}, score {r.score:.2f})"
        for r in rows
    ]
    buttons = [
        Button(label=f"Log {r.symbol}", custom_id=log_trade_custom_id(r.scan_id, r.symbol))
        for r in rows[:5]
    ]
    base = Reply(
        title=f"Signals, last {tx.plural(days, 'day')}",
        footer=_footer(state, clock),
        color=BLUE,
        buttons=buttons,
    )
    return [], tx.paged(base, lines, empty="No signals in that window. Try /analyze.")


def handle_strategies(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Every strategy with its description."""
    lines = [
        f"**{s.name}**" + (f" v{s.version}" if s.version else "") + f": {tx.escape(s.description)}"
        for s in state.strategies
    ]
    return [], tx.paged(Reply(title="Strategies", color=BLUE), lines, empty="No strategies.")


def handle_strategy_show(cmd: Command, state: State, clock: Clock) -> Outcome:
    """One strategy's summary (text gathered from the analyzer)."""
    name = check_strategy(str(cmd.options["name"]), state)
    lines = str(cmd.context.get("strategy_text", "")).splitlines()
    # A blank line ends the list of entry conditions, so the lines after it are not read as
    # part of its last item; long summaries go on pages, never cut.
    shown = [
        line + ("\n" if line.startswith("  - ") and not after.startswith("  - ") else "")
        for line, after in zip(lines, [*lines[1:], ""], strict=True)
    ]
    return [], tx.paged(
        Reply(title=f"Strategy {name}", color=BLUE), shown, empty="(no summary)", per_page=25
    )


# -- trade journal --------------------------------------------------------------------------------


def handle_trade_open(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Open a trade: validate everything, pick a short id, append ``trade_opened``."""
    inv, opts = cmd.inv, cmd.options
    symbol = check_symbol(str(opts["symbol"]), state, inv.guild_id)
    direction = str(opts["direction"]).lower()
    if direction not in ("long", "short"):
        raise reject("direction must be long or short.")
    entry = _required_amount("entry", opts.get("entry"))
    size = _required_amount("size", opts.get("size"))
    strategy = check_strategy(str(opts["strategy"]), state) if opts.get("strategy") else None
    signal_ref = None
    stop_given, target_given = opts.get("stop"), opts.get("target")
    if opts.get("signal"):
        signal_ref, row = _signal_of(str(opts["signal"]), symbol, direction, state)
        signal_strategy = _signal_strategy(row, state)
        if strategy is not None and strategy != signal_strategy:
            raise reject(
                f"The signal {signal_ref} is from strategy {tx.escape(signal_strategy)}: "
                "leave strategy: out, or give that one."
            )
        strategy = signal_strategy
        # The pick's levels, to the cent as its "Log trade" form shows them, unless typed.
        if stop_given is None and row.stop_loss is not None:
            stop_given = Decimal(f"{row.stop_loss:.2f}")
        if target_given is None and row.take_profit is not None:
            target_given = Decimal(f"{row.take_profit:.2f}")
    stop = _amount("stop", stop_given)
    target = _amount("target", target_given)
    sign = 1 if direction == "long" else -1
    if stop is not None and (stop - entry) * sign >= 0:
        side = "below" if direction == "long" else "above"
        raise reject(f"For a {direction}, the stop must be {side} the entry ({entry}).")
    if target is not None and (target - entry) * sign <= 0:
        side = "above" if direction == "long" else "below"
        raise reject(f"For a {direction}, the target must be {side} the entry ({entry}).")
    trade_id = tx.trade_id_for(inv.command_id, lambda c: state.trades.has_id(inv.guild_id, c))
    now = clock.now()
    event = TradeOpened(
        trade_id=trade_id,
        guild_id=inv.guild_id,
        user_id=inv.user_id,
        symbol=symbol,
        direction="long" if direction == "long" else "short",
        entry=entry,
        size=size,
        opened_at=now,
        stop=stop,
        target=target,
        strategy=strategy,
        signal_ref=signal_ref,
        tags=tx.split_list(opts.get("tags")),
        note=_text("note", opts.get("note")),
    )
    desc = f"{direction} {tx.price(size)} **{symbol}** @ {tx.price(entry)}"
    fields = [("Stop", tx.price(stop), True), ("Target", tx.price(target), True)]
    if strategy:
        fields.append(("Strategy", tx.escape(strategy), True))
    return [NewEvent(f"trade:{inv.guild_id}:{trade_id}", event)], Reply(
        title=f"Trade {trade_id} opened",
        description=desc + f"\nClose it with `/trade close id:{trade_id} exit:<price>`.",
        fields=fields,
        color=GREEN,
    )


def _signal_of(ref: str, symbol: str, direction: str, state: State) -> tuple[str, SignalRow]:
    """The stored pick ``scan id:SYMBOL`` names; refused when it is unknown or another symbol's
    or direction's than the trade's."""
    ref = ref.strip()
    scan_id, _, sig_symbol = ref.rpartition(":")
    row = state.market.signal(scan_id, tx.normalise_symbol(sig_symbol)) if scan_id else None
    if row is None:
        raise reject(f"No signal {tx.escape(ref)} (expected scan id:symbol).")
    ref = f"{row.scan_id}:{row.symbol}"
    if row.symbol != symbol:
        raise reject(
            f"The signal {ref} is for {row.symbol}, not {symbol}: a trade from a signal is of "
            "its symbol."
        )
    if row.direction != direction:
        raise reject(f"The signal {ref} is a {row.direction} pick: open it {row.direction}.")
    return ref, row


def _signal_strategy(row: SignalRow, state: State) -> str:
    """The key of the strategy a pick came from (scans record its display name); the recorded
    name itself when no installed strategy has it any more."""
    found = find_strategy(row.strategy_name, state.strategies)
    return found.name if found is not None else row.strategy_name


def handle_trade_close(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Close one of the member's open trades and show its P&L."""
    trade = _own_trade(cmd, state)
    if not trade.is_open:
        raise reject(
            f"Trade {trade.trade_id} is already closed (exit {tx.price(trade.exit)} on "
            f"{trade.closed_at:%Y-%m-%d})."
        )
    exit_ = _required_amount("exit", cmd.options.get("exit"))
    event = TradeClosed(
        trade_id=trade.trade_id,
        guild_id=trade.guild_id,
        user_id=trade.user_id,
        exit=exit_,
        closed_at=clock.now(),
        reason=_text("reason", cmd.options.get("reason")),
    )
    closed = msgspec.structs.replace(trade, exit=exit_, closed_at=event.closed_at)
    fields = [
        ("P&L", tx.money(closed.pnl), True),
        ("P&L %", tx.pct(closed.pnl_pct, signed=True), True),
    ]
    if closed.r_multiple is not None:
        fields.append(("R", f"{float(closed.r_multiple):+.2f}R", True))
    pnl = closed.pnl or Decimal(0)
    return [NewEvent(f"trade:{trade.guild_id}:{trade.trade_id}", event)], Reply(
        title=f"Trade {trade.trade_id} closed",
        description=f"{trade.direction} {tx.price(trade.size)} **{trade.symbol}** "
        f"{tx.price(trade.entry)} → {tx.price(exit_)}",
        fields=fields,
        color=GREEN if pnl > 0 else RED if pnl < 0 else GREY,
    )


def handle_trade_note(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Add a note to one of the member's trades (open or closed)."""
    trade = _own_trade(cmd, state)
    note = _text("text", cmd.options.get("text"))
    if not note:
        raise reject("The note is empty.")
    event = TradeNoteAdded(
        trade_id=trade.trade_id,
        guild_id=trade.guild_id,
        user_id=trade.user_id,
        text=note,
        noted_at=clock.now(),
    )
    return [NewEvent(f"trade:{trade.guild_id}:{trade.trade_id}", event)], Reply(
        title=f"Trade {trade.trade_id}", description="Note added.", color=GREEN, ephemeral=True
    )


EXPORT_COLUMNS = (
    "trade_id",
    "symbol",
    "direction",
    "entry",
    "size",
    "stop",
    "target",
    "opened_at",
    "exit",
    "closed_at",
    "status",
    "pnl",
    "pnl_pct",
    "r_multiple",
    "strategy",
    "tags",
    "reason",
    "note",
    "notes",
)


def trades_csv(trades: Sequence[TradeRecord]) -> bytes:
    """The member's trades as CSV (exact decimals, ISO times, notes joined with " | ")."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for t in trades:
        writer.writerow(
            [
                t.trade_id,
                t.symbol,
                t.direction,
                t.entry,
                t.size,
                t.stop or "",
                t.target or "",
                t.opened_at.isoformat(),
                "" if t.exit is None else t.exit,
                t.closed_at.isoformat() if t.closed_at else "",
                "open" if t.is_open else "closed",
                "" if t.pnl is None else t.pnl,
                "" if t.pnl_pct is None else f"{t.pnl_pct:.4f}",
                "" if t.r_multiple is None else f"{t.r_multiple:.4f}",
                t.strategy_label,
                ";".join(t.tags),
                t.reason,
                t.note,
                " | ".join(t.notes),
            ]
        )
    return buf.getvalue().encode()


def handle_trade_export(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The member's trades as a CSV attachment."""
    from commands.models import Attachment

    trades = state.trades.trades(cmd.inv.guild_id, cmd.inv.user_id)
    if not trades:
        raise reject("You have no trades to export yet. Open one with /trade open.")
    name = f"trades-{clock.now():%Y%m%d}.csv"
    return [], Reply(
        title="Trade export",
        description=f"{tx.plural(len(trades), 'trade')}.",
        attachments=[Attachment(name, trades_csv(trades), "Your trades (CSV)")],
        ephemeral=True,
        color=BLUE,
    )


def handle_trades(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The member's trades, newest first, optionally one symbol and one status."""
    status = str(cmd.options.get("status", "all"))
    symbol = cmd.options.get("symbol")
    sym = tx.normalise_symbol(str(symbol)) if symbol else None
    trades = [
        t
        for t in reversed(state.trades.trades(cmd.inv.guild_id, cmd.inv.user_id))
        if (sym is None or t.symbol == sym) and (status == "all" or (status == "open") == t.is_open)
    ]
    lines = []
    for t in trades:
        line = (
            f"`{t.trade_id}` {t.direction} {tx.price(t.size)} **{t.symbol}** @ {tx.price(t.entry)}"
        )
        if t.is_open:
            line += " · open"
        else:
            line += f" → {tx.price(t.exit)} · {tx.money(t.pnl)}"
        lines.append(line)
    return [], tx.paged(
        Reply(title="Your trades", color=BLUE, ephemeral=True),
        lines,
        empty="No trades match. Open one with /trade open.",
    )


def metrics_fields(m: JournalMetrics) -> list[tuple[str, str, bool]]:
    """The metrics as embed fields."""
    pf = (
        "∞"
        if m.profit_factor is None and m.gross_profit > 0
        else tx.price(
            None if m.profit_factor is None else m.profit_factor.quantize(Decimal("0.01"))
        )
    )

    def top(rows: Sequence[Any]) -> str:
        return (
            "\n".join(
                f"{tx.escape(b.label or b.key)}: {tx.plural(b.trades, 'trade')}, "
                f"{tx.money(b.total_pnl)}, win {tx.pct(b.win_rate)}"
                for b in rows[:8]
            )
            or "—"
        )

    r = (
        "—"
        if m.average_r is None
        else f"{float(m.average_r):+.2f}R ({tx.plural(m.r_trades, 'trade')})"
    )
    return [
        ("Trades", f"{m.trades} ({m.wins} W / {m.losses} L / {m.break_evens} BE)", True),
        ("Total P&L", tx.money(m.total_pnl), True),
        ("Win rate", tx.pct(m.win_rate), True),
        ("Avg winner", tx.money(_q(m.average_winner)), True),
        ("Avg loser", tx.money(_q(m.average_loser)), True),
        ("Avg trade", tx.money(_q(m.average_trade)), True),
        ("Largest winner", tx.money(m.largest_winner), True),
        ("Largest loser", tx.money(m.largest_loser), True),
        ("Profit factor", pf, True),
        ("Expectancy", tx.money(_q(m.expectancy)), True),
        ("Average R", r, True),
        ("Streaks", f"{m.longest_win_streak} W / {m.longest_loss_streak} L", True),
        ("Drawdown", f"now {tx.loss(m.current_drawdown)}, max {tx.loss(m.max_drawdown)}", True),
        ("Avg holding", tx.duration(m.average_holding), True),
        ("By strategy", top(m.by_strategy), False),
        ("By symbol", top(m.by_symbol), False),
        ("By tag", top(m.by_tag), False),
    ]


def _q(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


def handle_metrics(cmd: Command, state: State, clock: Clock) -> Outcome:
    """A member's journal metrics over N days, with an equity and drawdown chart."""
    # Rendered in the chart worker process, so matplotlib's memory never stays in this one.
    from commands.chart_worker import equity_png
    from commands.models import Attachment

    days = cmd.options.get("days")
    if days is not None and int(days) <= 0:
        raise reject("days must be at least 1.")
    member = int(cmd.options.get("member", cmd.inv.user_id))
    since = clock.now() - timedelta(days=int(days)) if days is not None else None
    trades = in_window(state.trades.trades(cmd.inv.guild_id, member), since)
    m = compute_metrics(trades, strategies=strategy_names(state))
    who = "Your" if member == cmd.inv.user_id else f"<@{member}>'s"
    window = f"last {tx.plural(int(days), 'day')}" if days is not None else "all time"
    title = f"{who} metrics, {window}"
    if not m.trades:
        return [], Reply(
            title=title,
            description="No closed trades in that window.",
            color=GREY,
            footer=_footer(state, clock),
        )
    png = equity_png(m.curve, title=f"Equity and drawdown, {window}")
    return [], Reply(
        title=title,
        fields=metrics_fields(m),
        footer=_footer(state, clock),
        color=GREEN if m.total_pnl >= 0 else RED,
        attachments=[Attachment("equity.png", png, "Equity curve and drawdown")],
    )


# -- admin: the daily schedule --------------------------------------------------------------------


def handle_schedule_status(cmd: Command, state: State, clock: Clock) -> Outcome:
    """The guild's schedule, its next run and its last post."""
    sched = state.guilds.schedule(cmd.inv.guild_id)
    if sched is None:
        return [], Reply(
            title="Daily picks",
            description="Not configured. /schedule set channel: time: strategy: enabled:true",
            color=GREY,
            ephemeral=True,
        )
    fields = [
        ("Enabled", "yes" if sched.enabled else "no", True),
        ("Time", f"{sched.time} America/New_York", True),
        ("Channel", f"<#{sched.channel_id}>" if sched.channel_id else "not set", True),
        ("Strategy", sched.strategy or "not set", True),
        ("Skip earnings within", _days_or_off(sched.skip_earnings_within), True),
    ]
    if sched.enabled and state.calendar is not None:
        try:
            session, at = next_run(clock.now(), parse_time(sched.time), state.calendar)
            fields.append(("Next run", f"{at:%Y-%m-%d %H:%M %Z} (session {session})", False))
        except ScheduleError as exc:
            fields.append(("Next run", str(exc), False))
    last = state.guilds.last_daily_post(cmd.inv.guild_id)
    if last is not None:
        late = " (late)" if last.late else ""
        failures = f", failures: {'; '.join(last.failures)}" if last.failures else ""
        fields.append(
            ("Last post", f"{last.session}: {tx.plural(last.picks, 'pick')}{late}{failures}", False)
        )
    return [], Reply(title="Daily picks", fields=fields, color=BLUE, ephemeral=True)


def _days_or_off(days: int) -> str:
    return tx.plural(days, "day") if days else "off"


def handle_schedule_set(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Change any of channel, time, strategy, enabled, skip_earnings_within; the rest stay as
    they were."""
    guild = cmd.inv.guild_id
    opts = cmd.options
    if not opts:
        raise reject(
            "Give at least one of channel:, time:, strategy:, enabled:, skip_earnings_within:."
        )
    current = state.guilds.schedule(guild)
    time_text = str(opts.get("time", current.time if current else "09:30"))
    try:
        at = parse_time(time_text)
    except ScheduleError as exc:
        raise reject(str(exc)) from None
    strategy = current.strategy if current else None
    if "strategy" in opts:
        strategy = check_strategy(str(opts["strategy"]), state)
    channel = opts.get("channel", current.channel_id if current else cmd.inv.channel_id)
    enabled = bool(opts.get("enabled", current.enabled if current else True))
    if enabled and strategy is None:
        raise reject("Set a strategy for the daily picks (strategy:<name>).")
    skip = (
        skip_earnings_days(opts)
        if "skip_earnings_within" in opts
        else (current.skip_earnings_within if current else 0)
    )
    event = ScheduleConfigured(
        guild_id=guild,
        channel_id=None if channel is None else int(channel),
        time=f"{at:%H:%M}",
        strategy=strategy,
        enabled=enabled,
        skip_earnings_within=skip,
    )
    where = f"<#{event.channel_id}>" if event.channel_id else "no channel yet"
    state_text = "on" if enabled else "off"
    skipping = f", skipping stocks with earnings within {tx.plural(skip, 'day')}" if skip else ""
    return [NewEvent(f"schedule:{guild}", event)], Reply(
        title="Daily picks",
        description=f"{state_text}: {event.time} America/New_York, {strategy}, in {where}"
        f"{skipping}.",
        color=GREEN,
        ephemeral=True,
    )


def handle_schedule_run(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Show the run the service just did (a manual run is not the session's daily post)."""
    run = cmd.context.get("daily")
    if not isinstance(run, DailyRun):
        raise RuntimeError("the service did not gather a daily run")  # a wiring bug
    # A run that could not scan (no strategy, an empty watchlist) or where a fetch failed did
    # not do what was asked: the reply says why, the exit status says it failed.
    return [], msgspec.structs.replace(
        run.reply, partial=run.reply.partial or run.scan_id is None or bool(run.failures)
    )


HANDLERS: dict[str, Handler] = {
    "ping": handle_ping,
    "help": handle_help,
    "about": handle_about,
    "fetch stocks": handle_fetch_stocks,
    "fetch flows": handle_fetch_flows,
    "status": handle_status,
    "watchlist list": handle_watchlist_list,
    "watchlist add": handle_watchlist_add,
    "watchlist remove": handle_watchlist_remove,
    "watchlist clear": handle_watchlist_clear,
    "analyze": handle_analyze,
    "signals": handle_signals,
    "strategies": handle_strategies,
    "strategy show": handle_strategy_show,
    "trade open": handle_trade_open,
    "trade close": handle_trade_close,
    "trade note": handle_trade_note,
    "trade export": handle_trade_export,
    "trades": handle_trades,
    "metrics": handle_metrics,
    "schedule status": handle_schedule_status,
    "schedule set": handle_schedule_set,
    "schedule run": handle_schedule_run,
}
