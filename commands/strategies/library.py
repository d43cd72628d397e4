"""A server's strategy library: the one resolver from (server, name) to a strategy at an exact
version, and the one place a strategy is added (``add_strategy``).

What a server sees: the shipped strategies (the package's, and the operator's folder
``IBPICKER_STRATEGIES_DIR`` offered as shipped), then its own versions from the journal
(``projections.strategy_library.StrategyBook``, in ``State.library``). A server's key may shadow a
shipped one only when the member said so (``replace:true``); another server's strategies are never
seen. ``resolve`` gives what the analyzer scans: a shipped key, or a server's version by its text
(``StrategyText``), so a scan records the key, the version label and the hash of the exact text.

Everything here is pure (no I/O): handlers and the other rooms' gathers call it on the worker.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from analysis.errors import StrategyError
from analysis.strategy import Strategy, parse_strategy
from commands.core import text as tx
from commands.core.handler import State, find_strategy, reject
from commands.core.models import Invocation, Upload
from commands.core.ports import StrategyInfo, StrategyRef, StrategyText
from commands.core.values import MAX_UPLOAD, TEXT_TYPES
from events.base import NewEvent
from events.strategies import StrategyAdded, library_stream
from projections.strategy_library import LibraryVersion

KEY_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""A server's strategy key: what Discord autocomplete offers and members type (lowercase letters,
digits, ``_`` and ``-``; at most 64 characters)."""
MAX_PROBLEMS = 30
"""Schema problems one refusal lists (a file with more gets the first ones and a count)."""


@dataclass(frozen=True)
class Resolved:
    """A strategy as one server names it, at one exact version."""

    key: str
    origin: str
    """``shipped``, ``operator`` or ``server``."""
    label: str
    """The version as replies and scans name it: ``v2`` for a server's, the file's own
    ``strategy.version`` for a shipped one."""
    ref: StrategyRef
    """What the analyzer scans or describes (``Analyzer.scan``)."""
    version: LibraryVersion | None = None
    """A server's version: its text, hash, who added it and when."""
    info: StrategyInfo | None = None
    """A shipped strategy's listing."""

    @property
    def yaml_text(self) -> str | None:
        """A server's version's exact text (``None`` for shipped ones: the analyzer has them)."""
        return self.version.yaml_text if self.version else None

    @property
    def sha256(self) -> str:
        """A server's version's hash ("" for shipped ones: the scan records their file's)."""
        return self.version.sha256 if self.version else ""


def shipped(state: State) -> list[StrategyInfo]:
    """The shipped strategies (and the operator's), whatever a server shadows."""
    return [s for s in state.strategies if s.origin != "server"]


def own(state: State, guild_id: int) -> list[LibraryVersion]:
    """The server's current versions (removed keys left out), by key."""
    return state.library.current(guild_id)


def resolve(state: State, guild_id: int, name: str, version: int | None = None) -> Resolved:
    """The strategy ``name`` names for this server (its own current version first, then a shipped
    one by key or display name); with ``version``, that version of the server's own key.

    Rejected, listing what the server has, when nothing matches."""
    key = name.strip().lower()
    if version is not None:
        found = state.library.versions(guild_id, key)
        if not found and find_strategy(name, shipped(state)) is not None:
            raise reject(
                f"{tx.escape(key)!s} is shipped: only this server's own strategies have versions "
                "(leave version: out)."
            )
        if not found:
            raise _unknown(name, state, guild_id)
        if not 1 <= version <= len(found):
            raise reject(f"{key} has versions 1 to {len(found)} on this server (got {version}).")
        return _of_version(found[version - 1])
    latest = state.library.latest(guild_id, key)
    if latest is not None:
        return _of_version(latest)
    info = find_strategy(name, shipped(state))
    if info is None:
        raise _unknown(name, state, guild_id)
    return Resolved(key=info.name, origin=info.origin, label=info.version, ref=info.name, info=info)


def resolve_shown(state: State, guild_id: int, options: Mapping[str, Any]) -> Resolved:
    """What ``/strategy show name: [version:]`` names (``resolve``)."""
    version = options.get("version")
    return resolve(state, guild_id, str(options["name"]), None if version is None else int(version))


def _of_version(found: LibraryVersion) -> Resolved:
    text = StrategyText(key=found.key, version=found.label, yaml_text=found.yaml_text)
    return Resolved(key=found.key, origin="server", label=found.label, ref=text, version=found)


def _unknown(name: str, state: State, guild_id: int) -> Exception:
    names = ", ".join(s.name for s in state.strategies) or "none are installed"
    return reject(f"Unknown strategy {tx.escape(name)!s}. Known strategies: {names}.")


def parse_version(found: LibraryVersion) -> Strategy:
    """A stored version parsed (it was validated when added)."""
    return parse_strategy(found.yaml_text.encode("utf-8"), f"{found.key}.yaml")


def key_for(upload: Upload, name: str | None) -> str:
    """The key a file is added under: ``name`` when given, else the file's name without
    ``.yaml``/``.yml``; rejected unless Discord autocomplete can offer it (``KEY_PATTERN``)."""
    wanted = name.strip() if name else PurePath(upload.filename).name
    if not name:
        for suffix in (".yaml", ".yml"):
            if wanted.lower().endswith(suffix):
                wanted = wanted[: -len(suffix)]
    if not KEY_PATTERN.fullmatch(wanted):
        hint = re.sub(r"[^a-z0-9_-]+", "_", wanted.lower()).strip("_-")[:64]
        suggestion = f" (e.g. name:{hint})" if hint and KEY_PATTERN.fullmatch(hint) else ""
        raise reject(
            f"The name {tx.escape(wanted)!s} has characters Discord autocomplete cannot offer: "
            f"use lowercase letters, digits, _ and -, at most 64 characters{suggestion}."
        )
    return wanted


def file_text(upload: Upload) -> str:
    """The file's text, exactly as sent; rejected when unreadable, over ``MAX_UPLOAD`` bytes, or
    not a text file (declared type, NUL bytes, not UTF-8)."""
    where = tx.escape(upload.filename)
    if upload.problem:
        raise reject(f"Cannot read {where}: {upload.problem}.")
    size = max(upload.size, len(upload.data))
    if size > MAX_UPLOAD:
        raise reject(
            f"{where} is {size:,} bytes: a strategy file may have at most {MAX_UPLOAD:,} "
            f"bytes ({MAX_UPLOAD // 1024} KiB)."
        )
    declared = (upload.content_type or "").split(";")[0].strip().lower()
    if declared and not declared.startswith(TEXT_TYPES):
        raise reject(f"{where} is not a text file ({tx.escape(declared)}): send the YAML file.")
    try:
        text = upload.data.decode("utf-8")
    except UnicodeDecodeError:
        raise reject(f"{where} is not a text file (not UTF-8): send the YAML file.") from None
    if "\x00" in text:
        raise reject(f"{where} is not a text file (it holds NUL bytes): send the YAML file.")
    if not text.strip():
        raise reject(f"{where} is empty.")
    return text


def checked(text: str, source: str) -> Strategy:
    """The strategy in ``text``, validated by the schema; rejected with every problem, one line
    each as ``file: field.path: problem``."""
    try:
        return parse_strategy(text.encode("utf-8"), source)
    except StrategyError as exc:
        lines = str(exc).splitlines()
        more = len(lines) - MAX_PROBLEMS
        shown = lines[:MAX_PROBLEMS] + ([f"… and {more} more"] if more > 0 else [])
        what = tx.plural(len(lines), "problem")
        raise reject(
            f"{tx.escape(source)} is not a valid strategy ({what}):\n"
            + "\n".join(tx.escape(line) for line in shown)
        ) from None


def may_add(state: State, inv: Invocation) -> None:
    """Members with Manage Server may add; every member when the server opened adding."""
    if not inv.is_admin and not state.library.open_add(inv.guild_id):
        raise reject(
            "Adding strategies needs the Manage Server permission on this server "
            "(a manager can open it to everyone: /strategy settings open_add:true)."
        )


@dataclass(frozen=True)
class Added:
    """What ``add_strategy`` appended: the event, and the parsed strategy."""

    events: list[NewEvent]
    event: StrategyAdded
    strategy: Strategy


def add_strategy(
    state: State,
    inv: Invocation,
    *,
    key: str,
    yaml_text: str,
    replace: bool = False,
    source: str = "",
) -> Added:
    """The one way a strategy enters a server's library (``/strategy add``, a draft's Save):
    check who adds it, its key and its text, then the ``strategy_added`` event of its next
    version. ``source`` names the file in messages (default ``<key>.yaml``).

    Rejected (``CommandRejectedError``) with a message naming the problem; nothing is appended
    then but the command's audit event."""
    may_add(state, inv)
    if not KEY_PATTERN.fullmatch(key):
        raise reject(
            f"The name {tx.escape(key)!s} has characters Discord autocomplete cannot offer: "
            "use lowercase letters, digits, _ and -, at most 64 characters."
        )
    guild = inv.guild_id
    strategy = checked(yaml_text, source or f"{key}.yaml")
    versions = state.library.versions(guild, key)
    latest = state.library.latest(guild, key)
    shadows = find_strategy(key, shipped(state))
    shadowing = shadows is not None and shadows.name == key
    # Once a server's key replaced a shipped one, its next versions need not say so again.
    if shadowing and not replace and not (latest is not None and latest.replaced_shipped):
        raise reject(
            f"{key} is a shipped strategy. Give another name (name:my_{key}), or add "
            "replace:true to use yours in its place on this server."
        )
    digest = hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()
    if latest is not None and latest.sha256 == digest:
        raise reject(f"{key} {latest.label} has exactly this text already: nothing to add.")
    event = StrategyAdded(
        guild_id=guild,
        key=key,
        version=len(versions) + 1,
        yaml_text=yaml_text,
        sha256=digest,
        added_by=inv.user_id,
        replaced_shipped=shadowing,
    )
    return Added([NewEvent(library_stream(guild), event)], event, strategy)
