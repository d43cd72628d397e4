"""What Claude is asked when a member drafts a strategy: the tool's input schema, generated from
the strategy format itself, and the instructions (the system prompt), generated from its tables.

The schema is ``msgspec.json.schema`` of ``analysis.strategy_schema.StrategySpec`` trimmed to what
the Messages API takes for a tool's ``input_schema``: its ``$ref``s inlined (the top is the object
itself, as the API requires), ``title``s, ``default``s and the OpenAPI ``discriminator`` dropped,
and the closed vocabularies of the format (indicator types, operators, exit types, logic, flow
directions, risk profiles, price fields) added as ``enum``s, so the format stays the one source.

``to_yaml`` turns a tool input into the strategy file a member reads and saves: the format's
section order, nulls left out.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
import yaml

from analysis.strategy_schema import (
    EXIT_TYPES,
    FLOW_DIRECTIONS,
    INDICATOR_KINDS,
    LOGICS,
    OPERATORS,
    PRICE_FIELDS,
    PROFILE_NAMES,
    RISK_PROFILES,
    StrategySpec,
)

_DROPPED = frozenset({"title", "default", "discriminator"})
_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("IndicatorSpec", "type"): tuple(INDICATOR_KINDS),
    ("IndicatorThreshold", "operator"): OPERATORS,
    ("PriceAction", "operator"): OPERATORS,
    ("PriceAction", "indicator"): PRICE_FIELDS,
    ("Entry", "logic"): LOGICS,
    ("FlowSignal", "direction"): FLOW_DIRECTIONS,
    ("ExitRule", "type"): EXIT_TYPES,
    ("Risk", "profile"): PROFILE_NAMES,
}
SECTIONS = tuple(StrategySpec.__struct_fields__)


@functools.cache
def _schema() -> dict[str, Any]:
    raw = msgspec.json.schema(StrategySpec)
    defs: dict[str, Any] = raw["$defs"]
    for (name, field), values in _ENUMS.items():
        prop = defs[name]["properties"][field]
        prop.pop("type", None)
        prop["enum"] = list(values)
    inlined = _inline(raw, defs)
    assert isinstance(inlined, dict)
    assert inlined.get("type") == "object"  # what the API requires of a tool's input
    return inlined


def tool_schema() -> dict[str, Any]:
    """The tool's ``input_schema``: the strategy format as JSON Schema (a fresh copy)."""
    copy: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(_schema()))
    return copy


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by its definition and the dropped keys removed."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key == "$defs":
            continue
        # A property named like a dropped keyword (a field called "default") is data: kept.
        out[key] = (
            {k: _inline(v, defs) for k, v in value.items()}
            if key == "properties"
            else _inline(value, defs)
        )
    return out


def _indicator_lines() -> list[str]:
    lines = []
    for kind in INDICATOR_KINDS.values():
        params = ", ".join(f"{k}={v}" for k, v in kind.defaults.items())
        outputs = (
            f"outputs NAME (= NAME.{kind.outputs[0]}), "
            + ", ".join(f"NAME.{o}" for o in kind.outputs[1:])
            if len(kind.outputs) > 1
            else "one output, NAME"
        )
        lines.append(f"- {kind.type}: params {params}; {outputs}")
    return lines


@functools.cache
def system_prompt() -> str:
    """The instructions: the format's rules, in the words of ``analysis.strategy_schema``."""
    profiles = ", ".join(
        f"{name} ({p.risk_per_trade:g} of equity per trade)" for name, p in RISK_PROFILES.items()
    )
    return "\n".join(
        [
            "You write trading strategy files for ibpicker, a Discord bot that scans US stocks "
            "on daily bars and options-flow alerts. Turn the member's description into one "
            "strategy and record it by calling the strategy_file tool; its input is the whole "
            "file. Keep to what the description asks; where it is silent, choose conventional, "
            "conservative values and say so in strategy.description.",
            "",
            "Rules of the format:",
            "- strategy.name is a short title; strategy.description one or two sentences.",
            "- Declare every indicator under indicators with a unique name (letters, digits, "
            "underscores; not a price field) and a type; params override the defaults.",
            *_indicator_lines(),
            f"- Price fields usable wherever an indicator is: {', '.join(PRICE_FIELDS)}.",
            "- entry.conditions: indicator_threshold (indicator OPERATOR value, value a number, "
            "an indicator name or a price field), price_action (a price field OPERATOR value), "
            "flow_signal (options flow: direction bullish|bearish|any, min_premium in USD, "
            "min_volume, recency_minutes, min_alerts). entry.logic is all or any.",
            f"- Operators: {', '.join(OPERATORS)}. 'Above the 200-day SMA' is close gt sma_200.",
            "- exit: take_profit, stop_loss and trailing_stop rules, each {type, value, "
            "multiplier, atr}: percentage (value in percent: 5.0 is 5 %), atr_multiple "
            "(multiplier times the ATR indicator named by atr, else the first ATR declared), "
            "fixed_price, trailing_stop (a trailing percentage); time_exit_bars optional.",
            f"- risk.profile: {profiles} or custom (then risk_per_trade, a fraction in (0, 1]: "
            "0.02 is 2 %).",
            "- filters: min_price, max_price, min_volume (average volume over volume_lookback "
            "bars).",
            "If the tool answers with errors, call it again with the whole corrected file.",
        ]
    )


def _without_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_nulls(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_without_nulls(item) for item in node]
    return node


def to_yaml(spec: dict[str, Any]) -> str:
    """The strategy file for a tool input: sections in the format's order, nulls left out."""
    clean = _without_nulls(spec)
    ordered = {k: clean[k] for k in SECTIONS if k in clean}
    ordered.update((k, v) for k, v in clean.items() if k not in ordered)
    return yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True, width=100)
