"""``/backtest`` and ``/backtests``: plain handlers over what ``commands.backtest.gather`` put in
the command (the computed outcome, the past runs); they append ``backtest_completed`` and answer
with the figures, the equity chart (through the chart worker) and the trades on request.
"""

from __future__ import annotations

from collections.abc import Sequence

from commands.backtest.chart import backtest_png, cone, cone_png, series
from commands.backtest.report import (
    BacktestOutcome,
    StrategyRun,
    completed_events,
    document,
    pretty,
    trades_csv,
)
from commands.backtest.request import DEFAULT_CAPITAL
from commands.core import text as tx
from commands.core.handler import Command, Handler, Outcome, State, reply_footer
from commands.core.models import BLUE, Attachment, Reply
from commands.core.ports import Clock
from events.backtests import BacktestCompleted
from events.wording import plural


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def figures(run: StrategyRun) -> list[tuple[str, str, bool]]:
    """The embed fields of one strategy's figures."""
    m = run.result.metrics
    dd_dates = f" ({m.max_drawdown_peak} → {m.max_drawdown_trough})" if m.max_drawdown_peak else ""
    fields = [
        ("Return", tx.pct(m.total_return), True),
        ("CAGR", tx.pct(m.cagr), True),
        ("Final equity", f"{m.final_equity:,.2f}", True),
        ("Sharpe", _ratio(m.sharpe), True),
        ("Sortino", _ratio(m.sortino), True),
        ("Calmar", _ratio(m.calmar), True),
        ("Max drawdown", tx.pct(m.max_drawdown) + dd_dates, False),
        ("Trades", f"{m.trades} ({m.wins} won, {m.losses} lost)", True),
        ("Win rate", tx.pct(m.win_rate), True),
        ("Profit factor", _ratio(m.profit_factor), True),
        ("Expectancy", "—" if m.expectancy is None else f"{m.expectancy:,.2f}", True),
        ("Average R", _ratio(m.average_r), True),
        ("Exposure", tx.pct(m.exposure), True),
        ("Trades a month", _ratio(m.trades_per_month), True),
        ("Open at the end", str(m.open_positions), True),
    ]
    mc = run.monte_carlo
    if mc is not None:
        fields += [
            (
                f"Monte Carlo ({mc.method}, {mc.runs:,} runs, seed {mc.seed})",
                f"final equity p5 {mc.final_equity.p5:,.0f} · p50 {mc.final_equity.p50:,.0f} · "
                f"p95 {mc.final_equity.p95:,.0f}\nmax drawdown p50 "
                f"{tx.pct(mc.max_drawdown.p50)} · p95 {tx.pct(mc.max_drawdown.p95)}\n"
                f"ruin (drawdown ≥ {tx.pct(mc.ruin_drawdown)}): {tx.pct(mc.probability_of_ruin)}",
                False,
            )
        ]
    wf = run.walk_forward
    if wf is not None:
        lines = [
            f"{w.out_of_sample_start} → {w.out_of_sample_end}: in "
            f"{tx.pct(w.in_sample.total_return)}, out {tx.pct(w.out_of_sample.total_return)}"
            for w in wf.windows
        ]
        fields.append(
            (
                f"Walk-forward ({wf.in_sample_sessions} in / {wf.out_of_sample_sessions} out)",
                "\n".join(lines) or "no complete window in the range",
                False,
            )
        )
    return fields


def _compare_fields(runs: Sequence[StrategyRun]) -> list[tuple[str, str, bool]]:
    out = []
    for run in runs:
        m = run.result.metrics
        out.append(
            (
                f"{run.strategy.name} {run.label}",
                f"return {tx.pct(m.total_return)} · CAGR {tx.pct(m.cagr)}\nSharpe "
                f"{_ratio(m.sharpe)} · max DD {tx.pct(m.max_drawdown)}\n{m.trades} trades · "
                f"win {tx.pct(m.win_rate)} · PF {_ratio(m.profit_factor)}",
                True,
            )
        )
    return out


def _description(outcome: BacktestOutcome) -> str:
    r, w = outcome.request, outcome.window
    first = outcome.runs[0]
    sessions = first.result.metrics.sessions
    if r.mode == "compare":  # each strategy at its own version (key@N)
        version = ""
        names = ",".join(run.key + ("" if run.version is None else f"@{run.version}")
                         for run in outcome.runs)  # fmt: skip
    else:
        version = f" version:{first.version}" if first.version is not None else ""
        names = first.key
    common = (("mode", r.mode, "run"), ("capital", f"{r.capital:g}", f"{DEFAULT_CAPITAL:g}"),
              ("commission", f"{r.commission:g}", "0"),
              ("slippage_bps", f"{r.slippage_bps:g}", "0"))  # fmt: skip
    given = [(name, value) for name, value, default in common if value != default]
    extra = "".join(f" {name}:{value}" for name, value in (*given, *r.settings().items()))
    lines = [
        f"{', '.join(r.symbols)} · {w.start} → {w.end} ({plural(sessions, 'session')}) · capital "
        f"{r.capital:,.2f} · commission {r.commission:g} a side · slippage {r.slippage_bps:g} bps",
        *(
            f"`{run.key}` {run.label} sha256 `{run.strategy.sha256[:12]}`"
            + (f" · {plural(len(run.result.skipped), 'symbol')} skipped"
               if run.result.skipped else "")
            for run in outcome.runs
        ),
        f"Data: the journal up to position {w.position}. Repeat exactly with "
        f"`/backtest strategy:{names}{version} "
        f"symbols:{','.join(r.symbols)} from:{w.start} to:{w.end} at:{w.position}{extra}`",
    ]  # fmt: skip
    return "\n".join(lines)


def handle_backtest(cmd: Command, state: State, clock: Clock) -> Outcome:
    """``/backtest``: the gathered outcome recorded (``backtest_completed`` per strategy) and
    shown: figures, the equity chart against buy-and-hold, the trades as CSV or the whole
    result as JSON on request (``export``; JSON in place of the chart)."""
    outcome: BacktestOutcome = cmd.context["backtest"]
    events = completed_events(outcome, run_id=cmd.inv.command_id, guild_id=cmd.inv.guild_id)
    runs = outcome.runs
    names = " vs ".join(run.strategy.name for run in runs)
    compare = outcome.request.mode == "compare"
    attachments: list[Attachment] = []
    export = outcome.request.export
    if export == "json":
        attachments.append(
            Attachment("backtest.json", pretty(document(outcome)), "The whole result (JSON)")
        )
    else:
        chart = series(
            f"{names}: equity vs buy and hold",
            runs[0].result.equity,
            outcome.window.data.bars,
            outcome.request.capital,
        )
        attachments.append(Attachment("backtest.png", backtest_png(chart), "Equity, drawdown"))
        mc = runs[0].monte_carlo
        if mc is not None and mc.cone:
            spread = cone(f"{names}: equity cone of {mc.runs:,} resamples ({mc.method})", mc)
            attachments.append(Attachment("cone.png", cone_png(spread), "Monte Carlo equity cone"))
    if export == "csv":
        attachments.append(Attachment("trades.csv", trades_csv(outcome), "Closed trades (CSV)"))
    mode = "" if outcome.request.mode == "run" else f" ({outcome.request.mode})"
    reply = Reply(
        title=f"Backtest{mode}: {names}",
        description=_description(outcome),
        fields=_compare_fields(runs) if compare else figures(runs[0]),
        footer=reply_footer(state, clock),
        color=BLUE,
        attachments=attachments,
    )
    return events, reply


def _past_line(ev: BacktestCompleted, position: int) -> str:
    p, m = ev.parameters, ev.metrics
    cagr, dd = m.get("cagr"), m.get("max_drawdown")
    return (
        f"`{ev.strategy_key}` {ev.strategy_version} `{ev.strategy_hash[:8]}` · "
        f"{ev.kind.replace('_', '-')} · {len(p.symbols)} sym · {p.start} → {p.end} · data @"
        f"{ev.data_position} · CAGR {tx.pct(cagr)} · max DD {tx.pct(dd)} · "
        f"{int(m.get('trades') or 0)} trades (#{position})"
    )


def handle_backtests(cmd: Command, state: State, clock: Clock) -> Outcome:
    """``/backtests``: this server's past runs, newest first, each with what repeats it (the
    newest the gathering read, and how many there are in all)."""
    total: int
    past: list[tuple[int, BacktestCompleted]]
    total, past = cmd.context["backtests"]
    lines = [_past_line(ev, position) for position, ev in past]
    newest = f"the newest {len(past)} of {total} listed. " if total > len(past) else ""
    base = Reply(
        title=f"Backtests ({total})",
        footer=f"{newest}Repeat one: /backtest with its strategy, symbols, from, to and at: "
        "the same figures, to the byte.",
        color=BLUE,
    )
    return [], tx.paged(base, lines, empty="No backtests yet: run /backtest strategy:NAME.")


HANDLERS: dict[str, Handler] = {"backtest": handle_backtest, "backtests": handle_backtests}
