"""Per-guild configuration as handlers need it: watchlists, daily schedules, daily posts done.

``GuildBook`` is a state projection (in memory, pure). "Already posted for this session?" is
answered from ``daily_post_published`` events here, so a restart never posts twice.
"""

from __future__ import annotations

from datetime import date

import msgspec

from events.base import Envelope
from events.guild import (
    DailyPostPublished,
    ScheduleConfigured,
    WatchlistCleared,
    WatchlistSymbolAdded,
    WatchlistSymbolRemoved,
)
from projections.base import StateProjection


class WatchEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One watched symbol with the note and tags given when it was added."""

    symbol: str
    note: str = ""
    tags: tuple[str, ...] = ()
    position: int = 0


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    """A guild's daily-picks schedule (time is HH:MM in America/New_York)."""

    guild_id: int
    channel_id: int | None = None
    time: str = "09:30"
    strategy: str | None = None
    enabled: bool = True
    skip_earnings_within: int = 0
    """Days; 0: the daily scan skips no stock for earnings."""


class GuildBook(StateProjection):
    """Watchlist, schedule and daily posts per guild."""

    name = "guild_book"
    tags = frozenset(
        {
            WatchlistSymbolAdded.event_tag(),
            WatchlistSymbolRemoved.event_tag(),
            WatchlistCleared.event_tag(),
            ScheduleConfigured.event_tag(),
            DailyPostPublished.event_tag(),
        }
    )

    def __init__(self) -> None:
        super().__init__()
        self._watchlists: dict[int, dict[str, WatchEntry]] = {}
        self._schedules: dict[int, Schedule] = {}
        self._posts: dict[tuple[int, date], DailyPostPublished] = {}

    def when(self, envelope: Envelope) -> None:
        """Fold one guild event."""
        ev = envelope.event
        if isinstance(ev, WatchlistSymbolAdded):
            self._watchlists.setdefault(ev.guild_id, {})[ev.symbol] = WatchEntry(
                symbol=ev.symbol, note=ev.note, tags=tuple(ev.tags), position=envelope.position
            )
        elif isinstance(ev, WatchlistSymbolRemoved):
            self._watchlists.get(ev.guild_id, {}).pop(ev.symbol, None)
        elif isinstance(ev, WatchlistCleared):
            self._watchlists.pop(ev.guild_id, None)
        elif isinstance(ev, ScheduleConfigured):
            self._schedules[ev.guild_id] = Schedule(
                guild_id=ev.guild_id,
                channel_id=ev.channel_id,
                time=ev.time,
                strategy=ev.strategy,
                enabled=ev.enabled,
                skip_earnings_within=ev.skip_earnings_within,
            )
        elif isinstance(ev, DailyPostPublished):
            # The first post of a session is the one that counts: a later event changes nothing.
            self._posts.setdefault((ev.guild_id, ev.session), ev)

    def watchlist(self, guild_id: int) -> list[WatchEntry]:
        """A guild's watchlist in the order symbols were added."""
        entries = list(self._watchlists.get(guild_id, {}).values())
        entries.sort(key=lambda w: w.position)
        return entries

    def watched_symbols(self, guild_id: int) -> list[str]:
        """A guild's watched symbols in the order they were added."""
        return [w.symbol for w in self.watchlist(guild_id)]

    def schedule(self, guild_id: int) -> Schedule | None:
        """A guild's schedule, if one was ever set."""
        return self._schedules.get(guild_id)

    def schedules(self) -> list[Schedule]:
        """Every guild's schedule."""
        return [self._schedules[g] for g in sorted(self._schedules)]

    def daily_post(self, guild_id: int, session: date) -> DailyPostPublished | None:
        """The daily post of one session, if it was published."""
        return self._posts.get((guild_id, session))

    def last_daily_post(self, guild_id: int) -> DailyPostPublished | None:
        """A guild's most recent daily post."""
        mine = [p for (g, _), p in self._posts.items() if g == guild_id]
        return max(mine, key=lambda p: p.session) if mine else None

    def snapshot(self) -> tuple[object, ...]:
        """Watchlists, schedules and posts as plain sorted structures."""
        return (
            {g: self.watchlist(g) for g in sorted(self._watchlists)},
            self.schedules(),
            sorted(self._posts.items()),
        )
