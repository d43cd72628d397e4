"""What a deployment of main.bicep creates for given parameters, evaluated from pycep's tree.

Azure's Bicep compiler is not installable here (no ``bicep`` or ``az`` on the package registries
this project uses), so the tests evaluate pycep's JSON view: conditions, loops, the shard groups,
interpolated strings. Only what main.bicep uses is supported; anything else raises, so a new
construct is noticed rather than misread. pycep's operator precedence is not Bicep's, which is why
main.bicep parenthesises its arithmetic in full (then both read it the same).

Names: pycep writes identifiers and string literals alike as plain strings; a string that names a
parameter, variable, loop variable or resource in scope is read as that name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pycep import BicepParser

_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
# Values Azure computes at deployment time, standing in by name (the tests check names).
AZURE_COMPUTED = {"globalToken": "tok12345"}


class UnsupportedError(Exception):
    """main.bicep uses a construct this evaluator does not know."""


@dataclass
class Deployment:
    """main.bicep (pycep's view) with parameter values: evaluates its expressions."""

    template: Mapping[str, Any]
    parameters: Mapping[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        declared = self.template["parameters"]
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        missing = [
            n for n, p in declared.items() if p["default"] is None and n not in self.parameters
        ]
        if missing:
            raise KeyError(f"parameters without a default need a value: {missing}")

    def value(self, name: str, local: Mapping[str, Any] | None = None) -> Any:
        """The value of identifier ``name`` (loop variables in ``local`` first)."""
        if local and name in local:
            return local[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in AZURE_COMPUTED:
            return AZURE_COMPUTED[name]
        if name in self.template["parameters"]:
            default = self.template["parameters"][name]["default"]
            return self.evaluate(default)
        if name in self.template["variables"]:
            if name not in self._cache:
                self._cache[name] = self.evaluate(self.template["variables"][name]["value"])
            return self._cache[name]
        raise KeyError(name)

    def _names(self, local: Mapping[str, Any] | None) -> set[str]:
        return (
            set(local or ())
            | set(self.template["parameters"])
            | set(self.template["variables"])
            | set(self.template["resources"])
            | set(self.template.get("modules", {}))
            | set(AZURE_COMPUTED)
        )

    def evaluate(self, expr: Any, local: Mapping[str, Any] | None = None) -> Any:
        """The value of one expression of pycep's tree."""
        if isinstance(expr, bool | int | float) or expr is None:
            return expr
        if isinstance(expr, str):
            return self._string(expr, local)
        if isinstance(expr, list):
            return [self.evaluate(item, local) for item in expr]
        if isinstance(expr, dict):
            if "operator" in expr:
                return self._operator(expr["operator"], local)
            if "function" in expr:
                return self._function(expr["function"], local)
            if "loop_type" in expr:
                return [self.evaluate(expr["config"], bound) for bound in self.loop(expr, local)]
            return {self._key(k, local): self.evaluate(v, local) for k, v in expr.items()}
        raise UnsupportedError(repr(expr))

    def _string(self, text: str, local: Mapping[str, Any] | None) -> Any:
        if text in self._names(local):
            if text in self.template["resources"] or text in self.template.get("modules", {}):
                return f"<{text}>"
            return self.value(text, local)
        return self._interpolate(text, local)

    def _key(self, text: str, local: Mapping[str, Any] | None) -> str:
        """An object's key: a name as written, or a quoted key (``'${identity.id}'``)."""
        if text.startswith("'") and text.endswith("'"):
            text = text[1:-1]
        return self._interpolate(text, local)

    def _interpolate(self, text: str, local: Mapping[str, Any] | None) -> str:
        return _INTERPOLATION.sub(lambda m: str(self._inner(m[1], local)), text)

    def _inner(self, source: str, local: Mapping[str, Any] | None) -> Any:
        return self.evaluate(_parse_expression(source), local)

    def _operator(self, operator: Mapping[str, Any], local: Mapping[str, Any] | None) -> Any:
        kind, ops = operator["type"], operator["operands"]
        if kind == "conditional":
            chosen = (
                ops["true_value"] if self.evaluate(ops["condition"], local) else ops["false_value"]
            )
            return self.evaluate(chosen, local)
        if kind == "not":
            return not self.evaluate(ops["bool_value"], local)
        if kind == "minus":
            return -self.evaluate(ops["integer_value"], local)
        if kind == "property_accessor":
            return self._property(ops, local)
        left, right = self.evaluate(ops["operand_1"], local), self.evaluate(ops["operand_2"], local)
        binary: dict[str, Callable[[], Any]] = {
            "and": lambda: left and right,
            "or": lambda: left or right,
            "equals": lambda: left == right,
            "not_equals": lambda: left != right,
            "add": lambda: left + right,
            "substract": lambda: left - right,
            "multiply": lambda: left * right,
            "divide": lambda: int(left / right),  # Bicep's integer division truncates
            "modulo": lambda: left % right,
            "greater_than": lambda: left > right,
            "less_than": lambda: left < right,
            "index_accessor": lambda: left[right],
        }
        if kind not in binary:
            raise UnsupportedError(kind)
        return binary[kind]()

    def _property(self, ops: Mapping[str, Any], local: Mapping[str, Any] | None) -> Any:
        """``resource.name`` evaluates the resource's name; other properties stay symbolic
        (``<identity.properties.clientId>``): Azure assigns them."""
        dotted = _dotted(ops)
        head, _, rest = dotted.partition(".")
        if head in self.template["resources"] and rest == "name":
            return self.evaluate(body(self.template, head)["name"], local)
        if head in self.template["resources"] or head.startswith("<"):
            return f"<{dotted}>"
        value = self.value(head, local)
        for part in rest.split("."):
            value = value[part]
        return value

    def _function(self, function: Mapping[str, Any], local: Mapping[str, Any] | None) -> Any:
        kind = function["type"]
        args = [self.evaluate(arg, local) for arg in function["parameters"].values()]
        functions: dict[str, Callable[[], Any]] = {
            "empty": lambda: len(args[0]) == 0,
            "length": lambda: len(args[0]),
            "range": lambda: list(range(args[0], args[0] + args[1])),
            "string": lambda: str(args[0]).lower() if isinstance(args[0], bool) else str(args[0]),
        }
        if kind not in functions:
            return f"<{kind}()>"  # Azure computes it (uniqueString, subscription(), json...)
        return functions[kind]()

    def loop(
        self, expr: Mapping[str, Any], local: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The loop variables of each iteration of a ``[for ...]``."""
        detail = expr["loop_type"]["detail"]
        items = self.evaluate(detail["array_name"], local)
        bound = []
        for index, item in enumerate(items):
            names = {**(local or {}), detail["item_name"]: item}
            if "index_name" in detail:
                names[detail["index_name"]] = index
            bound.append(names)
        return bound

    def created(self) -> dict[str, list[dict[str, Any]]]:
        """Each resource and module the deployment creates, with the loop variables of each copy
        (one empty mapping for one without a loop); those it skips are absent."""
        found: dict[str, list[dict[str, Any]]] = {}
        declared = {**self.template["resources"], **self.template.get("modules", {})}
        for name, resource in declared.items():
            config = resource["config"]
            if "loop_type" in config:
                copies = self.loop(config)
                if copies:
                    found[name] = copies
            elif "condition" not in config or self.evaluate(config["condition"]):
                found[name] = [{}]
        return found

    def resource(self, name: str, copy: Mapping[str, Any] | None = None) -> Any:
        """A created resource's body, evaluated (Azure-assigned values symbolic)."""
        return self.evaluate(body(self.template, name), copy)


def body(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A resource's or module's declared body, looking through a condition or a loop."""
    declared = template["resources"] if name in template["resources"] else template["modules"]
    config = declared[name]["config"]
    inner = config["config"] if "condition" in config or "loop_type" in config else config
    assert isinstance(inner, dict)
    return inner


@functools.cache
def _parser() -> BicepParser:
    return BicepParser(cache=False)


@functools.cache
def _parse_expression(source: str) -> Any:
    """pycep's tree of one expression (the inside of a ``${...}``)."""
    return _parser().parse(text=f"var v = {source}\n")["variables"]["v"]["value"]


def _dotted(ops: Mapping[str, Any]) -> str:
    def flat(expr: Any) -> str:
        if isinstance(expr, str):
            return expr
        if "function" in expr:
            return f"<{expr['function']['type']}()>"
        return _dotted(expr["operator"]["operands"])

    return f"{flat(ops['operand_1'])}.{flat(ops['operand_2'])}"
