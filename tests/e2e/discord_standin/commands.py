"""Application commands as Discord keeps them, and the interaction data a user's input becomes.

The registry stores what the bot PUTs (keeping a command's id across overwrites, as Discord
does), so an interaction carries the ``data.id`` disnake expects. Turning a test's
``{"symbol": "AAPL", "entry": 187.5}`` into typed options follows the registered definition and
refuses what Discord's client would not let a user send (unknown or missing options, values
outside the choices or bounds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import CommandShapeError
from .world import SnowflakeFactory

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10
ATTACHMENT = 11

Resolved = dict[str, dict[str, Any]]
Resolver = Callable[[int, Any], tuple[str, Resolved]]


class CommandRegistry:
    """Global and per-guild application commands of one application."""

    def __init__(self, application_id: int, ids: SnowflakeFactory) -> None:
        self._application_id = application_id
        self._ids = ids
        self._scopes: dict[int | None, dict[int, dict[str, Any]]] = {}
        self.overwrites: list[int | None] = []

    def commands_in(self, guild_id: int | None) -> list[dict[str, Any]]:
        """The commands of a scope (``None``: global), as Discord returns them."""
        return list(self._scopes.get(guild_id, {}).values())

    def overwrite(self, guild_id: int | None, bodies: Sequence[Mapping[str, Any]]) -> list[Any]:
        """Bulk overwrite a scope; a command keeps its id when its name and type are unchanged."""
        self.overwrites.append(guild_id)
        old = {(c["name"], c["type"]): c for c in self._scopes.get(guild_id, {}).values()}
        scope: dict[int, dict[str, Any]] = {}
        for body in bodies:
            kind = int(body.get("type", 1))
            previous = old.get((body["name"], kind))
            command_id = int(previous["id"]) if previous else self._ids.next()
            stored: dict[str, Any] = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                **body,
                "id": str(command_id),
                "application_id": str(self._application_id),
                "type": kind,
                "version": str(self._ids.next()),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            scope[command_id] = stored
        self._scopes[guild_id] = scope
        return list(scope.values())

    def find(self, guild_id: int | None, name: str, kind: int = 1) -> dict[str, Any]:
        """The command a user in this guild sees under ``name`` (guild commands shadow global)."""
        for scope in (guild_id, None):
            for command in self._scopes.get(scope, {}).values():
                if command["name"] == name and command["type"] == kind:
                    return command
        known = sorted(
            c["name"] for s in (guild_id, None) for c in self._scopes.get(s, {}).values()
        )
        msg = f"no command /{name} registered for guild {guild_id}; registered: {known}"
        raise CommandShapeError(msg)


def _check_value(spec: Mapping[str, Any], value: Any) -> None:
    name = spec["name"]
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        msg = f"option {name}={value!r} is not one of the choices {choices}"
        raise CommandShapeError(msg)
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high = spec.get("min_value"), spec.get("max_value")
        if (low is not None and value < low) or (high is not None and value > high):
            msg = f"option {name}={value!r} outside [{low}, {high}]"
            raise CommandShapeError(msg)
    if isinstance(value, str):
        low, high = spec.get("min_length", 0), spec.get("max_length", 6000)
        if not low <= len(value) <= high:
            msg = f"option {name}={value!r} length outside [{low}, {high}]"
            raise CommandShapeError(msg)


def _typed_value(spec: Mapping[str, Any], value: Any, resolve: Resolver) -> tuple[Any, Resolved]:
    kind = int(spec["type"])
    if kind == STRING:
        return str(value), {}
    if kind == INTEGER:
        return int(value), {}
    if kind == NUMBER:
        return float(value), {}
    if kind == BOOLEAN:
        return bool(value), {}
    if kind in (USER, CHANNEL, ROLE, MENTIONABLE, ATTACHMENT):
        return resolve(kind, value)
    msg = f"option {spec['name']} has type {kind}, which the stand-in does not send"
    raise CommandShapeError(msg)


def _merge(into: Resolved, extra: Resolved) -> None:
    for key, values in extra.items():
        into.setdefault(key, {}).update(values)


def build_options(
    command: Mapping[str, Any],
    path: Sequence[str],
    values: Mapping[str, Any],
    resolve: Resolver,
    *,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], Resolved]:
    """Options (nested under the subcommand ``path``) and the ``resolved`` map for ``values``.

    With ``focused`` (autocomplete) the focused option is sent as the raw text typed so far and
    required options may be missing, as Discord does while a user is still typing.
    """
    specs: list[Mapping[str, Any]] = list(command.get("options") or [])
    chain: list[Mapping[str, Any]] = []
    for part in path:
        spec = next(
            (
                s
                for s in specs
                if s["name"] == part and s["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ),
            None,
        )
        if spec is None:
            msg = f"/{command['name']} has no subcommand (group) {part!r} at {list(path)}"
            raise CommandShapeError(msg)
        chain.append(spec)
        specs = list(spec.get("options") or [])
    if any(s["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP) for s in specs):
        msg = f"/{command['name']} {' '.join(path)} needs a subcommand; options: {specs}"
        raise CommandShapeError(msg)

    by_name = {s["name"]: s for s in specs}
    leaf: list[dict[str, Any]] = []
    resolved: Resolved = {}
    for name, value in values.items():
        spec = by_name.get(name)
        if spec is None:
            msg = (
                f"/{command['name']} {' '.join(path)} has no option {name!r}; has {sorted(by_name)}"
            )
            raise CommandShapeError(msg)
        if name == focused:
            leaf.append({"name": name, "type": spec["type"], "value": str(value), "focused": True})
            continue
        typed, extra = _typed_value(spec, value, resolve)
        _check_value(spec, typed)
        _merge(resolved, extra)
        leaf.append({"name": name, "type": spec["type"], "value": typed})
    if focused is not None and focused not in values:
        msg = f"focused option {focused!r} needs a value (the text typed so far)"
        raise CommandShapeError(msg)
    missing = [s["name"] for s in specs if s.get("required") and s["name"] not in values]
    if missing and focused is None:
        msg = f"/{command['name']} {' '.join(path)} is missing required options {missing}"
        raise CommandShapeError(msg)

    options = leaf
    for spec in reversed(chain):
        options = [{"name": spec["name"], "type": spec["type"], "options": options}]
    return options, resolved
