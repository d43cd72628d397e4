"""Per-server (guild) configuration events: the watchlist and the daily-picks schedule.

Streams: ``watchlist:{guild_id}``, ``schedule:{guild_id}``, ``daily:{guild_id}`` (the daily post:
``daily_post_started`` before it is sent, ``daily_post_published`` once it is), and
``daily-claim:{guild_id}:{session}`` (``daily_run_claimed``: which replica runs that post, when
several share the journal).
"""

from __future__ import annotations

from datetime import date, datetime

from events.base import Event


class WatchlistSymbolAdded(Event, frozen=True, kw_only=True, tag="watchlist_symbol_added"):
    """A symbol was added to a server's watchlist."""

    guild_id: int
    symbol: str
    note: str = ""
    tags: list[str] = []


class WatchlistSymbolRemoved(Event, frozen=True, kw_only=True, tag="watchlist_symbol_removed"):
    """A symbol was removed from a server's watchlist."""

    guild_id: int
    symbol: str


class WatchlistCleared(Event, frozen=True, kw_only=True, tag="watchlist_cleared"):
    """A server's watchlist was emptied."""

    guild_id: int


class ScheduleConfigured(Event, frozen=True, kw_only=True, tag="schedule_configured"):
    """A server's daily-picks schedule was set (time is HH:MM in America/New_York).

    ``skip_earnings_within``: the daily scan skips stocks with earnings within that many days
    (0, the default and the value of schedules set before it existed: skip none)."""

    guild_id: int
    channel_id: int | None = None
    time: str = "09:30"
    strategy: str | None = None
    enabled: bool = True
    skip_earnings_within: int = 0


class DailyPostPublished(Event, frozen=True, kw_only=True, tag="daily_post_published"):
    """The daily picks for one trading session were posted (a side effect, recorded once)."""

    guild_id: int
    session: date
    channel_id: int
    message_id: int
    strategy: str
    picks: int
    late: bool = False
    scan_id: str | None = None
    failures: list[str] = []
    posted_at: datetime | None = None


class DailyPostStarted(Event, frozen=True, kw_only=True, tag="daily_post_started"):
    """The scheduler is about to post one session's daily picks (appended before the post).

    The post carries ``marker`` (in its embed footer). A restart that finds this event without a
    ``daily_post_published`` for the session looks for a message with the marker in
    ``channel_id`` before posting again: the post may have been accepted by Discord just before
    the process died, and must not appear twice."""

    guild_id: int
    session: date
    run_id: str
    channel_id: int
    marker: str
    started_at: datetime | None = None


class DailyRunClaimed(Event, frozen=True, kw_only=True, tag="daily_run_claimed"):
    """A replica claimed one server's daily run for one session (bot replicas on a shared journal).

    Appended to stream ``daily-claim:{guild_id}:{session}`` with the stream's expected version,
    so of replicas racing for the same run exactly one append succeeds: the journal's optimistic
    concurrency decides, never a replica's memory. A claim whose ``until`` has passed with no
    ``daily_post_published`` (its holder died) may be taken over, by expected version again; the
    taker then finds the holder's ``daily_post_started``, if any, and checks the channel."""

    guild_id: int
    session: date
    claimant: str
    until: datetime
