"""/fetch stocks, /fetch flows, /status and /watchlist: market data and what the server watches."""

from __future__ import annotations

from collections.abc import Sequence

from commands.core import text as tx
from commands.core.handler import (
    Command,
    Handler,
    Outcome,
    State,
    bounded_text,
    check_symbols,
    reject,
    reply_footer,
    symbols_or,
    watched_and_stored,
)
from commands.core.models import BLUE, GREEN, RED, Invocation, Reply
from commands.core.ports import Clock
from events.base import NewEvent
from events.guild import (
    WatchlistCleared,
    WatchlistSymbolAdded,
    WatchlistSymbolRemoved,
)
from events.market import BarsFetched, EarningsFetched, FetchFailed, FlowAlertsFetched


def fetch_symbols(cmd: Command, state: State) -> list[str]:
    """The symbols a fetch asks for: those given, else the watchlist and every stored symbol
    (rejected when there are none, or a given one is unknown)."""
    return symbols_or(
        cmd, state, watched_and_stored,
        refusal="Give symbols, e.g. symbols:AAPL,MSFT (the watchlist is empty and no data is "
        "stored yet).",
    )  # fmt: skip


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
    symbols = symbols_or(cmd, state, watched_and_stored, refusal=None)
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
    base = Reply(title="Data coverage", footer=reply_footer(state, clock), color=BLUE)
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
    note = bounded_text("note", cmd.options.get("note"))
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


def complete_symbol(state: State, partial: str, inv: Invocation) -> list[str]:
    """Autocomplete of a symbol option: the watchlist, then stored symbols, by prefix. Symbol
    lists are comma-separated: the last item is completed, the ones before it kept."""
    head, _, last = partial.rpartition(",")
    prefix = last.strip().upper()
    lead = f"{head}," if head else ""
    return [lead + s for s in watched_and_stored(state, inv.guild_id) if s.startswith(prefix)]


HANDLERS: dict[str, Handler] = {
    "fetch stocks": handle_fetch_stocks,
    "fetch flows": handle_fetch_flows,
    "status": handle_status,
    "watchlist list": handle_watchlist_list,
    "watchlist add": handle_watchlist_add,
    "watchlist remove": handle_watchlist_remove,
    "watchlist clear": handle_watchlist_clear,
}
