"""The strategy file's validation beyond its types: the checks before typed decoding (names,
unknown sections), the translation of msgspec's errors into a field path and the valid choices,
and the rules across fields (references, exits, risk, filters). Each problem names the field path.

The format and its decisions are described in ``analysis.strategy_schema``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

import msgspec

from analysis.errors import StrategyProblem
from analysis.strategy_schema import (
    CONDITION_TYPES,
    CUSTOM_PROFILE,
    EXIT_TYPES,
    FLOW_DIRECTIONS,
    INDICATOR_KINDS,
    INDICATOR_TYPES,
    LOGICS,
    MAX_RECENCY_MINUTES,
    OPERATORS,
    PRICE_FIELDS,
    PROFILE_NAMES,
    Condition,
    Exit,
    ExitRule,
    Filters,
    FlowSignal,
    IndicatorKind,
    IndicatorSpec,
    ParamValue,
    PriceAction,
    Risk,
    StrategySpec,
    resolve_ref,
)

_MSGSPEC_AT = re.compile(r"^(?P<problem>.*?) - at `\$(?P<path>[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"unknown field `(?P<name>[^`]*)`")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalise_raw(raw: dict[str, Any]) -> None:
    """Accept YAML's loose scalars where the old tool did (``version: 1.0`` is a string)."""
    meta = raw.get("strategy")
    if isinstance(meta, dict) and isinstance(meta.get("version"), int | float):
        meta["version"] = str(meta["version"])


def precheck(raw: Mapping[str, Any]) -> list[StrategyProblem]:
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


def translate(message: str, raw: Any) -> StrategyProblem:
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


def type_problems(raw: Mapping[str, Any]) -> list[StrategyProblem]:
    """Every typing problem of a file, not just the first: msgspec stops at the first wrong
    value, so each section, list item and field that fails is converted again on its own."""
    return _problems_of(raw, StrategySpec, "", raw)


def _problems_of(node: Any, annotation: Any, path: str, raw: Any) -> list[StrategyProblem]:
    try:
        msgspec.convert(node, annotation)
        return []
    except msgspec.ValidationError as exc:
        first = str(exc)
    problems: list[StrategyProblem] = []
    structs = _structs_of(annotation)
    if isinstance(node, dict) and structs:
        by_tag = {s.__struct_config__.tag: s for s in structs}
        struct = structs[0]
        if len(structs) > 1:
            if node.get("type") not in by_tag:
                # A tagged union given an unknown tag: precheck names it with the valid ones.
                valid = ", ".join(map(str, by_tag))
                return [StrategyProblem(f"{path}.type", f"unknown type; valid: {valid}")]
            struct = by_tag[node.get("type")]
        problems = _struct_problems(node, struct, path, raw)
    elif isinstance(node, list) and get_origin(annotation) is list:
        item = get_args(annotation)[0]
        for i, value in enumerate(node):
            problems += _problems_of(value, item, f"{path}[{i}]", raw)
    if problems:
        return problems
    # A scalar, or a container whose parts each convert: msgspec's own message, at the full path.
    match = _MSGSPEC_AT.match(first)
    problem, inner = (match.group("problem"), match.group("path")) if match else (first, "")
    return [translate(f"{problem} - at `${'.' if path else ''}{path}{inner}`", raw)]


def _is_struct(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, msgspec.Struct)


def _structs_of(annotation: Any) -> list[type[msgspec.Struct]]:
    """The struct types an annotation admits: itself, or the structs of a union (``X | None``,
    a tagged union); none for a list, a dict or a scalar."""
    if _is_struct(annotation):
        return [annotation]
    if get_origin(annotation) in (Union, UnionType):
        return [a for a in get_args(annotation) if _is_struct(a)]
    return []


def _struct_problems(
    node: Mapping[str, Any], struct: type[msgspec.Struct], path: str, raw: Any
) -> list[StrategyProblem]:
    fields = {f.name: f for f in msgspec.structs.fields(struct)}
    tag_field = struct.__struct_config__.tag_field
    where = f"{path}." if path else ""
    problems = [
        StrategyProblem(f"{where}{key}", f"unknown field; valid: {', '.join(fields)}")
        for key in node
        if key not in fields and key != tag_field
    ]
    for name, info in fields.items():
        if name not in node:
            if info.required:
                problems.append(StrategyProblem(path, f"missing required field `{name}`"))
            continue
        problems += _problems_of(node[name], info.type, f"{where}{name}", raw)
    return problems


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


def validate(spec: StrategySpec) -> list[StrategyProblem]:
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
    ref = resolve_ref(text, indicators)
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
