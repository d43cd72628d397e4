"""Evaluate one strategy on the last bar of a batch of symbols: conditions, filters, exits, size.

What it does that the predecessor meant and got wrong:

- ``cross_above`` means the left side was at or below the right side on the previous bar and is
  above it now (``cross_below`` mirrors it); ``eq``/``ne`` compare with a 1e-9 relative tolerance.
- ``price_action`` compares a price field of the evaluation bar with a number, another price
  field or an indicator.
- ``filters`` apply: the last close within ``[min_price, max_price]``, and the average volume of
  the last ``volume_lookback`` bars (default 20) at least ``min_volume``.
- Flow conditions count alerts created in ``(evaluated_at − recency_minutes, evaluated_at]``:
  never after the evaluation time. ``bullish``/``bearish`` match the alert's direction (derived
  from ask/bid side by the fetchers), ``any`` matches every alert; premium and volume floors apply.
- A symbol whose history is too short for what the strategy uses is reported as skipped, with
  ``too little history (N bars, needs M)``; an indicator without a value on the evaluation bar
  (e.g. VWAP over a window without volume) is reported too. Nothing fails silently.
- ATR-multiple exits use the strategy's ATR (its period), and ATR(14) only when the strategy has
  none, which the signal's notes then say.

Everything is long-only (the strategy format has no direction): entry is the last close, the
stop is below it, the target above. Position size is ``risk_per_trade% × equity / (entry − stop)``
whole shares, capped at what the equity can buy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from analysis import indicators as ind
from analysis.errors import AnalysisError
from analysis.exits import (
    ExitLevels,
    default_atr_label,
    exit_atr_requirement,
    exit_rules,
    position_size,
)
from analysis.series import BarBatch, FloatArray, indicator_series
from analysis.strategy import (
    DEFAULT_EXIT_ATR_PERIOD,
    Condition,
    FlowSignal,
    IndicatorSpec,
    IndicatorThreshold,
    PriceAction,
    SeriesRef,
    Strategy,
    condition_text,
)
from events.analysis import ConditionResult, Signal, SkippedSymbol
from events.market import FlowAlert
from events.wording import plural

BoolArray = NDArray[np.bool_]
DEFAULT_ACCOUNT_EQUITY = 100_000.0
_EQ_RTOL = 1e-9
_SYMBOLS = {"lt": "<", "le": "≤", "gt": ">", "ge": "≥", "eq": "=", "ne": "≠"}


@dataclass(frozen=True)
class Evaluation:
    """What a batch produced: signals and the symbols skipped (with reasons)."""

    signals: list[Signal]
    skipped: list[SkippedSymbol]


def alert_id(alert: FlowAlert) -> str:
    """An alert's identity as evidence: ``option_chain@created_at`` (ISO 8601, in UTC)."""
    return f"{alert.option_chain}@{alert.created_at.astimezone(UTC).isoformat()}"


def require_aware(moment: datetime, what: str) -> None:
    """Refuse a naive datetime: every time in ibpicker carries its zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AnalysisError(f"{what} must be time-zone aware, got naive {moment.isoformat()}")


def flow_matches(
    condition: FlowSignal, alerts: Sequence[FlowAlert], evaluated_at: datetime
) -> list[FlowAlert]:
    """The alerts that satisfy a flow condition at ``evaluated_at`` (upper bound inclusive)."""
    since = evaluated_at - timedelta(minutes=condition.recency_minutes)
    matched = []
    for alert in alerts:
        require_aware(alert.created_at, f"flow alert {alert.option_chain} created_at")
        if since < alert.created_at <= evaluated_at and alert_qualifies(condition, alert):
            matched.append(alert)
    return sorted(matched, key=lambda a: (a.created_at, a.option_chain))


def alert_qualifies(condition: FlowSignal, alert: FlowAlert) -> bool:
    """Whether an alert has the direction, premium and volume a flow condition asks for (its
    time aside)."""
    if condition.direction != "any" and alert.direction != condition.direction:
        return False
    return alert.total_premium >= condition.min_premium and alert.volume >= condition.min_volume


def describe(condition: Condition) -> str:
    """A condition in one line, as users wrote it."""
    return condition_text(condition)


@dataclass
class _Operand:
    """One side of a comparison over the batch: last and previous bar values."""

    label: str
    last: FloatArray
    prev: FloatArray
    bars_needed: int
    is_number: bool = False


class _BatchContext:
    """Indicator outputs of one batch, computed once each and shared by all conditions.

    A context over a subset of a parent's rows (the symbols whose entry rule passed) reuses what
    the parent computed and computes the rest — indicators needed only for evidence and exits —
    on those few rows alone. Rows never influence each other, so the values are the same.
    """

    def __init__(
        self,
        strategy: Strategy,
        batch: BarBatch,
        parent: _BatchContext | None = None,
        rows: Sequence[int] = (),
    ) -> None:
        self.strategy = strategy
        self.batch = batch
        self._parent = parent
        self._rows = np.asarray(rows, dtype=np.intp)
        self._outputs: dict[str, dict[str, FloatArray]] = {}

    def subset(self, rows: Sequence[int]) -> _BatchContext:
        """A context over some of this batch's rows, in the given order."""
        return _BatchContext(self.strategy, self.batch.take(rows), self, rows)

    def outputs(self, spec: IndicatorSpec) -> dict[str, FloatArray]:
        """All outputs of a declared indicator (last two bars kept; that is all we read)."""
        cached = self._outputs.get(spec.name)
        if cached is None:
            inherited = self._parent._outputs.get(spec.name) if self._parent else None
            if inherited is not None:
                cached = {k: v[self._rows] for k, v in inherited.items()}
            else:
                series = indicator_series(spec, self.batch)
                cached = {k: v[:, -2:] for k, v in series.items()}
            self._outputs[spec.name] = cached
        return cached

    def operand(self, value: float | str) -> _Operand:
        """A number, a price field or an indicator output, as last/previous arrays."""
        rows = len(self.batch.symbols)
        if not isinstance(value, str):
            column = np.full(rows, float(value))
            return _Operand(f"{value:g}", column, column, 0, is_number=True)
        ref = self.strategy.resolve(value)
        if ref.is_price:
            matrix = self.batch.column(ref.output)
            last = matrix[:, -1]
            prev = matrix[:, -2] if self.batch.bars > 1 else np.full(rows, np.nan)
            return _Operand(value, last, prev, 1)
        spec = self._spec(ref)
        series = self.outputs(spec)[ref.output]
        prev = series[:, -2] if series.shape[1] > 1 else np.full(rows, np.nan)
        return _Operand(value, series[:, -1], prev, spec.bars_needed())

    def _spec(self, ref: SeriesRef) -> IndicatorSpec:
        assert ref.indicator is not None
        return self.strategy.indicators[ref.indicator]


def compare_values(
    operator: str,
    left: FloatArray,
    right: FloatArray,
    left_prev: FloatArray,
    right_prev: FloatArray,
) -> BoolArray:
    """One operator over arrays of any shape: the current values, and the previous bar's for the
    crosses (the scanner passes the last bar; the backtest every bar at once)."""
    with np.errstate(invalid="ignore"):
        if operator == "lt":
            return left < right
        if operator == "le":
            return left <= right
        if operator == "gt":
            return left > right
        if operator == "ge":
            return left >= right
        if operator == "eq":
            return np.isclose(left, right, rtol=_EQ_RTOL, atol=0.0)
        if operator == "ne":
            return ~np.isclose(left, right, rtol=_EQ_RTOL, atol=0.0)
        if operator == "cross_above":
            return (left_prev <= right_prev) & (left > right)
        if operator == "cross_below":
            return (left_prev >= right_prev) & (left < right)
    raise AnalysisError(f"unknown operator {operator!r}")


def _compare(operator: str, left: _Operand, right: _Operand) -> BoolArray:
    return compare_values(operator, left.last, right.last, left.prev, right.prev)


def _detail(operator: str, left: _Operand, right: _Operand, row: int) -> str:
    def show(operand: _Operand, values: FloatArray) -> str:
        return f"{values[row]:.6g}" if operand.is_number else f"{operand.label} {values[row]:.6g}"

    if operator in ("cross_above", "cross_below"):
        return (
            f"previous bar: {show(left, left.prev)} vs {show(right, right.prev)}; "
            f"last bar: {show(left, left.last)} vs {show(right, right.last)}"
        )
    return f"{show(left, left.last)} {_SYMBOLS[operator]} {show(right, right.last)}"


@dataclass
class _Compiled:
    """A price/indicator condition compiled over a batch."""

    condition: IndicatorThreshold | PriceAction
    left: _Operand
    right: _Operand
    passed: BoolArray

    @property
    def is_cross(self) -> bool:
        """Whether the condition reads the previous bar too."""
        return self.condition.operator in ("cross_above", "cross_below")

    @property
    def bars_needed(self) -> int:
        """Bars of history the condition needs on its evaluation bar."""
        extra = 1 if self.is_cross else 0
        return max(self.left.bars_needed, self.right.bars_needed, 1) + extra


def evaluate_batch(
    strategy: Strategy,
    batch: BarBatch,
    alerts_by_symbol: Mapping[str, Sequence[FlowAlert]],
    *,
    evaluated_at: datetime,
    account_equity: float = DEFAULT_ACCOUNT_EQUITY,
) -> Evaluation:
    """Evaluate ``strategy`` on the last bar of every symbol of ``batch``."""
    require_aware(evaluated_at, "evaluated_at")
    context = _BatchContext(strategy, batch)
    conditions = strategy.spec.entry.conditions
    compiled: dict[int, _Compiled] = {}
    for index, condition in enumerate(conditions):
        if isinstance(condition, FlowSignal):
            continue
        left = context.operand(condition.indicator)
        right = context.operand(condition.value)
        compiled[index] = _Compiled(
            condition, left, right, _compare(condition.operator, left, right)
        )

    exit_atr_needed = exit_atr_requirement(strategy)
    needed = max([1, exit_atr_needed, *(c.bars_needed for c in compiled.values())])
    rows = len(batch.symbols)
    if batch.bars < needed:
        reason = f"too little history ({plural(batch.bars, 'bar')}, needs {needed})"
        return Evaluation([], [SkippedSymbol(symbol=s, reason=reason) for s in batch.symbols])

    skipped: dict[int, str] = {
        int(row): "invalid bar data (non-finite price or volume)"
        for row in np.flatnonzero(~batch.finite_rows())
    }
    _undefined_values(compiled, skipped)
    _apply_filters(strategy, batch, skipped)

    non_flow = [c.passed for c in compiled.values()]
    flow_conditions = {i: c for i, c in enumerate(conditions) if isinstance(c, FlowSignal)}
    logic_all = strategy.spec.entry.logic == "all"
    if logic_all:
        alive = np.logical_and.reduce(non_flow) if non_flow else np.ones(rows, dtype=bool)
    else:
        alive = np.ones(rows, dtype=bool)
        already = np.logical_or.reduce(non_flow) if non_flow else np.zeros(rows, dtype=bool)

    chosen: list[tuple[int, list[ConditionResult], dict[int, list[FlowAlert]]]] = []
    for row in range(rows):
        if row in skipped or not alive[row]:
            continue
        symbol = batch.symbols[row]
        alerts = alerts_by_symbol.get(symbol, ())
        flow = {i: flow_matches(c, alerts, evaluated_at) for i, c in flow_conditions.items()}
        flow_passed = {i: len(flow[i]) >= c.min_alerts for i, c in flow_conditions.items()}
        if logic_all:
            ok = all(flow_passed.values())
        else:
            ok = bool(already[row]) or any(flow_passed.values())
        if not ok:
            continue
        chosen.append((row, _condition_results(conditions, compiled, flow, flow_passed, row), flow))

    signals: list[Signal] = []
    if chosen:
        picked = context.subset([row for row, _, _ in chosen])
        atr_last = _exit_atr_values(picked)
        for index, (row, results, flow) in enumerate(chosen):
            outcome = _signal(strategy, picked, index, results, flow, atr_last, account_equity)
            if isinstance(outcome, str):
                skipped[row] = outcome
            else:
                signals.append(outcome)
    return Evaluation(
        signals,
        [
            SkippedSymbol(symbol=batch.symbols[r], reason=reason)
            for r, reason in sorted(skipped.items())
        ],
    )


def _undefined_values(compiled: Mapping[int, _Compiled], skipped: dict[int, str]) -> None:
    """Rows where an operand has no value on the evaluation bar despite enough history."""
    for item in compiled.values():
        for operand in (item.left, item.right):
            missing = np.isnan(operand.last)
            if item.is_cross:
                missing |= np.isnan(operand.prev)
            for row in np.flatnonzero(missing):
                skipped.setdefault(
                    int(row),
                    f"{operand.label} has no value on the evaluation bar "
                    "(e.g. no volume in its window)",
                )


def _apply_filters(strategy: Strategy, batch: BarBatch, skipped: dict[int, str]) -> None:
    filters = strategy.spec.filters
    close = batch.close[:, -1]
    checks: list[tuple[BoolArray, str]] = []
    if filters.min_price is not None:
        checks.append((close < filters.min_price, f"below min_price {filters.min_price:g}"))
    if filters.max_price is not None:
        checks.append((close > filters.max_price, f"above max_price {filters.max_price:g}"))
    for failed, why in checks:
        for row in np.flatnonzero(failed):
            skipped.setdefault(int(row), f"filtered out: close {close[row]:.6g} {why}")
    if filters.min_volume is not None:
        lookback = min(filters.volume_lookback, batch.bars)
        average = batch.volume[:, -lookback:].mean(axis=1)
        for row in np.flatnonzero(average < filters.min_volume):
            skipped.setdefault(
                int(row),
                f"filtered out: average volume {average[row]:,.0f} over {plural(lookback, 'bar')} "
                f"below min_volume {filters.min_volume:,.0f}",
            )


def _exit_atr_values(context: _BatchContext) -> dict[str, FloatArray]:
    """ATR on the evaluation bar for every ATR the exits may use, keyed by a label."""
    values: dict[str, FloatArray] = {}
    for rule in exit_rules(context.strategy):
        if rule.type != "atr_multiple":
            continue
        chosen = context.strategy.exit_atr(rule)
        if chosen is not None:
            values[chosen.name] = context.outputs(chosen)["value"][:, -1]
        elif default_atr_label() not in values:
            batch = context.batch
            default = ind.atr(batch.high, batch.low, batch.close, DEFAULT_EXIT_ATR_PERIOD)
            values[default_atr_label()] = default[:, -1]
    return values


def _condition_results(
    conditions: Sequence[Condition],
    compiled: Mapping[int, _Compiled],
    flow: Mapping[int, list[FlowAlert]],
    flow_passed: Mapping[int, bool],
    row: int,
) -> list[ConditionResult]:
    results = []
    for index, condition in enumerate(conditions):
        if isinstance(condition, FlowSignal):
            matched = flow[index]
            premium = sum(a.total_premium for a in matched)
            results.append(
                ConditionResult(
                    description=describe(condition),
                    passed=flow_passed[index],
                    detail=f"{len(matched)} matching alert(s), total premium {premium:,.0f}",
                    values={"alerts": float(len(matched)), "premium": premium},
                )
            )
            continue
        item = compiled[index]
        values = {}
        for operand in (item.left, item.right):
            if not operand.is_number:
                values[operand.label] = float(operand.last[row])
        results.append(
            ConditionResult(
                description=describe(condition),
                passed=bool(item.passed[row]),
                detail=_detail(condition.operator, item.left, item.right, row),
                values=values,
            )
        )
    return results


def _indicator_evidence(context: _BatchContext, row: int) -> dict[str, float]:
    """Every declared indicator output (and the close) on the evaluation bar; NaN left out."""
    evidence = {"close": float(context.batch.close[row, -1])}
    for spec in context.strategy.spec.indicators:
        outputs = context.outputs(spec)
        main = spec.kind.outputs[0]
        for output, series in outputs.items():
            key = spec.name if output == main else f"{spec.name}.{output}"
            value = float(series[row, -1])
            if math.isfinite(value):
                evidence[key] = value
    return evidence


def _signal(
    strategy: Strategy,
    context: _BatchContext,
    row: int,
    results: list[ConditionResult],
    flow: Mapping[int, list[FlowAlert]],
    atr_last: Mapping[str, FloatArray],
    account_equity: float,
) -> Signal | str:
    """The signal for one row whose entry rule passed, or why it is not taken."""
    batch = context.batch
    entry = float(batch.close[row, -1])
    notes: list[str] = []
    evidence = _indicator_evidence(context, row)
    levels = ExitLevels(strategy, entry, {k: float(v[row]) for k, v in atr_last.items()}, notes)
    if default_atr_label() in atr_last:
        evidence[default_atr_label()] = float(atr_last[default_atr_label()][row])
    problem = levels.problem()
    if problem:
        return f"not taken: {problem}"
    risk = strategy.risk_profile
    risk_reward = levels.risk_reward()
    if risk_reward is not None and risk_reward < risk.min_risk_reward:
        return (
            f"not taken: reward/risk {risk_reward:.2f} "
            f"below min_risk_reward {risk.min_risk_reward:g}"
        )
    size = position_size(entry, levels.stop_loss, risk.risk_per_trade_pct, account_equity, notes)
    passed = sum(r.passed for r in results)
    flow_ids = sorted({alert_id(a) for matched in flow.values() for a in matched})
    return Signal(
        symbol=batch.symbols[row],
        as_of=batch.last_day[row],
        entry=entry,
        stop_loss=levels.stop_loss,
        take_profit=levels.take_profit,
        trailing_stop_pct=levels.trailing_pct,
        time_exit_bars=strategy.spec.exit.time_exit_bars,
        position_size=size,
        risk_reward=risk_reward,
        score=passed / len(results),
        indicators=evidence,
        conditions=results,
        flow_alerts=flow_ids,
        notes=notes,
    )
