"""Each server's strategy library as handlers need it: every version of every key, which keys are
removed, and whether every member may add.

``StrategyBook`` is a state projection (in memory, pure) of ``strategy_added``,
``strategy_removed`` and ``strategy_library_configured``. Versions are never forgotten: a removed
key hides from new scans and listings, but ``/strategy show`` and past scans still name its
versions, and adding the key again continues its count.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from events.base import Envelope
from events.strategies import StrategyAdded, StrategyLibraryConfigured, StrategyRemoved
from projections.base import StateProjection


class LibraryVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One added version of a server's strategy: its ``strategy_added`` event, when and where it
    was recorded."""

    added: StrategyAdded
    added_at: datetime | None = None
    position: int = 0

    @property
    def key(self) -> str:
        """The strategy's key on its server."""
        return self.added.key

    @property
    def version(self) -> int:
        """The version number (1, 2, …)."""
        return self.added.version

    @property
    def yaml_text(self) -> str:
        """The file exactly as given."""
        return self.added.yaml_text

    @property
    def sha256(self) -> str:
        """The SHA-256 of the text's UTF-8 bytes."""
        return self.added.sha256

    @property
    def added_by(self) -> int:
        """The member who added it."""
        return self.added.added_by

    @property
    def replaced_shipped(self) -> bool:
        """Whether it takes the place of a shipped strategy of the same key."""
        return self.added.replaced_shipped

    @property
    def label(self) -> str:
        """How replies and scans name this version (``v2``)."""
        return f"v{self.version}"


class StrategyBook(StateProjection):
    """Strategy versions, removals and the open-add setting per server."""

    name = "strategy_book"
    tags = frozenset(
        {
            StrategyAdded.event_tag(),
            StrategyRemoved.event_tag(),
            StrategyLibraryConfigured.event_tag(),
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self._versions: dict[int, dict[str, list[LibraryVersion]]] = {}
        self._removed: dict[int, set[str]] = {}
        self._open_add: dict[int, bool] = {}

    def when(self, envelope: Envelope) -> None:
        """Fold one library event."""
        ev = envelope.event
        if isinstance(ev, StrategyAdded):
            self._versions.setdefault(ev.guild_id, {}).setdefault(ev.key, []).append(
                LibraryVersion(added=ev, added_at=envelope.recorded_at, position=envelope.position)
            )
            self._removed.get(ev.guild_id, set()).discard(ev.key)
        elif isinstance(ev, StrategyRemoved):
            self._removed.setdefault(ev.guild_id, set()).add(ev.key)
        elif isinstance(ev, StrategyLibraryConfigured):
            self._open_add[ev.guild_id] = ev.open_add

    def versions(self, guild_id: int, key: str) -> list[LibraryVersion]:
        """Every version of ``key`` the server ever added (removed or not), oldest first."""
        return list(self._versions.get(guild_id, {}).get(key, []))

    def latest(self, guild_id: int, key: str) -> LibraryVersion | None:
        """The version of ``key`` that scans use, or ``None`` when it was never added or is
        removed."""
        if key in self._removed.get(guild_id, set()):
            return None
        found = self._versions.get(guild_id, {}).get(key)
        return found[-1] if found else None

    def current(self, guild_id: int) -> list[LibraryVersion]:
        """The latest version of each of the server's keys that is not removed, by key."""
        keys = sorted(self._versions.get(guild_id, {}))
        return [v for v in (self.latest(guild_id, k) for k in keys) if v is not None]

    def is_removed(self, guild_id: int, key: str) -> bool:
        """Whether the server removed ``key`` (and has not added it again since)."""
        return key in self._removed.get(guild_id, set())

    def open_add(self, guild_id: int) -> bool:
        """Whether every member of the server may add strategies (default: Manage Server only)."""
        return self._open_add.get(guild_id, False)

    def snapshot(self) -> tuple[object, ...]:
        """Versions, removals and settings as plain sorted structures."""
        return (
            {
                g: {k: list(v) for k, v in sorted(keys.items())}
                for g, keys in sorted(self._versions.items())
            },
            {g: sorted(keys) for g, keys in sorted(self._removed.items())},
            sorted(self._open_add.items()),
        )
