"""The strategy file format (the predecessor's YAML, loaded unchanged): its sections as typed
structs, the indicator kinds, the risk profiles and how operand names resolve.

A file has six sections: ``strategy`` (name, version, description, author, tags), ``indicators``
(``{name, type, params}``), ``entry`` (``conditions`` and ``logic: all|any``), ``exit``
(``take_profit``, ``stop_loss``, ``trailing_stop`` as ``{type, value, multiplier}`` and
``time_exit_bars``), ``risk`` and ``filters``. Validation names the file, the field path
(``entry.conditions[2].operator``) and the problem, and lists the valid choices for an unknown
indicator type, operator, condition type, exit type, price field or indicator reference
(``analysis.strategy_checks``). The loader is ``analysis.strategy``.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import msgspec

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
# The file's shape (msgspec does the structural checks; validate does the semantic ones)
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
        ref = resolve_ref(text, self.indicators)
        if isinstance(ref, str):
            raise KeyError(ref)
        return ref

    def exit_atr(self, rule: ExitRule) -> IndicatorSpec | None:
        """The ATR indicator an ``atr_multiple`` rule uses, or None (then ATR(14) is computed)."""
        if rule.atr is not None:
            return self.indicators[rule.atr]
        return next((s for s in self.spec.indicators if s.type == "ATR"), None)


def resolve_ref(text: str, indicators: Mapping[str, IndicatorSpec]) -> SeriesRef | str:
    """The reference, or a problem description listing what would be valid."""
    if text in PRICE_FIELDS:
        return SeriesRef(text, None, text)
    name, _, output = text.partition(".")
    spec = indicators.get(name)
    if spec is None:
        valid = ", ".join([*PRICE_FIELDS, *all_refs(indicators)])
        return f"unknown indicator {text!r}; valid: {valid}"
    kind = INDICATOR_KINDS.get(spec.type)
    if kind is None:  # already reported as an unknown type
        return SeriesRef(text, name, "value")
    outputs = kind.outputs
    if not output:
        return SeriesRef(text, name, outputs[0])
    if output not in outputs or len(outputs) == 1:
        valid = ", ".join(refs_of(spec))
        return f"{spec.type} indicator {name!r} has no output {output!r}; valid: {valid}"
    return SeriesRef(text, name, output)


def refs_of(spec: IndicatorSpec) -> list[str]:
    outputs = INDICATOR_KINDS[spec.type].outputs
    if len(outputs) == 1:
        return [spec.name]
    return [spec.name, *(f"{spec.name}.{o}" for o in outputs)]


def all_refs(indicators: Mapping[str, IndicatorSpec]) -> list[str]:
    return [
        ref for spec in indicators.values() if spec.type in INDICATOR_KINDS for ref in refs_of(spec)
    ]
