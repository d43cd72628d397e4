"""NYSE trading sessions (``exchange_calendars`` XNYS), for incremental fetches and sample data.

A daily bar is final once its session has closed; the last closed session is therefore the newest
bar worth storing.

The calendar's range follows the dates asked, which come from the clock: it is built with an
explicit start (``FIRST_DAY``) and end (the furthest day asked plus ``AHEAD``), and built again,
further ahead, when a later day is asked. ``exchange_calendars``' default range ends a year after
the process started, so a bot up for eleven months, or a clock pinned more than a year ahead,
would have run off its end. A build takes about 0.1 s and happens at most once per ``AHEAD``.
"""

from __future__ import annotations

import threading
import warnings
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd
from pandas.errors import Pandas4Warning

NEW_YORK = ZoneInfo("America/New_York")
FIRST_DAY = date(1990, 1, 1)
"""Before any bar a provider returns (two years) or the sample data start (2019)."""
AHEAD = timedelta(days=2 * 366)
"""How far past the furthest day asked a (re)built calendar reaches."""

_built: tuple[Any, date] | None = None  # (the calendar, the end it was built with)
_lock = threading.Lock()


def _build(end: date) -> Any:
    # exchange_calendars builds its tables with a pandas call that pandas 3.1 deprecates; the
    # warning is theirs to fix and would otherwise be an error in our warnings-as-errors tests.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Pandas4Warning)
        return xcals.get_calendar("XNYS", start=pd.Timestamp(FIRST_DAY), end=pd.Timestamp(end))


def _xnys(through: date) -> Any:
    """The XNYS calendar covering every day up to ``through`` (built again when it ends before)."""
    global _built
    built = _built
    if built is None or through > built[1]:
        with _lock:  # one build when several threads ask past the end at once
            built = _built
            if built is None or through > built[1]:
                end = through + AHEAD
                built = _built = (_build(end), end)
    return built[0]


def calendar_end() -> date | None:
    """The last day the calendar built so far covers (``None`` before the first use)."""
    return None if _built is None else _built[1]


def sessions_between(start: date, end: date) -> list[date]:
    """The NYSE sessions from ``start`` to ``end``, both included, oldest first."""
    if end < start:
        return []
    cal = _xnys(end)
    first = max(start, cal.first_session.date())
    last = min(end, cal.last_session.date())
    if last < first:
        return []
    index = cal.sessions_in_range(pd.Timestamp(first), pd.Timestamp(last))
    days: np.ndarray[Any, Any] = index.values.astype("datetime64[D]")
    return [d.item() for d in days]


@lru_cache(maxsize=4096)
def session_hours(day: date) -> tuple[datetime, datetime]:
    """The (open, close) of a session as aware UTC datetimes (early closes included)."""
    cal = _xnys(day)
    ts = pd.Timestamp(day)
    return (
        cal.session_open(ts).to_pydatetime().astimezone(UTC),
        cal.session_close(ts).to_pydatetime().astimezone(UTC),
    )


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
