"""A strategy's entry decisions for every symbol and session at once: the backtest's signal grid.

The scanner evaluates the last bar; this evaluates every bar with the same indicators
(``analysis.series.indicator_series``) and the same comparisons (``evaluator.compare_values``),
as ``(symbols, bars)`` matrices, then lays them on the exchange's session grid. Nothing reads
past its column: indicators are causal (their value at t depends on bars ≤ t only), the crosses
read t−1, the filters a trailing window, flow alerts ``(close_t − recency, close_t]`` and
earnings dates known at t (learned by close_t, or within the lead before the date). Rows are the
symbols sorted, so the input order never matters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from analysis import indicators as ind
from analysis.backtest_model import (
    EARNINGS_LEAD_DAYS,
    AlertTable,
    Direction,
    KnownEarnings,
    MarketData,
    SkippedSymbol,
    epoch_ns,
)
from analysis.evaluator import BoolArray, compare_values
from analysis.exits import exit_atr_requirement
from analysis.series import (
    PRICE_COLUMNS,
    BarBatch,
    DayArray,
    FloatArray,
    SymbolBars,
    indicator_series,
)
from analysis.strategy import (
    DEFAULT_EXIT_ATR_PERIOD,
    ExitRule,
    FlowSignal,
    IndicatorThreshold,
    PriceAction,
    Strategy,
)
from events.wording import plural

_NEW_YORK = ZoneInfo("America/New_York")


@dataclass(frozen=True, eq=False)
class SignalGrid:
    """Prices and decisions on the session grid, shaped ``(symbols, sessions)``.

    Prices are NaN where a symbol has no bar. ``signal`` is where an entry is decided at that
    close (filters, earnings, exit levels and minimum reward:risk already applied); ``strength``
    the fraction of entry conditions passed (ranks signals competing for slots); ``stop``,
    ``target`` the exit levels of the pick (anchored at that close, NaN when none) and
    ``trail_pct`` its trailing distance in percent (NaN when none).
    """

    symbols: tuple[str, ...]
    sessions: DayArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    signal: BoolArray
    strength: FloatArray
    stop: FloatArray
    target: FloatArray
    trail_pct: FloatArray
    skipped: tuple[SkippedSymbol, ...]
    notes: tuple[str, ...]


def bars_needed(strategy: Strategy) -> int:
    """Bars of history before a symbol's first possible signal (see ``backtest.bars_needed``)."""
    needed = [1, exit_atr_requirement(strategy)]
    for condition in strategy.spec.entry.conditions:
        if isinstance(condition, FlowSignal):
            continue
        sides = [
            _operand_bars(strategy, condition.indicator),
            _operand_bars(strategy, condition.value),
        ]
        cross = 1 if condition.operator in ("cross_above", "cross_below") else 0
        needed.append(max(1, *sides) + cross)
    return max(needed)


def _operand_bars(strategy: Strategy, value: float | str) -> int:
    if not isinstance(value, str):
        return 0
    ref = strategy.resolve(value)
    if ref.indicator is None:
        return 1
    return strategy.indicators[ref.indicator].bars_needed()


def session_array(sessions: Sequence[date] | DayArray) -> DayArray:
    """Sessions as sorted unique ``datetime64[D]``."""
    return np.unique(np.asarray(sessions, dtype="datetime64[D]"))


def build_grid(
    strategy: Strategy,
    data: MarketData,
    *,
    direction: Direction,
    decision_time: time,
    skip_earnings_within: int | None,
    earnings_lead_days: int = EARNINGS_LEAD_DAYS,
) -> SignalGrid:
    """Every symbol's decisions on every session of ``data`` (see the module docstring)."""
    sessions = session_array(data.sessions)
    symbols = sorted(data.bars)
    shape = (len(symbols), len(sessions))
    grid = {name: np.full(shape, np.nan) for name in ("open", "high", "low", "close")}
    grid |= {"strength": np.zeros(shape), "stop": np.full(shape, np.nan)}
    grid |= {"target": np.full(shape, np.nan), "trail_pct": np.full(shape, np.nan)}
    signal = np.zeros(shape, dtype=bool)
    decisions = _decision_moments(sessions, decision_time)
    skipped: list[SkippedSymbol] = []
    notes: list[str] = []
    needed = bars_needed(strategy)
    groups: dict[bytes, list[tuple[int, SymbolBars]]] = defaultdict(list)
    placements: dict[bytes, tuple[NDArray[np.bool_] | None, NDArray[np.intp]]] = {}
    for row, symbol in enumerate(symbols):
        bars = data.bars[symbol]
        key = bars.day.tobytes()
        if key not in placements:  # symbols usually share one day array: place it once
            placements[key] = _placement(bars.day, sessions)
        keep = placements[key][0]
        if keep is not None:
            bars = SymbolBars(**{k: getattr(bars, k)[keep] for k in ("day", *PRICE_COLUMNS)})
            ignored = len(keep) - len(bars)
            notes.append(
                f"{symbol}: {plural(ignored, 'bar')} on days that are not sessions ignored"
            )
        if len(bars) == 0:
            skipped.append(SkippedSymbol(symbol=symbol, reason="no bars on the sessions given"))
            continue
        if len(bars) < needed:
            reason = f"too little history ({plural(len(bars), 'bar')}, needs {needed})"
            skipped.append(SkippedSymbol(symbol=symbol, reason=reason))
            continue
        groups[key].append((row, bars))
    for key, members in groups.items():
        columns = placements[key][1]
        batch = BarBatch.stack([(symbols[row], bars) for row, bars in members])
        rows = np.asarray([row for row, _ in members], dtype=np.intp)
        good = _usable_rows(batch, skipped)
        if not good.all():
            batch, rows = batch.take(np.flatnonzero(good).tolist()), rows[good]
            if len(rows) == 0:
                continue
        at = np.ix_(rows, columns)
        for name in ("open", "high", "low", "close"):
            grid[name][at] = batch.column(name)
        outcome = _decide(strategy, batch, direction, needed)
        flow_ok, flow_count = _flow(
            strategy, [symbols[r] for r in rows], data.alert_tables, decisions[columns]
        )
        total = len(strategy.spec.entry.conditions)
        passed = outcome.passed_count + flow_count
        if strategy.spec.entry.logic == "all":
            entered = (
                outcome.all_passed & flow_ok.all(axis=0) if flow_ok.size else outcome.all_passed
            )
        else:
            entered = outcome.any_passed | (flow_ok.any(axis=0) if flow_ok.size else False)
        entered &= outcome.tradeable
        if skip_earnings_within is not None:
            entered &= ~_earnings_blocked(
                [symbols[r] for r in rows],
                data.earnings,
                (sessions[columns], decisions[columns]),
                skip_earnings_within,
                earnings_lead_days,
            )
        signal[at] = entered
        grid["strength"][at] = passed / total
        grid["stop"][at] = outcome.stop
        grid["target"][at] = outcome.target
        grid["trail_pct"][at] = outcome.trail_pct
        notes.extend(n for n in outcome.notes if n not in notes)
    return SignalGrid(
        symbols=tuple(symbols),
        sessions=sessions,
        signal=signal,
        skipped=tuple(sorted(skipped, key=lambda s: s.symbol)),
        notes=tuple(notes),
        **grid,
    )


def _placement(
    days: DayArray, sessions: DayArray
) -> tuple[NDArray[np.bool_] | None, NDArray[np.intp]]:
    """Which of a symbol's days are sessions (``None``: all of them) and their grid columns."""
    columns = np.searchsorted(sessions, days).astype(np.intp)
    found = columns < len(sessions)
    found &= sessions[np.minimum(columns, len(sessions) - 1)] == days
    if found.all():
        return None, columns
    return found, columns[found]


def _usable_rows(batch: BarBatch, skipped: list[SkippedSymbol]) -> NDArray[np.bool_]:
    """Rows whose bars are all valid; the others are reported in ``skipped``."""
    finite = batch.finite_rows()
    upside_down = (batch.low > batch.high).any(axis=1)
    for row in np.flatnonzero(~finite | upside_down):
        reason = (
            "invalid bar data (non-finite price or volume)"
            if not finite[row]
            else "invalid bar data (a low above its high)"
        )
        skipped.append(SkippedSymbol(symbol=batch.symbols[row], reason=reason))
    return finite & ~upside_down


def _decision_moments(sessions: DayArray, decision_time: time) -> NDArray[np.int64]:
    """Each session's decision moment (its close in New York) as UTC epoch nanoseconds."""
    moments = [
        datetime.combine(day, decision_time, _NEW_YORK).astimezone(UTC)
        for day in sessions.astype(object)
    ]
    return np.asarray([epoch_ns(m) for m in moments], dtype=np.int64)


@dataclass
class _Decision:
    """One group's price/indicator conditions and exit levels over all bars."""

    all_passed: BoolArray
    any_passed: BoolArray
    passed_count: FloatArray
    tradeable: BoolArray
    stop: FloatArray
    target: FloatArray
    trail_pct: FloatArray
    notes: list[str]


def _series(
    strategy: Strategy, batch: BarBatch, value: float | str, cache: dict[str, dict[str, FloatArray]]
) -> FloatArray:
    if not isinstance(value, str):
        return np.full(batch.close.shape, float(value))
    ref = strategy.resolve(value)
    if ref.indicator is None:
        return batch.column(ref.output)
    spec = strategy.indicators[ref.indicator]
    if spec.name not in cache:
        cache[spec.name] = indicator_series(spec, batch)
    return cache[spec.name][ref.output]


def _previous(values: FloatArray) -> FloatArray:
    shifted = np.full(values.shape, np.nan)
    shifted[:, 1:] = values[:, :-1]
    return shifted


def _decide(strategy: Strategy, batch: BarBatch, direction: Direction, needed: int) -> _Decision:
    shape = batch.close.shape
    cache: dict[str, dict[str, FloatArray]] = {}
    all_passed = np.ones(shape, dtype=bool)
    any_passed = np.zeros(shape, dtype=bool)
    count = np.zeros(shape)
    all_defined = np.ones(shape, dtype=bool)
    for condition in strategy.spec.entry.conditions:
        if not isinstance(condition, IndicatorThreshold | PriceAction):
            continue
        left = _series(strategy, batch, condition.indicator, cache)
        right = _series(strategy, batch, condition.value, cache)
        left_prev, right_prev = _previous(left), _previous(right)
        passed = compare_values(condition.operator, left, right, left_prev, right_prev)
        defined = np.isfinite(left) & np.isfinite(right)
        if condition.operator in ("cross_above", "cross_below"):
            defined &= np.isfinite(left_prev) & np.isfinite(right_prev)
        passed &= defined
        all_passed &= passed
        any_passed |= passed
        count += passed
        # The scanner skips a symbol whose operand has no value on the evaluation bar.
        all_defined &= defined
    tradeable = all_defined & _filters(strategy, batch)
    tradeable[:, : needed - 1] = False
    notes: list[str] = []
    stop, target, trail = _levels(strategy, batch, direction, cache, notes)
    exit_ = strategy.spec.exit
    for rule, values in ((exit_.stop_loss, stop), (exit_.take_profit, target)):
        if rule is not None:  # a level still in its ATR's warm-up leaves nothing to trade
            tradeable &= np.isfinite(values)
    tradeable &= _levels_valid(strategy, batch.close, stop, target, direction)
    return _Decision(all_passed, any_passed, count, tradeable, stop, target, trail, notes)


def _filters(strategy: Strategy, batch: BarBatch) -> BoolArray:
    """Where the strategy's filters let a symbol through at that bar's close."""
    filters = strategy.spec.filters
    close = batch.close
    ok = np.ones(close.shape, dtype=bool)
    if filters.min_price is not None:
        ok &= close >= filters.min_price
    if filters.max_price is not None:
        ok &= close <= filters.max_price
    if filters.min_volume is not None:
        lookback = filters.volume_lookback
        csum = np.cumsum(batch.volume, axis=1)
        sums = csum.copy()
        sums[:, lookback:] = csum[:, lookback:] - csum[:, :-lookback]
        counts = np.minimum(np.arange(1, close.shape[1] + 1), lookback)
        ok &= sums / counts >= filters.min_volume
    return ok


def _atr_for(
    rule: ExitRule,
    strategy: Strategy,
    batch: BarBatch,
    cache: dict[str, dict[str, FloatArray]],
    notes: list[str],
) -> FloatArray:
    spec = strategy.exit_atr(rule)
    if spec is not None:
        if spec.name not in cache:
            cache[spec.name] = indicator_series(spec, batch)
        return cache[spec.name]["value"]
    note = f"no ATR indicator in the strategy: exits use ATR({DEFAULT_EXIT_ATR_PERIOD})"
    if note not in notes:
        notes.append(note)
    key = f"__ATR({DEFAULT_EXIT_ATR_PERIOD})"
    if key not in cache:
        cache[key] = {"value": ind.atr(batch.high, batch.low, batch.close, DEFAULT_EXIT_ATR_PERIOD)}
    return cache[key]["value"]


def _levels(
    strategy: Strategy,
    batch: BarBatch,
    direction: Direction,
    cache: dict[str, dict[str, FloatArray]],
    notes: list[str],
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Stop, target and trailing percent of a pick at each close (the scanner's rules; a short
    mirrors them: its stop above the entry, its target below)."""
    side = 1.0 if direction == "long" else -1.0
    entry = batch.close
    exit_ = strategy.spec.exit

    def level(rule: ExitRule | None, sign: float) -> FloatArray:
        if rule is None:
            return np.full(entry.shape, np.nan)
        if rule.type == "fixed_price":
            assert rule.value is not None
            return np.full(entry.shape, rule.value)
        if rule.type == "atr_multiple":
            atr = _atr_for(rule, strategy, batch, cache, notes)
            return entry + sign * side * rule.atr_multiple() * atr
        assert rule.value is not None
        return entry * (1 + sign * side * rule.value / 100)

    def trailing(rule: ExitRule | None) -> FloatArray:
        if rule is None:
            return np.full(entry.shape, np.nan)
        if rule.type == "atr_multiple":
            return rule.atr_multiple() * _atr_for(rule, strategy, batch, cache, notes) / entry * 100
        assert rule.value is not None
        return np.full(entry.shape, rule.value)

    stop = level(exit_.stop_loss, -1.0)
    target = level(exit_.take_profit, +1.0)
    trail = trailing(exit_.trailing_stop)
    if (
        exit_.trailing_stop is None
        and exit_.stop_loss is not None
        and exit_.stop_loss.type == "trailing_stop"
    ):
        trail = trailing(exit_.stop_loss)
    return stop, target, trail


def _levels_valid(
    strategy: Strategy,
    entry: FloatArray,
    stop: FloatArray,
    target: FloatArray,
    direction: Direction,
) -> BoolArray:
    """Where the levels can be traded (stop and target on their sides of the entry, above 0) and
    the reward:risk meets the strategy's minimum; a level that is not set passes."""
    side = 1.0 if direction == "long" else -1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        stop_ok = np.isnan(stop) | ((stop > 0) & (side * (entry - stop) > 0))
        target_ok = np.isnan(target) | ((target > 0) & (side * (target - entry) > 0))
        reward_risk = (target - entry) / (entry - stop)
        minimum = strategy.risk_profile.min_risk_reward
        rr_ok = np.isnan(reward_risk) | (reward_risk >= minimum)
    return stop_ok & target_ok & rr_ok


def _flow(
    strategy: Strategy,
    symbols: Sequence[str],
    tables: Mapping[str, AlertTable],
    decisions: NDArray[np.int64],
) -> tuple[BoolArray, FloatArray]:
    """Per flow condition ``(conditions, symbols, bars)``: whether at least ``min_alerts``
    qualifying alerts fall in ``(decision − recency, decision]``; and how many pass per cell."""
    conditions = [c for c in strategy.spec.entry.conditions if isinstance(c, FlowSignal)]
    ok = np.zeros((len(conditions), len(symbols), len(decisions)), dtype=bool)
    for k, condition in enumerate(conditions):
        window = np.int64(round(condition.recency_minutes * 60e9))
        for row, symbol in enumerate(symbols):
            table = tables.get(symbol)
            if table is None:
                continue
            moments = table.created[_qualifying(condition, table)]
            upto = np.searchsorted(moments, decisions, side="right")
            before = np.searchsorted(moments, decisions - window, side="right")
            ok[k, row] = (upto - before) >= condition.min_alerts
    return ok, ok.sum(axis=0).astype(np.float64)


def _qualifying(condition: FlowSignal, table: AlertTable) -> BoolArray:
    """The alerts with the direction, premium and volume a flow condition asks for (the
    vectorised ``evaluator.alert_qualifies``)."""
    keep = (table.premium >= condition.min_premium) & (table.volume >= condition.min_volume)
    if condition.direction != "any":
        keep &= table.direction == condition.direction
    return keep


def _earnings_blocked(
    symbols: Sequence[str],
    earnings: Mapping[str, Sequence[KnownEarnings]],
    sessions: tuple[DayArray, NDArray[np.int64]],
    within: int,
    lead: int,
) -> BoolArray:
    """Where an earnings date known at t falls within ``within`` calendar days from t. Known at
    t: learned by t's close (``sessions``: the days and their decision moments), or from
    ``lead`` days before the date (learned after t: history fetched later)."""
    days, decisions = sessions
    blocked = np.zeros((len(symbols), len(days)), dtype=bool)
    for row, symbol in enumerate(symbols):
        for item in earnings.get(symbol, ()):
            when = np.datetime64(item.day, "D")
            near = (days <= when) & (days >= when - np.timedelta64(within, "D"))
            if item.learned_at is not None:
                learned = decisions >= epoch_ns(item.learned_at)
                near &= learned | (days >= when - np.timedelta64(lead, "D"))
            blocked[row] |= near
    return blocked
