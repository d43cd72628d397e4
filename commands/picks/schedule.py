"""When the daily picks run: pure functions of a clock reading, a schedule and the calendar.

Rules (DESIGN.md, Runtime; issue 4, The daily picks):

1. A run happens only on XNYS trading sessions (``exchange_calendars``, not a hand list), at the
   configured wall-clock time in America/New_York. The instant is computed with ``zoneinfo`` from
   the session's date, so it is right on both sides of a DST change.
2. Early-close days (half days, e.g. the day after Thanksgiving): the market closes at 13:00 ET.
   A run configured before the early close runs as usual; one configured at or after it is moved
   to ``EARLY_CLOSE_LEAD`` before the close (12:30 ET), so the picks still arrive while the market
   is open. The post says the session closes early.
3. "Already done for this session?" is answered from the journal (``daily_post_published``).
4. Catch-up: when the process (re)starts after a session's run time and that session has no post
   yet, the run is due until the end of that New York day, and it is marked late when more than
   ``LATE_AFTER`` has passed since the scheduled instant. A session whose day has ended is not
   caught up: yesterday's picks are no use today.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from commands.core.errors import CommandError
from commands.core.ports import TradingCalendar
from fetchers.calendar import session_hours, sessions_between

NEW_YORK = ZoneInfo("America/New_York")
EARLY_CLOSE_LEAD = timedelta(minutes=30)
LATE_AFTER = timedelta(minutes=5)
HORIZON_DAYS = 30


class ScheduleError(CommandError, ValueError):
    """A schedule that cannot be used (bad time, beyond the calendar)."""


class ExchangeCalendar:
    """XNYS from ``exchange_calendars``, through ``fetchers.calendar`` (one calendar a process)."""

    def is_session(self, day: date) -> bool:
        """Whether the exchange trades on ``day`` (False beyond the calendar's range)."""
        return _is_session(day)

    def close_at(self, day: date) -> datetime:
        """The session's close in New York time."""
        return session_hours(day)[1].astimezone(NEW_YORK)

    def is_early_close(self, day: date) -> bool:
        """Whether the session closes before 16:00 ET."""
        return self.close_at(day).time() < time(16, 0)


@functools.lru_cache(maxsize=4096)
def _is_session(day: date) -> bool:
    return sessions_between(day, day) == [day]


@functools.cache
def xnys() -> ExchangeCalendar:
    """The NYSE calendar."""
    return ExchangeCalendar()


def parse_time(text: str) -> time:
    """``HH:MM`` (24-hour) as a time; ``ScheduleError`` with a clear message otherwise."""
    try:
        hours, minutes = text.strip().split(":")
        value = time(int(hours), int(minutes))
    except ValueError:
        raise ScheduleError(f"time must be HH:MM (24-hour, New York time), not {text!r}") from None
    return value


def run_at(session: date, at: time, cal: TradingCalendar) -> datetime:
    """The instant of a session's run (rule 1 and 2), zone-aware in New York time."""
    scheduled = datetime.combine(session, at, tzinfo=NEW_YORK)
    if cal.is_early_close(session):
        close = cal.close_at(session)
        if scheduled >= close:
            return close - EARLY_CLOSE_LEAD
    return scheduled


def next_run(after: datetime, at: time, cal: TradingCalendar) -> tuple[date, datetime]:
    """The first session run strictly after ``after``: its session date and instant."""
    first = after.astimezone(NEW_YORK).date()
    for offset in range(HORIZON_DAYS):
        day = first + timedelta(days=offset)
        if cal.is_session(day):
            instant = run_at(day, at, cal)
            if instant > after:
                return day, instant
    raise ScheduleError(f"no trading session within {HORIZON_DAYS} days of {after:%Y-%m-%d}")


class DueRun(msgspec.Struct, frozen=True, kw_only=True):
    """A run owed now: its session, when it was scheduled, and whether it is late."""

    session: date
    scheduled_at: datetime
    late: bool
    early_close: datetime | None = None


def due_run(
    now: datetime, at: time, cal: TradingCalendar, posted: Callable[[date], bool]
) -> DueRun | None:
    """The run owed at ``now`` (rules 3 and 4), or ``None``."""
    day = now.astimezone(NEW_YORK).date()
    if not cal.is_session(day) or posted(day):
        return None
    scheduled = run_at(day, at, cal)
    if now < scheduled:
        return None
    return DueRun(
        session=day,
        scheduled_at=scheduled,
        late=now - scheduled > LATE_AFTER,
        early_close=cal.close_at(day) if cal.is_early_close(day) else None,
    )


def session_of(now: datetime, cal: TradingCalendar) -> tuple[date, bool]:
    """The New York date of ``now`` and whether it is a trading session."""
    day = now.astimezone(NEW_YORK).date()
    return day, cal.is_session(day)
