"""A backtest's result as its front ends show it: the result document (JSON, the same bytes for the
same inputs at the same journal position), the trades as CSV, the ``backtest_completed`` events
and the reply's figures.

The document carries no command id or clock reading: only what was asked (strategy version, data
position, parameters) and what came out (trades, open positions, daily equity, figures), so a
repeated run gives the same bytes and ``backtest_completed.result_hash`` proves it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
import numpy as np

from analysis.backtest import BacktestResult, Metrics, MonteCarloResult, WalkForwardResult
from analysis.strategy import Strategy
from commands.backtest.inputs import Window
from commands.backtest.request import BacktestRequest
from events.backtests import BacktestCompleted, BacktestKind, BacktestParameters, backtests_stream
from events.base import NewEvent

SUMMARY_SKIPS = frozenset({"start", "end", "max_drawdown_peak", "max_drawdown_trough",
                           "max_drawdown_recovery"})  # fmt: skip
"""Figures of ``Metrics`` that are dates, not numbers (the event's summary keeps numbers)."""
TRADE_COLUMNS = (
    "strategy", "symbol", "direction", "signal_date", "entry_date", "entry_price", "exit_date",
    "exit_price", "exit_reason", "shares", "pnl", "r", "commission", "bars_held",
)  # fmt: skip


@dataclass(frozen=True)
class StrategyRun:
    """One strategy's part of a backtest: the strategy at its version and its (main) result."""

    key: str
    label: str
    """The version as the server names it: ``v2`` for its own, the file's version otherwise."""
    strategy: Strategy
    result: BacktestResult
    walk_forward: WalkForwardResult | None = None
    monte_carlo: MonteCarloResult | None = None
    version: int | None = None
    """The server's version number of its own strategy (``None``: shipped, or a file)."""


@dataclass(frozen=True)
class BacktestOutcome:
    """What the gathering computed for one command; the handler turns it into events and a
    reply."""

    request: BacktestRequest
    window: Window
    runs: Sequence[StrategyRun]

    @property
    def kind(self) -> BacktestKind:
        """The event's name for the request's mode."""
        kind: BacktestKind = self.request.mode.replace("-", "_")  # type: ignore[assignment]
        return kind


def _plain(value: object) -> object:
    """A numpy scalar as its Python number (an engine's float64 that reached a result)."""
    if isinstance(value, np.generic):
        return value.item()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def _builtins(value: object) -> Any:
    return msgspec.to_builtins(value, enc_hook=_plain)


def parameters(outcome: BacktestOutcome) -> BacktestParameters:
    """What was asked, as ``backtest_completed`` records it."""
    r = outcome.request
    return BacktestParameters(
        symbols=list(r.symbols),
        start=outcome.window.start,
        end=outcome.window.end,
        capital=r.capital,
        commission=r.commission,
        slippage_bps=r.slippage_bps,
        options=r.settings(),
    )


def _strategy_part(run: StrategyRun) -> dict[str, Any]:
    s = run.strategy
    result = run.result
    part: dict[str, Any] = {
        "strategy": {
            "key": run.key,
            "name": s.name,
            "version": run.label,
            "sha256": s.sha256,
        },
        "trades": _builtins(result.trades),
        "open_positions": _builtins(result.open_positions),
        "equity": _builtins(result.equity),
        "metrics": _builtins(result.metrics),
        "skipped": _builtins(result.skipped),
        "notes": list(result.notes),
    }
    if run.walk_forward is not None:
        part["walk_forward"] = {
            "in_sample_sessions": run.walk_forward.in_sample_sessions,
            "out_of_sample_sessions": run.walk_forward.out_of_sample_sessions,
            "windows": _builtins(run.walk_forward.windows),
        }
    if run.monte_carlo is not None:
        part["monte_carlo"] = _builtins(run.monte_carlo)
    return part


def document(outcome: BacktestOutcome) -> bytes:
    """The result document as compact JSON: ``kind``, ``data_position``, ``parameters``, then
    for one strategy its ``strategy``, ``trades``, ``open_positions``, ``equity``, ``metrics``
    (and ``walk_forward`` / ``monte_carlo``); for ``compare``, one such part per strategy under
    ``strategies``."""
    head: dict[str, Any] = {
        "kind": outcome.request.mode,
        "data_position": outcome.window.position,
        "parameters": _builtins(parameters(outcome)),
    }
    parts = [_strategy_part(run) for run in outcome.runs]
    body = (
        {**head, "strategies": parts} if outcome.request.mode == "compare" else {**head, **parts[0]}
    )
    return msgspec.json.encode(body)


def pretty(body: bytes) -> bytes:
    """The document indented for people (same content, same order)."""
    return msgspec.json.format(body, indent=2) + b"\n"


def summary(
    metrics: Metrics, monte_carlo: MonteCarloResult | None = None
) -> dict[str, float | None]:
    """The numeric figures of a run (and its Monte Carlo percentiles) for the event."""
    out: dict[str, float | None] = {
        k: (None if v is None else float(v))
        for k, v in msgspec.structs.asdict(metrics).items()
        if k not in SUMMARY_SKIPS
    }
    if monte_carlo is not None:
        out.update(
            mc_final_equity_p5=monte_carlo.final_equity.p5,
            mc_final_equity_p50=monte_carlo.final_equity.p50,
            mc_max_drawdown_p95=monte_carlo.max_drawdown.p95,
            mc_probability_of_ruin=monte_carlo.probability_of_ruin,
        )
    return out


def completed_events(
    outcome: BacktestOutcome, *, run_id: str, guild_id: int | None
) -> list[NewEvent]:
    """One ``backtest_completed`` per strategy of the outcome."""
    body = document(outcome)
    digest = hashlib.sha256(body).hexdigest()
    params = parameters(outcome)
    stream = backtests_stream(guild_id)
    return [
        NewEvent(
            stream,
            BacktestCompleted(
                run_id=run_id,
                kind=outcome.kind,
                guild_id=guild_id,
                strategy_key=run.key,
                strategy_name=run.strategy.name,
                strategy_version=run.label,
                strategy_hash=run.strategy.sha256,
                data_position=outcome.window.position,
                parameters=params,
                metrics=summary(run.result.metrics, run.monte_carlo),
                final_equity=run.result.metrics.final_equity,
                result_hash=digest,
            ),
        )
        for run in outcome.runs
    ]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def trades_csv(outcome: BacktestOutcome) -> bytes:
    """Every closed trade of every strategy, one row each, oldest entry first per strategy."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRADE_COLUMNS)
    for run in outcome.runs:
        for t in run.result.trades:
            values = msgspec.structs.asdict(t)
            writer.writerow([run.key, *(_cell(values[c]) for c in TRADE_COLUMNS[1:])])
    return buf.getvalue().encode()
