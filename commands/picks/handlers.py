"""/analyze, /signals and /schedule: scans, their picks and the daily run's settings (the
strategies themselves are the strategies room's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import msgspec

from commands.core import text as tx
from commands.core.handler import (
    Command,
    Handler,
    Outcome,
    State,
    check_strategy,
    check_symbol,
    reject,
    reply_footer,
    symbols_or,
    watched,
)
from commands.core.models import BLUE, GREEN, GREY, Button, DailyRun, Reply
from commands.core.ports import Clock
from commands.core.values import MAX_EARNINGS_DAYS
from commands.picks.schedule import ScheduleError, next_run, parse_time
from events.analysis import SignalsGenerated, SkippedSymbol
from events.base import NewEvent
from events.guild import (
    ScheduleConfigured,
)

DEFAULT_SIGNAL_DAYS = 7


EARNINGS_SKIP_REASON = "earnings on "


"""How ``analysis.scan`` begins the reason of a symbol skipped for its earnings date."""


def analyze_symbols(cmd: Command, state: State) -> list[str]:
    """The symbols ``/analyze`` scans: the option, else the watchlist (rejected when empty)."""
    return symbols_or(
        cmd, state, watched,
        refusal="The watchlist is empty: give symbols (symbols:AAPL,MSFT) or add some with "
        "/watchlist add.",
    )  # fmt: skip


def skip_earnings_days(options: Mapping[str, Any]) -> int:
    """The ``skip_earnings_within`` option in days (0 when omitted: skip none); rejected unless
    between 0 and ``MAX_EARNINGS_DAYS``."""
    days = int(options.get("skip_earnings_within", 0))
    if not 0 <= days <= MAX_EARNINGS_DAYS:
        raise reject(
            f"skip_earnings_within must be between 0 and {MAX_EARNINGS_DAYS} days (got {days})."
        )
    return days


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
    # A server's version is named with its label (v2), as the scan records it.
    version = f" {scan.strategy_version}" if scan.strategy_name == strategy else ""
    return list(cmd.inputs), scan_reply(
        scan,
        title=f"{strategy}{version}: {tx.plural(len(scan.signals), 'pick')}",
        footer=reply_footer(state, clock),
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
        footer=reply_footer(state, clock),
        color=BLUE,
        buttons=buttons,
    )
    return [], tx.paged(base, lines, empty="No signals in that window. Try /analyze.")


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
    "analyze": handle_analyze,
    "signals": handle_signals,
    "schedule status": handle_schedule_status,
    "schedule set": handle_schedule_set,
    "schedule run": handle_schedule_run,
}
