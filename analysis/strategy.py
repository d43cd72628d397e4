"""The strategy file format (the predecessor's YAML, loaded unchanged), its validation and loader.

A file has six sections: ``strategy`` (name, version, description, author, tags), ``indicators``
(``{name, type, params}``), ``entry`` (``conditions`` and ``logic: all|any``), ``exit``
(``take_profit``, ``stop_loss``, ``trailing_stop`` as ``{type, value, multiplier}`` and
``time_exit_bars``), ``risk`` and ``filters``. Validation names the file, the field path
(``entry.conditions[2].operator``) and the problem, and lists the valid choices for an unknown
indicator type, operator, condition type, exit type, price field or indicator reference.

Naming of indicator outputs. A condition refers to an indicator by its ``name``; multi-output
indicators add a suffix: ``macd`` (= ``macd.line``), ``macd.signal``, ``macd.histogram``;
``bb_20`` (= ``bb_20.middle``), ``bb_20.upper``, ``bb_20.lower``. The plain name is the main line.
Price fields ``open high low close volume`` may be used wherever an indicator may; so indicator
names may not be one of them, nor contain a dot.

Decisions where the predecessor's format was loose (documented here, enforced by validation):

- Percent values are percent: ``value: 5.0`` in a ``percentage`` exit is 5 %. ``risk_per_trade``
  is what it was in the old tool, a **fraction** of account equity (``0.02`` = 2 %), refused
  outside ``(0, 1]``; the profile table is in the same fractions. ``profile: custom`` takes its
  risk from ``risk_per_trade`` (required then) and its other limits from the file, else the
  moderate profile's.
- ``atr_multiple`` reads ``multiplier`` (else ``value``); both present and different is an error.
  The ATR used is the rule's ``atr`` (an ATR indicator's name), else the strategy's first ATR
  indicator, else ATR(14), which the signal's evidence then says.
- Exit type ``trailing_stop`` means a percentage that trails; ``fixed_price`` cannot trail.
- ``filters.min_volume`` compares the average volume of the last ``filters.volume_lookback`` bars
  (default 20; set 1 for the last bar only), the price filters the last close.
- ``flow_signal`` defaults: direction ``any``, no premium or volume floor, 60 minutes, one alert.
- SMA/EMA/VOLUME_SMA/VWAP default to period 20, RSI/ATR to 14, MACD to 12/26/9, BOLLINGER to
  20 and 2.0 standard deviations; every indicator's ``source`` defaults to ``close``.

The strategy's hash is the SHA-256 of the file's bytes, so a signal names exactly what produced it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias, get_args, get_origin

import msgspec
import yaml

from analysis.errors import StrategyError, StrategyProblem
from events.wording import plural

PRICE_FIELDS = ("open", "high", "low", "close", "volume")
OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne", "cross_above", "cross_below")
CROSS_OPERATORS = ("cross_above", "cross_below")
LOGICS = ("all", "any")
FLOW_DIRECTIONS = ("bullish", "bearish", "any")
EXIT_TYPES = ("percentage", "atr_multiple", "fixed_price", "trailing_stop")
DEFAULT_EXIT_ATR_PERIOD = 14
MAX_RECENCY_MINUTES = 366 * 24 * 60


@dataclass(frozen=True)
class RiskProfile:
    """Risk per trade (a fraction of equity), minimum reward:risk and maximum open positions."""

    risk_per_trade: float
    min_risk_reward: float
    max_positions: int

    @property
    def risk_per_trade_pct(self) -> float:
        """The risk per trade as a percent of equity (``0.02`` -> ``2.0``), for sizing and text."""
        return self.risk_per_trade * 100


RISK_PROFILES: Mapping[str, RiskProfile] = {
    "conservative": RiskProfile(0.005, 3.0, 5),
    "moderate": RiskProfile(0.01, 2.0, 8),
    "aggressive": RiskProfile(0.02, 1.5, 10),
}
CUSTOM_PROFILE = "custom"
"""The old format's fourth profile: everything from the file (``risk_per_trade`` required)."""
CUSTOM_DEFAULTS = RISK_PROFILES["moderate"]
"""Where a custom profile's unstated reward:risk floor and position cap come from."""
PROFILE_NAMES = (*RISK_PROFILES, CUSTOM_PROFILE)


# ---------------------------------------------------------------------------------------------
# Indicator kinds: their parameters, outputs and warm-up
# ---------------------------------------------------------------------------------------------

ParamValue: TypeAlias = int | float | str


@dataclass(frozen=True)
class IndicatorKind:
    """What one indicator type accepts and produces.

    ``outputs[0]`` is the main line (what the plain name means); ``bars_needed`` is the number of
    bars after which its first value exists (its warm-up plus one).
    """

    type: str
    defaults: Mapping[str, ParamValue]
    outputs: tuple[str, ...]
    bars_needed: Callable[[Mapping[str, ParamValue]], int]
    min_periods: Mapping[str, int] = field(default_factory=dict)


def _period(params: Mapping[str, ParamValue], name: str = "period") -> int:
    value = params[name]
    assert isinstance(value, int)
    return value


def _macd_bars(params: Mapping[str, ParamValue]) -> int:
    fast, slow = _period(params, "fast_period"), _period(params, "slow_period")
    return max(fast, slow) + _period(params, "signal_period") - 1


INDICATOR_KINDS: Mapping[str, IndicatorKind] = {
    kind.type: kind
    for kind in (
        IndicatorKind(
            "RSI",
            {"period": 14, "source": "close"},
            ("value",),
            lambda p: _period(p) + 1,
            {"period": 2},
        ),
        IndicatorKind("SMA", {"period": 20, "source": "close"}, ("value",), _period),
        IndicatorKind("EMA", {"period": 20, "source": "close"}, ("value",), _period),
        IndicatorKind("ATR", {"period": 14}, ("value",), lambda p: _period(p) + 1),
        IndicatorKind(
            "MACD",
            {"fast_period": 12, "slow_period": 26, "signal_period": 9, "source": "close"},
            ("line", "signal", "histogram"),
            _macd_bars,
        ),
        IndicatorKind(
            "BOLLINGER",
            {"period": 20, "std_dev": 2.0, "source": "close"},
            ("middle", "upper", "lower"),
            _period,
        ),
        IndicatorKind("VWAP", {"period": 20}, ("value",), _period),
        IndicatorKind("VOLUME_SMA", {"period": 20}, ("value",), _period),
    )
}
INDICATOR_TYPES = tuple(INDICATOR_KINDS)


# ---------------------------------------------------------------------------------------------
# The file's shape (msgspec does the structural checks; _validate does the semantic ones)
# ---------------------------------------------------------------------------------------------


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every section: unknown keys are typos and are rejected."""


class StrategyMeta(msgspec.Struct, frozen=True, kw_only=True):
    """The ``strategy:`` block (descriptive only; extra keys are tolerated here)."""

    name: str
    version: str = "1.0.0"
    description: str = ""
    author: str = ""
    tags: list[str] = []


class IndicatorSpec(_Section, frozen=True, kw_only=True):
    """One declared indicator; ``params`` are checked against its kind's defaults."""

    name: str
    type: str
    params: dict[str, ParamValue] = {}

    @property
    def kind(self) -> IndicatorKind:
        """The indicator's kind (valid after loading)."""
        return INDICATOR_KINDS[self.type]

    def param(self, name: str) -> ParamValue:
        """A parameter's value, or its kind's default."""
        return self.params.get(name, self.kind.defaults[name])

    def resolved_params(self) -> dict[str, ParamValue]:
        """Every parameter with defaults filled in."""
        return {**self.kind.defaults, **self.params}

    def bars_needed(self) -> int:
        """Bars of history before this indicator has its first value."""
        return self.kind.bars_needed(self.resolved_params())

    def label(self) -> str:
        """``RSI(14)``-style description for evidence and listings."""
        values = [str(v) for k, v in self.resolved_params().items() if k != "source"]
        source = self.params.get("source")
        if source not in (None, "close"):
            values.append(str(source))
        return f"{self.type}({', '.join(values)})"


Operand: TypeAlias = float | str


class IndicatorThreshold(
    _Section, frozen=True, kw_only=True, tag_field="type", tag="indicator_threshold"
):
    """``indicator operator value``; value is a number, an indicator or a price field."""

    indicator: str
    operator: str
    value: Operand


class PriceAction(_Section, frozen=True, kw_only=True, tag_field="type", tag="price_action"):
    """``close|open|high|low|volume operator value`` on the evaluation bar."""

    indicator: str
    operator: str
    value: Operand


class FlowSignal(_Section, frozen=True, kw_only=True, tag_field="type", tag="flow_signal"):
    """At least ``min_alerts`` flow alerts within ``recency_minutes`` before evaluation time."""

    direction: str = "any"
    min_premium: float = 0.0
    min_volume: int = 0
    recency_minutes: float = 60.0
    min_alerts: int = 1


Condition: TypeAlias = IndicatorThreshold | PriceAction | FlowSignal
CONDITION_TYPES = ("indicator_threshold", "flow_signal", "price_action")


class Entry(_Section, frozen=True, kw_only=True):
    """The entry rule: conditions combined by ``logic``."""

    conditions: list[Condition]
    logic: str = "all"


class ExitRule(_Section, frozen=True, kw_only=True):
    """One exit level: how it is computed (``type``) and its number(s)."""

    type: str
    value: float | None = None
    multiplier: float | None = None
    atr: str | None = None

    def atr_multiple(self) -> float:
        """The ATR multiple (``multiplier``, else ``value``; valid after loading)."""
        number = self.multiplier if self.multiplier is not None else self.value
        assert number is not None
        return number


class Exit(_Section, frozen=True, kw_only=True):
    """Exit levels and an optional time exit."""

    take_profit: ExitRule | None = None
    stop_loss: ExitRule | None = None
    trailing_stop: ExitRule | None = None
    time_exit_bars: int | None = None


class Risk(_Section, frozen=True, kw_only=True):
    """Risk profile and overrides."""

    profile: str = "moderate"
    risk_per_trade: float | None = None
    max_positions: int | None = None
    min_risk_reward: float | None = None


class Filters(_Section, frozen=True, kw_only=True):
    """Universe filters applied before the entry conditions."""

    min_volume: float | None = None
    min_price: float | None = None
    max_price: float | None = None
    volume_lookback: int = 20


class StrategySpec(_Section, frozen=True, kw_only=True):
    """A whole strategy file."""

    strategy: StrategyMeta
    indicators: list[IndicatorSpec] = []
    entry: Entry
    exit: Exit = Exit()
    risk: Risk = Risk()
    filters: Filters = Filters()


# ---------------------------------------------------------------------------------------------
# References: "rsi_14", "macd.signal", "close"
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesRef:
    """A resolved operand name: a price field, or one output of a declared indicator."""

    text: str
    indicator: str | None
    output: str

    @property
    def is_price(self) -> bool:
        """Whether this is a raw price field rather than an indicator."""
        return self.indicator is None


@dataclass(frozen=True)
class Strategy:
    """A loaded, validated strategy and where it came from."""

    spec: StrategySpec
    source: str
    sha256: str
    text: str = field(default="", repr=False, compare=False)
    """The file's text as loaded (what ``sha256`` hashes), for ``strategy show``."""

    @property
    def name(self) -> str:
        """The strategy's display name (``strategy.name``)."""
        return self.spec.strategy.name

    @property
    def key(self) -> str:
        """The file stem, how users name a packaged strategy."""
        return Path(self.source).stem

    @property
    def indicators(self) -> dict[str, IndicatorSpec]:
        """Declared indicators by name, in file order."""
        return {spec.name: spec for spec in self.spec.indicators}

    @property
    def risk_profile(self) -> RiskProfile:
        """The effective risk settings: the profile with the file's overrides applied."""
        risk = self.spec.risk
        base = RISK_PROFILES.get(risk.profile, CUSTOM_DEFAULTS)
        return RiskProfile(
            risk_per_trade=(
                risk.risk_per_trade if risk.risk_per_trade is not None else base.risk_per_trade
            ),
            min_risk_reward=(
                risk.min_risk_reward if risk.min_risk_reward is not None else base.min_risk_reward
            ),
            max_positions=(
                risk.max_positions if risk.max_positions is not None else base.max_positions
            ),
        )

    def resolve(self, text: str) -> SeriesRef:
        """Resolve an operand name (valid names only: the file was validated)."""
        ref = _resolve_ref(text, self.indicators)
        if isinstance(ref, str):
            raise KeyError(ref)
        return ref

    def exit_atr(self, rule: ExitRule) -> IndicatorSpec | None:
        """The ATR indicator an ``atr_multiple`` rule uses, or None (then ATR(14) is computed)."""
        if rule.atr is not None:
            return self.indicators[rule.atr]
        return next((s for s in self.spec.indicators if s.type == "ATR"), None)


def _resolve_ref(text: str, indicators: Mapping[str, IndicatorSpec]) -> SeriesRef | str:
    """The reference, or a problem description listing what would be valid."""
    if text in PRICE_FIELDS:
        return SeriesRef(text, None, text)
    name, _, output = text.partition(".")
    spec = indicators.get(name)
    if spec is None:
        valid = ", ".join([*PRICE_FIELDS, *_all_refs(indicators)])
        return f"unknown indicator {text!r}; valid: {valid}"
    kind = INDICATOR_KINDS.get(spec.type)
    if kind is None:  # already reported as an unknown type
        return SeriesRef(text, name, "value")
    outputs = kind.outputs
    if not output:
        return SeriesRef(text, name, outputs[0])
    if output not in outputs or len(outputs) == 1:
        valid = ", ".join(_refs_of(spec))
        return f"{spec.type} indicator {name!r} has no output {output!r}; valid: {valid}"
    return SeriesRef(text, name, output)


def _refs_of(spec: IndicatorSpec) -> list[str]:
    outputs = INDICATOR_KINDS[spec.type].outputs
    if len(outputs) == 1:
        return [spec.name]
    return [spec.name, *(f"{spec.name}.{o}" for o in outputs)]


def _all_refs(indicators: Mapping[str, IndicatorSpec]) -> list[str]:
    return [
        ref
        for spec in indicators.values()
        if spec.type in INDICATOR_KINDS
        for ref in _refs_of(spec)
    ]


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

# PyYAML's safe loader, in C when libyaml is available (several times faster, same results).
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MSGSPEC_AT = re.compile(r"^(?P<problem>.*?) - at `\$(?P<path>[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<name>[^`]*)`")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
    _normalise_raw(raw)
    problems = _precheck(raw)
    if problems:
        raise StrategyError(source, problems)
    try:
        spec = msgspec.convert(raw, StrategySpec)
    except msgspec.ValidationError as exc:
        raise StrategyError(source, [_translate(str(exc), raw)]) from None
    problems = _validate(spec)
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


def _normalise_raw(raw: dict[str, Any]) -> None:
    """Accept YAML's loose scalars where the old tool did (``version: 1.0`` is a string)."""
    meta = raw.get("strategy")
    if isinstance(meta, dict) and isinstance(meta.get("version"), int | float):
        meta["version"] = str(meta["version"])


def _precheck(raw: Mapping[str, Any]) -> list[StrategyProblem]:
    """Checks that must run before msgspec so their messages can list the valid choices."""
    entry = raw.get("entry")
    if not isinstance(entry, dict) or not isinstance(entry.get("conditions"), list):
        return []
    problems = []
    for i, condition in enumerate(entry["conditions"]):
        if isinstance(condition, dict) and condition.get("type") not in CONDITION_TYPES:
            problems.append(
                StrategyProblem(
                    f"entry.conditions[{i}].type",
                    _unknown("condition type", condition.get("type"), CONDITION_TYPES),
                )
            )
    return problems


def _unknown(what: str, value: object, valid: Sequence[str]) -> str:
    if value is None:
        return f"missing {what}; valid: {', '.join(valid)}"
    return f"unknown {what} {value!r}; valid: {', '.join(valid)}"


def _translate(message: str, raw: Any) -> StrategyProblem:
    """Turn a msgspec message into (field path, problem), listing valid fields for typos."""
    match = _MSGSPEC_AT.match(message)
    path = match.group("path").lstrip(".") if match else ""
    problem = match.group("problem") if match else message
    unknown = _UNKNOWN_FIELD.search(problem)
    if unknown:
        valid = _fields_at(path, raw)
        field_path = f"{path}.{unknown.group('name')}" if path else unknown.group("name")
        suffix = f"; valid: {', '.join(valid)}" if valid else ""
        return StrategyProblem(field_path, f"unknown field{suffix}")
    problem = problem.replace("Object missing required field", "missing required field")
    problem = problem.replace("Expected `", "expected `")
    return StrategyProblem(path, problem)


def _fields_at(path: str, raw: Any) -> list[str]:
    """The field names of the struct found at ``path`` (walking types and the raw data)."""
    cls: Any = StrategySpec
    node = raw
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(node, list):
            node = node[int(part)]
        else:
            annotation = {f.name: f.type for f in msgspec.structs.fields(cls)}[part]
            node = node[part]
            cls = _struct_in(annotation, node)
    if isinstance(node, list):
        return []
    return [f.name for f in msgspec.structs.fields(cls)]


def _struct_in(annotation: Any, node: Any) -> Any:
    """The struct type inside an annotation (``list[X]``, ``X | None``, a tagged union)."""
    if get_origin(annotation) is list:
        return _struct_in(get_args(annotation)[0], node[0] if node else None)
    args = [a for a in get_args(annotation) if a is not type(None)]
    if not args:
        return annotation
    if len(args) == 1:
        return _struct_in(args[0], node)
    tag = node.get("type") if isinstance(node, dict) else None
    return next((a for a in args if a.__struct_config__.tag == tag), args[0])


def _validate(spec: StrategySpec) -> list[StrategyProblem]:
    """Semantic checks: names, parameters, references, operators, exits, risk, filters."""
    problems: list[StrategyProblem] = []
    indicators = _validate_indicators(spec.indicators, problems)
    for i, condition in enumerate(spec.entry.conditions):
        _validate_condition(condition, f"entry.conditions[{i}]", indicators, problems)
    if not spec.entry.conditions:
        problems.append(StrategyProblem("entry.conditions", "at least one condition is needed"))
    if spec.entry.logic not in LOGICS:
        problems.append(StrategyProblem("entry.logic", _unknown("logic", spec.entry.logic, LOGICS)))
    _validate_exit(spec.exit, indicators, problems)
    _validate_risk(spec.risk, problems)
    _validate_filters(spec.filters, problems)
    return problems


def _validate_indicators(
    specs: Sequence[IndicatorSpec], problems: list[StrategyProblem]
) -> dict[str, IndicatorSpec]:
    seen: dict[str, IndicatorSpec] = {}
    for i, spec in enumerate(specs):
        where = f"indicators[{i}]"
        if not _NAME.match(spec.name) or spec.name in PRICE_FIELDS:
            problems.append(
                StrategyProblem(
                    f"{where}.name",
                    f"invalid name {spec.name!r}: use letters, digits and _ "
                    f"(not a price field: {', '.join(PRICE_FIELDS)})",
                )
            )
        elif spec.name in seen:
            problems.append(StrategyProblem(f"{where}.name", f"duplicate name {spec.name!r}"))
        else:
            # Kept even when its type or params are wrong, so references to it do not pile up.
            seen[spec.name] = spec
        kind = INDICATOR_KINDS.get(spec.type)
        if kind is None:
            problems.append(
                StrategyProblem(
                    f"{where}.type", _unknown("indicator type", spec.type, INDICATOR_TYPES)
                )
            )
            continue
        for param, value in spec.params.items():
            _validate_param(kind, param, value, f"{where}.params.{param}", problems)
    return seen


def _validate_param(
    kind: IndicatorKind, param: str, value: ParamValue, where: str, problems: list[StrategyProblem]
) -> None:
    default = kind.defaults.get(param)
    if default is None:
        valid = ", ".join(kind.defaults) or "none"
        problems.append(
            StrategyProblem(where, f"{kind.type} has no parameter {param!r}; valid: {valid}")
        )
    elif param == "source":
        if value not in PRICE_FIELDS:
            problems.append(StrategyProblem(where, _unknown("source", value, PRICE_FIELDS)))
    elif isinstance(default, int):
        minimum = kind.min_periods.get(param, 1)
        if not isinstance(value, int) or value < minimum:
            problems.append(
                StrategyProblem(where, f"expected a whole number ≥ {minimum}, got {value!r}")
            )
    elif not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        problems.append(StrategyProblem(where, f"expected a positive number, got {value!r}"))


def _validate_condition(
    condition: Condition,
    where: str,
    indicators: Mapping[str, IndicatorSpec],
    problems: list[StrategyProblem],
) -> None:
    if isinstance(condition, FlowSignal):
        if condition.direction not in FLOW_DIRECTIONS:
            problems.append(
                StrategyProblem(
                    f"{where}.direction",
                    _unknown("direction", condition.direction, FLOW_DIRECTIONS),
                )
            )
        if not 0 < condition.recency_minutes <= MAX_RECENCY_MINUTES:
            problems.append(
                StrategyProblem(
                    f"{where}.recency_minutes",
                    f"must be more than 0 and at most {MAX_RECENCY_MINUTES:,} (a year)",
                )
            )
        for name in ("min_premium", "min_volume"):
            value = getattr(condition, name)
            if not math.isfinite(value) or value < 0:
                problems.append(StrategyProblem(f"{where}.{name}", "must be a number ≥ 0"))
        if condition.min_alerts < 1:
            problems.append(StrategyProblem(f"{where}.min_alerts", "must be at least 1"))
        return
    if condition.operator not in OPERATORS:
        problems.append(
            StrategyProblem(
                f"{where}.operator", _unknown("operator", condition.operator, OPERATORS)
            )
        )
    if isinstance(condition, PriceAction):
        if condition.indicator not in PRICE_FIELDS:
            problems.append(
                StrategyProblem(
                    f"{where}.indicator", _unknown("price field", condition.indicator, PRICE_FIELDS)
                )
            )
    else:
        _check_ref(condition.indicator, f"{where}.indicator", indicators, problems)
    if isinstance(condition.value, str):
        _check_ref(condition.value, f"{where}.value", indicators, problems)
    elif not math.isfinite(condition.value):
        problems.append(StrategyProblem(f"{where}.value", "must be a finite number"))


def _check_ref(
    text: str, where: str, indicators: Mapping[str, IndicatorSpec], problems: list[StrategyProblem]
) -> None:
    ref = _resolve_ref(text, indicators)
    if isinstance(ref, str):
        problems.append(StrategyProblem(where, ref))


_EXIT_TYPES_FOR: Mapping[str, tuple[str, ...]] = {
    "take_profit": ("percentage", "atr_multiple", "fixed_price"),
    "stop_loss": EXIT_TYPES,
    "trailing_stop": ("percentage", "atr_multiple", "trailing_stop"),
}


def _validate_exit(
    exit_: Exit, indicators: Mapping[str, IndicatorSpec], problems: list[StrategyProblem]
) -> None:
    for slot, valid_types in _EXIT_TYPES_FOR.items():
        rule: ExitRule | None = getattr(exit_, slot)
        if rule is None:
            continue
        where = f"exit.{slot}"
        if rule.type not in valid_types:
            problems.append(
                StrategyProblem(f"{where}.type", _unknown(f"{slot} type", rule.type, valid_types))
            )
            continue
        if rule.type == "atr_multiple":
            _validate_atr_rule(rule, where, indicators, problems)
            continue
        if rule.value is None or not math.isfinite(rule.value) or rule.value <= 0:
            problems.append(
                StrategyProblem(f"{where}.value", f"{rule.type} needs a positive value")
            )
        elif rule.type != "fixed_price" and slot != "take_profit" and rule.value >= 100:
            problems.append(StrategyProblem(f"{where}.value", "a percentage below 100 is needed"))
    if exit_.time_exit_bars is not None and exit_.time_exit_bars < 1:
        problems.append(StrategyProblem("exit.time_exit_bars", "must be at least 1"))


def _validate_atr_rule(
    rule: ExitRule,
    where: str,
    indicators: Mapping[str, IndicatorSpec],
    problems: list[StrategyProblem],
) -> None:
    if rule.multiplier is not None and rule.value is not None and rule.multiplier != rule.value:
        problems.append(
            StrategyProblem(
                where,
                f"atr_multiple has value {rule.value} and multiplier {rule.multiplier}: "
                "give one (or both equal)",
            )
        )
    number = rule.multiplier if rule.multiplier is not None else rule.value
    if number is None or not math.isfinite(number) or number <= 0:
        problems.append(
            StrategyProblem(f"{where}.multiplier", "atr_multiple needs a positive multiplier")
        )
    if rule.atr is not None:
        spec = indicators.get(rule.atr)
        if spec is None or spec.type != "ATR":
            valid = [name for name, s in indicators.items() if s.type == "ATR"]
            problems.append(
                StrategyProblem(
                    f"{where}.atr",
                    _unknown("ATR indicator", rule.atr, valid or ["(none declared)"]),
                )
            )


def _validate_risk(risk: Risk, problems: list[StrategyProblem]) -> None:
    if risk.profile not in PROFILE_NAMES:
        problems.append(
            StrategyProblem("risk.profile", _unknown("risk profile", risk.profile, PROFILE_NAMES))
        )
    if risk.risk_per_trade is None:
        if risk.profile == CUSTOM_PROFILE:
            problems.append(
                StrategyProblem(
                    "risk.risk_per_trade",
                    "profile custom needs risk_per_trade, a fraction of equity (0.02 = 2 %)",
                )
            )
    # "not 0 < x <= 1" also refuses NaN.
    elif not 0 < risk.risk_per_trade <= 1:
        problems.append(
            StrategyProblem(
                "risk.risk_per_trade",
                f"{risk.risk_per_trade:g} is not a fraction of equity in (0, 1]: "
                "0.02 = 2 % of equity per trade",
            )
        )
    if risk.max_positions is not None and risk.max_positions < 1:
        problems.append(StrategyProblem("risk.max_positions", "must be at least 1"))
    if risk.min_risk_reward is not None and not (
        math.isfinite(risk.min_risk_reward) and risk.min_risk_reward >= 0
    ):
        problems.append(StrategyProblem("risk.min_risk_reward", "must be a number ≥ 0"))


def _validate_filters(filters: Filters, problems: list[StrategyProblem]) -> None:
    for name in ("min_volume", "min_price", "max_price"):
        value = getattr(filters, name)
        if value is not None and (not math.isfinite(value) or value < 0):
            problems.append(StrategyProblem(f"filters.{name}", "must be a non-negative number"))
    if (
        filters.min_price is not None
        and filters.max_price is not None
        and filters.min_price > filters.max_price
    ):
        problems.append(StrategyProblem("filters", "min_price is above max_price"))
    if filters.volume_lookback < 1:
        problems.append(StrategyProblem("filters.volume_lookback", "must be at least 1"))


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
