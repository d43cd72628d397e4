"""NYSE trading sessions (``exchange_calendars`` XNYS), for incremental fetches and sample data.

A daily bar is final once its session has closed; the last closed session is therefore the newest
bar worth storing.

``exchange_calendars`` is the source of truth, but it is not imported here: it needs pandas (~43
MiB of RSS) that the long-running bot would keep for good. ``fetchers.calendar_table`` computes
the session table (dates, opens, closes) in a short-lived child process and caches it in a file;
this module keeps only that compact table.

The table's range follows the dates asked, which come from the clock: it starts at ``FIRST_DAY``
and ends on the 31 December of the year of the furthest day asked plus ``AHEAD``, and is built
again, further ahead, when a later day is asked. (``exchange_calendars``' default range ends a year
after the process started, so a bot up for eleven months, or a clock pinned more than a year ahead,
would have run off its end.) Rounding the end to a year keeps the cache file the same for a year.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from fetchers.calendar_table import SessionTable, load

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = date(1990, 1, 1)
"""Before any bar a provider returns (two years) or the sample data start (2019)."""
AHEAD = timedelta(days=2 * 366)
"""How far past the furthest day asked a (re)built table reaches (at least)."""

_built: SessionTable | None = None
_lock = threading.Lock()


def _xnys(through: date) -> SessionTable:
    """The XNYS table covering every day up to ``through`` (built again when it ends before)."""
    global _built
    built = _built
    if built is None or through > built.end:
        with _lock:  # one build when several threads ask past the end at once
            built = _built
            if built is None or through > built.end:
                built = _built = load(FIRST_DAY, date((through + AHEAD).year, 12, 31))
    return built


def prepare(through: date) -> None:
    """Build the table up to ``through`` now (the first build runs a child process, ~4 s at the
    container's 0.25 vCPU), so that later calls on an event loop only read arrays."""
    _xnys(through)


def calendar_end() -> date | None:
    """The last day the table built so far covers (``None`` before the first use)."""
    return None if _built is None else _built.end


def sessions_between(start: date, end: date) -> list[date]:
    """The NYSE sessions from ``start`` to ``end``, both included, oldest first."""
    if end < start:
        return []
    return _xnys(end).between(start, end)


@lru_cache(maxsize=4096)
def session_hours(day: date) -> tuple[datetime, datetime]:
    """The (open, close) of a session as aware UTC datetimes (early closes included);
    ``ValueError`` when ``day`` is not a session."""
    return _xnys(day).hours(day)


def last_closed_session(now: datetime) -> date:
    """The newest session whose close is at or before ``now`` (an aware datetime)."""
    today = now.astimezone(NEW_YORK).date()
    for day in reversed(sessions_between(today - timedelta(days=10), today)):
        if session_hours(day)[1] <= now:
            return day
    raise ValueError(f"no NYSE session closed in the ten days before {now.isoformat()}")


def sessions_after(day: date, until: date) -> int:
    """How many sessions lie strictly after ``day`` up to ``until`` included."""
    return len(sessions_between(day + timedelta(days=1), until))
