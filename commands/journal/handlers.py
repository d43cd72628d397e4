"""/trade open|close|note|export, /trades and /metrics: each member's trade journal."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import msgspec

from commands.core import text as tx
from commands.core.handler import (
    Command,
    Handler,
    Outcome,
    State,
    bounded_text,
    check_strategy,
    check_symbol,
    find_strategy,
    reject,
    reply_footer,
)
from commands.core.models import BLUE, GREEN, GREY, RED, Invocation, Reply
from commands.core.ports import Clock, MarketView, SignalRow
from commands.core.values import OptionError, decimal_value
from commands.journal.metrics import JournalMetrics, StrategyNames, compute_metrics, in_window
from events.base import Event, NewEvent
from events.trading import TradeClosed, TradeNoteAdded, TradeOpened
from projections.trading import TradeRecord


def _amount(name: str, value: object, *, required: bool = False) -> Decimal | None:
    """A price or size through the one value gate (``commands.core.values.decimal_value``: exact, at
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


def _trade_event(guild_id: int, trade_id: str, event: Event) -> list[NewEvent]:
    """``event`` as the new events of its trade's stream (``trade:<guild>:<id>``)."""
    return [NewEvent(f"trade:{guild_id}:{trade_id}", event)]


def _own_trade(cmd: Command, state: State) -> TradeRecord:
    raw = str(cmd.options["id"]).strip()
    trade_id = raw.upper()
    trade = state.trades.get(cmd.inv.guild_id, trade_id)
    if trade is None:
        raise reject(f"No trade with id {tx.escape(raw)} in this server. /trades lists yours.")
    if trade.user_id != cmd.inv.user_id:
        raise reject(f"Trade {trade_id} belongs to another member: only its owner can change it.")
    return trade


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
        note=bounded_text("note", opts.get("note")),
    )
    desc = f"{direction} {tx.price(size)} **{symbol}** @ {tx.price(entry)}"
    fields = [("Stop", tx.price(stop), True), ("Target", tx.price(target), True)]
    if strategy:
        fields.append(("Strategy", tx.escape(strategy), True))
    return _trade_event(inv.guild_id, trade_id, event), Reply(
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
        reason=bounded_text("reason", cmd.options.get("reason")),
    )
    closed = msgspec.structs.replace(trade, exit=exit_, closed_at=event.closed_at)
    fields = [
        ("P&L", tx.money(closed.pnl), True),
        ("P&L %", tx.pct(closed.pnl_pct, signed=True), True),
    ]
    if closed.r_multiple is not None:
        fields.append(("R", f"{float(closed.r_multiple):+.2f}R", True))
    pnl = closed.pnl or Decimal(0)
    return _trade_event(trade.guild_id, trade.trade_id, event), Reply(
        title=f"Trade {trade.trade_id} closed",
        description=f"{trade.direction} {tx.price(trade.size)} **{trade.symbol}** "
        f"{tx.price(trade.entry)} → {tx.price(exit_)}",
        fields=fields,
        color=GREEN if pnl > 0 else RED if pnl < 0 else GREY,
    )


def handle_trade_note(cmd: Command, state: State, clock: Clock) -> Outcome:
    """Add a note to one of the member's trades (open or closed)."""
    trade = _own_trade(cmd, state)
    note = bounded_text("text", cmd.options.get("text"))
    if not note:
        raise reject("The note is empty.")
    event = TradeNoteAdded(
        trade_id=trade.trade_id,
        guild_id=trade.guild_id,
        user_id=trade.user_id,
        text=note,
        noted_at=clock.now(),
    )
    return _trade_event(trade.guild_id, trade.trade_id, event), Reply(
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
    from commands.core.models import Attachment

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


def strategy_names(state: State) -> StrategyNames:
    """One key and display name per strategy, however a trade named it (key or display name)."""
    return StrategyNames((s.name, s.title) for s in state.strategies)


def handle_metrics(cmd: Command, state: State, clock: Clock) -> Outcome:
    """A member's journal metrics over N days, with an equity and drawdown chart."""
    # Rendered in the chart worker process, so matplotlib's memory never stays in this one.
    from commands.core.models import Attachment
    from commands.journal.chart_worker import equity_png

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
            footer=reply_footer(state, clock),
        )
    png = equity_png(m.curve, title=f"Equity and drawdown, {window}")
    return [], Reply(
        title=title,
        fields=metrics_fields(m),
        footer=reply_footer(state, clock),
        color=GREEN if m.total_pnl >= 0 else RED,
        attachments=[Attachment("equity.png", png, "Equity curve and drawdown")],
    )


def complete_open_trade(state: State, partial: str, inv: Invocation) -> list[str]:
    """Autocomplete of a trade id: the member's own open trades, newest first, by prefix."""
    prefix = partial.strip().upper()
    trades = state.trades.open_trades(inv.guild_id, inv.user_id)
    return [t.trade_id for t in reversed(trades) if t.trade_id.startswith(prefix)]


def log_trade_prefill(market: MarketView, custom_id: str) -> dict[str, str]:
    """Defaults for the "Log trade" form of a pick's button (``ibpicker:logtrade:<scan>:<symbol>``):
    the pick's values, just the symbol when the pick is gone, nothing for another id."""
    parts = custom_id.split(":")
    if len(parts) != 4 or parts[:2] != ["ibpicker", "logtrade"]:
        return {}
    row = market.signal(parts[2], parts[3])
    if row is None:
        return {"symbol": parts[3]}
    out = {
        "symbol": row.symbol,
        "direction": row.direction,
        "entry": f"{row.entry:.2f}",
        "signal": f"{row.scan_id}:{row.symbol}",
        "strategy": row.strategy_name,
    }
    if row.stop_loss is not None:
        out["stop"] = f"{row.stop_loss:.2f}"
    if row.take_profit is not None:
        out["target"] = f"{row.take_profit:.2f}"
    return out


HANDLERS: dict[str, Handler] = {
    "trade open": handle_trade_open,
    "trade close": handle_trade_close,
    "trade note": handle_trade_note,
    "trade export": handle_trade_export,
    "trades": handle_trades,
    "metrics": handle_metrics,
}
