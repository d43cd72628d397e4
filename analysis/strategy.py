"""Strategies loaded: a file's bytes parsed, checked and typed (``parse_strategy``), packaged
strategies by key, files by path, and a strategy described for people (``summary_lines``).

The format is ``analysis.strategy_schema``; its validation ``analysis.strategy_checks``. The names
other modules use from the format are re-exported here, so ``analysis.strategy`` stays the one
place to import a strategy from.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import msgspec
import yaml

from analysis.errors import StrategyError, StrategyProblem
from analysis.strategy_checks import normalise_raw, precheck, translate, type_problems, validate
from analysis.strategy_schema import DEFAULT_EXIT_ATR_PERIOD as DEFAULT_EXIT_ATR_PERIOD
from analysis.strategy_schema import INDICATOR_TYPES as INDICATOR_TYPES
from analysis.strategy_schema import OPERATORS as OPERATORS
from analysis.strategy_schema import Condition as Condition
from analysis.strategy_schema import ExitRule as ExitRule
from analysis.strategy_schema import FlowSignal as FlowSignal
from analysis.strategy_schema import IndicatorSpec as IndicatorSpec
from analysis.strategy_schema import IndicatorThreshold as IndicatorThreshold
from analysis.strategy_schema import ParamValue as ParamValue
from analysis.strategy_schema import PriceAction as PriceAction
from analysis.strategy_schema import SeriesRef as SeriesRef
from analysis.strategy_schema import Strategy as Strategy
from analysis.strategy_schema import StrategySpec
from events.wording import plural

# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

# PyYAML's safe loader, in C when libyaml is available (several times faster, same results).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_strategy(data: bytes, source: str) -> Strategy:
    """Parse and validate a strategy file's bytes; ``source`` names it in errors."""
    try:
        raw = yaml.load(data, Loader=_SafeLoader)  # noqa: S506 - a safe loader (libyaml's if any)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise StrategyError(source, [StrategyProblem(where, f"invalid YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        raise StrategyError(
            source, [StrategyProblem("", "expected a mapping with strategy, indicators, entry…")]
        )
    normalise_raw(raw)
    problems = precheck(raw)
    try:
        spec = msgspec.convert(raw, StrategySpec)
    except msgspec.ValidationError as exc:
        # Every typing problem, not only msgspec's first (those precheck named are not repeated).
        seen = {p.field for p in problems}
        try:
            found = [p for p in type_problems(raw) if p.field not in seen]
        except (LookupError, TypeError, ValueError, AttributeError):
            found = []  # a shape the walk does not know: msgspec's first problem still names it
        raise StrategyError(source, [*problems, *(found or [translate(str(exc), raw)])]) from None
    problems = validate(spec)
    if problems:
        raise StrategyError(source, problems)
    return Strategy(
        spec=spec,
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        text=data.decode("utf-8", errors="replace"),
    )


def load_strategy_file(path: Path) -> Strategy:
    """Load and validate one strategy file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StrategyError(
            str(path), [StrategyProblem("", f"cannot read: {exc.strerror}")]
        ) from None
    return parse_strategy(data, str(path))


def load_strategy_folder(folder: Path) -> list[Strategy]:
    """Every strategy file (``*.yaml``, ``*.yml``) of an operator's folder, sorted by key; the
    first that cannot be read or does not validate raises ``StrategyError`` naming it."""
    if not folder.is_dir():
        raise StrategyError(str(folder), [StrategyProblem("", "not a folder")])
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [load_strategy_file(p) for p in files]


def _packaged() -> dict[str, resources.abc.Traversable]:
    folder = resources.files("analysis") / "strategies"
    return {
        entry.name.rsplit(".", 1)[0]: entry
        for entry in folder.iterdir()
        if entry.name.endswith((".yaml", ".yml"))
    }


def list_strategies() -> list[Strategy]:
    """The strategies shipped with ibpicker, sorted by key (file stem)."""
    return [
        parse_strategy(entry.read_bytes(), f"analysis/strategies/{entry.name}")
        for _, entry in sorted(_packaged().items())
    ]


def load_strategy(name_or_path: str | Path) -> Strategy:
    """A packaged strategy by key (``rsi_pullback``), or a strategy file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        return load_strategy_file(Path(name_or_path))
    packaged = _packaged()
    entry = packaged.get(text)
    if entry is None:
        valid = ", ".join(sorted(packaged))
        raise StrategyError(text, [StrategyProblem("", f"no such strategy; valid: {valid}")])
    return parse_strategy(entry.read_bytes(), f"analysis/strategies/{entry.name}")


def summary_lines(strategy: Strategy) -> list[str]:
    """A strategy described for people, one line per item (for ``strategy show`` and replies)."""
    spec = strategy.spec
    meta = spec.strategy
    lines = [
        f"{strategy.name} v{meta.version}" + (f": {meta.description}" if meta.description else "")
    ]
    if meta.tags:
        lines.append(f"tags: {', '.join(meta.tags)}")
    for indicator in spec.indicators:
        lines.append(
            f"indicator {indicator.name}: {indicator.label()}, "
            f"first value after {plural(indicator.bars_needed(), 'bar')}"
        )
    lines.append(f"entry ({spec.entry.logic} of):")
    lines += [f"  - {condition_text(c)}" for c in spec.entry.conditions]
    for slot in ("take_profit", "stop_loss", "trailing_stop"):
        rule: ExitRule | None = getattr(spec.exit, slot)
        if rule is not None:
            lines.append(f"{slot.replace('_', ' ')}: {_exit_text(strategy, rule)}")
    if spec.exit.time_exit_bars:
        lines.append(f"time exit: after {plural(spec.exit.time_exit_bars, 'bar')}")
    risk = strategy.risk_profile
    lines.append(
        f"risk: {spec.risk.profile}, {risk.risk_per_trade_pct:g}% of equity per trade, "
        f"min reward:risk {risk.min_risk_reward:g}, "
        f"at most {plural(risk.max_positions, 'position')}"
    )
    filters = spec.filters
    parts = []
    if filters.min_price is not None:
        parts.append(f"close ≥ {filters.min_price:g}")
    if filters.max_price is not None:
        parts.append(f"close ≤ {filters.max_price:g}")
    if filters.min_volume is not None:
        parts.append(f"{filters.volume_lookback}-bar average volume ≥ {filters.min_volume:,.0f}")
    lines.append(f"filters: {', '.join(parts) if parts else 'none'}")
    lines.append(f"file: {strategy.source} (sha256 {strategy.sha256})")
    return lines


def condition_text(condition: Condition) -> str:
    """A condition in one line, as users wrote it."""
    if isinstance(condition, FlowSignal):
        text = f"flow {condition.direction}"
        if condition.min_premium:
            text += f", premium ≥ {condition.min_premium:,.0f}"
        if condition.min_volume:
            text += f", volume ≥ {condition.min_volume:,}"
        text += f", within {condition.recency_minutes:g} min"
        if condition.min_alerts > 1:
            text += f", at least {condition.min_alerts} alerts"
        return text
    value = condition.value if isinstance(condition.value, str) else f"{condition.value:g}"
    return f"{condition.indicator} {condition.operator} {value}"


def _exit_text(strategy: Strategy, rule: ExitRule) -> str:
    if rule.type == "atr_multiple":
        atr = strategy.exit_atr(rule)
        which = (
            f"{atr.name} ({atr.label()})"
            if atr
            else f"ATR({DEFAULT_EXIT_ATR_PERIOD}), none declared"
        )
        return f"{rule.atr_multiple():g} × {which}"
    if rule.type == "fixed_price":
        return f"at {rule.value:g}"
    kind = "trailing " if rule.type == "trailing_stop" else ""
    return f"{kind}{rule.value:g}%"
