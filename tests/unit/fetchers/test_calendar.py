"""The NYSE calendar's range follows the dates asked (the clock), not the process's start date.

``exchange_calendars``' default range ends a year after the process starts: before, a day more
than a year ahead (a pinned clock, a bot up for months) raised or counted as no session. Every
expectation here is written down from the NYSE rules for that date, not computed from a clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from fetchers.calendar import (
    AHEAD,
    calendar_end,
    last_closed_session,
    session_hours,
    sessions_between,
)


def test_sessions_more_than_a_year_ahead_have_their_holidays_and_early_closes() -> None:
    """Around New Year 2030 the holidays are skipped (Christmas, New Year's Day), the day after
    Thanksgiving 2029 closes at 13:00 New York time, and the last closed session of a Thursday
    evening in March 2029 is that Thursday."""
    assert sessions_between(date(2029, 12, 20), date(2030, 1, 5)) == [
        date(2029, 12, 20),
        date(2029, 12, 21),
        date(2029, 12, 24),
        date(2029, 12, 26),
        date(2029, 12, 27),
        date(2029, 12, 28),
        date(2029, 12, 31),
        date(2030, 1, 2),
        date(2030, 1, 3),
        date(2030, 1, 4),
    ]
    assert session_hours(date(2029, 11, 23)) == (
        datetime(2029, 11, 23, 14, 30, tzinfo=UTC),
        datetime(2029, 11, 23, 18, 0, tzinfo=UTC),
    )
    assert last_closed_session(datetime(2029, 3, 15, 21, 30, tzinfo=UTC)) == date(2029, 3, 15)


def test_a_day_past_the_calendars_end_builds_it_again_further_ahead() -> None:
    """Asking for a day beyond the end the calendar was built with extends it to that day plus
    ``AHEAD`` (here 3 July 2070, an early close before Independence Day), and earlier days keep
    their answers."""
    sessions_between(date(2026, 12, 1), date(2026, 12, 4))
    before = calendar_end()
    assert before is not None
    assert before < date(2070, 7, 3)
    assert session_hours(date(2070, 7, 3)) == (
        datetime(2070, 7, 3, 13, 30, tzinfo=UTC),
        datetime(2070, 7, 3, 17, 0, tzinfo=UTC),
    )
    assert calendar_end() == date(2070, 7, 3) + AHEAD
    assert sessions_between(date(2026, 11, 25), date(2026, 11, 30)) == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
