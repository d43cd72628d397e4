"""When the daily picks run: the real XNYS calendar across DST, holidays and half days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from commands.picks.schedule import (
    ScheduleError,
    due_run,
    next_run,
    parse_time,
    run_at,
    xnys,
)

NINE_THIRTY = time(9, 30)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def never_posted(_: date) -> bool:
    return False


def test_next_run_moves_with_spring_dst() -> None:
    """09:30 New York is 14:30 UTC on the Friday before DST starts and 13:30 UTC on the Monday."""
    day, at = next_run(utc(2026, 3, 5, 15), NINE_THIRTY, xnys())
    assert (day, at.astimezone(UTC)) == (date(2026, 3, 6), utc(2026, 3, 6, 14, 30))
    day, at = next_run(at, NINE_THIRTY, xnys())
    assert (day, at.astimezone(UTC)) == (date(2026, 3, 9), utc(2026, 3, 9, 13, 30))


def test_next_run_moves_with_autumn_dst() -> None:
    """09:30 New York is 13:30 UTC on Friday 30 Oct 2026 and 14:30 UTC on Monday 2 Nov."""
    day, at = next_run(utc(2026, 10, 30, 14), NINE_THIRTY, xnys())
    assert (day, at.astimezone(UTC)) == (date(2026, 11, 2), utc(2026, 11, 2, 14, 30))


def test_next_run_skips_weekends_and_holidays() -> None:
    """After Wednesday's run, Thanksgiving (a holiday) is skipped for Friday; Good Friday too."""
    day, _ = next_run(utc(2026, 11, 25, 15), NINE_THIRTY, xnys())
    assert day == date(2026, 11, 27)
    day, _ = next_run(utc(2026, 4, 2, 15), NINE_THIRTY, xnys())  # Good Friday is 3 Apr 2026
    assert day == date(2026, 4, 6)


def test_half_day_moves_a_late_run_before_the_early_close() -> None:
    """On the 13:00 early close after Thanksgiving a 15:00 run happens at 12:30; 09:30 stays."""
    cal = xnys()
    half = date(2026, 11, 27)
    assert run_at(half, time(15, 0), cal).astimezone(UTC) == utc(2026, 11, 27, 17, 30)
    assert run_at(half, NINE_THIRTY, cal).astimezone(UTC) == utc(2026, 11, 27, 14, 30)
    assert run_at(date(2026, 11, 30), time(15, 0), cal).astimezone(UTC) == utc(2026, 11, 30, 20)


def test_due_run_catches_up_after_a_restart_marked_late() -> None:
    """Started at 11:00 on a session with no post: due, late; at 09:32: due, on time."""
    late = due_run(utc(2026, 3, 10, 15), NINE_THIRTY, xnys(), never_posted)
    assert late is not None
    assert late.late
    assert late.session == date(2026, 3, 10)
    on_time = due_run(utc(2026, 3, 10, 13, 32), NINE_THIRTY, xnys(), never_posted)
    assert on_time is not None
    assert not on_time.late


def test_due_run_is_none_before_the_time_after_a_post_and_on_holidays() -> None:
    """Nothing is owed before the run time, once posted, or on a holiday."""
    cal = xnys()
    assert due_run(utc(2026, 3, 10, 13), NINE_THIRTY, cal, never_posted) is None
    assert due_run(utc(2026, 3, 10, 15), NINE_THIRTY, cal, lambda d: True) is None
    assert due_run(utc(2026, 11, 26, 16), NINE_THIRTY, cal, never_posted) is None


def test_due_run_does_not_catch_up_a_previous_day() -> None:
    """Restarting on Wednesday morning before the run does not owe Tuesday's missed post."""
    assert due_run(utc(2026, 3, 11, 12), NINE_THIRTY, xnys(), never_posted) is None


def test_due_run_reports_the_early_close() -> None:
    """A run on a half day carries the early close time for the post to mention."""
    due = due_run(utc(2026, 11, 27, 15), NINE_THIRTY, xnys(), never_posted)
    assert due is not None
    assert due.early_close is not None
    assert due.early_close.astimezone(UTC) == utc(2026, 11, 27, 18)


@pytest.mark.parametrize("text", ["25:00", "9", "ab:cd", "09:60"])
def test_parse_time_rejects_bad_times(text: str) -> None:
    """A time that is not HH:MM 24-hour is refused with a clear message."""
    with pytest.raises(ScheduleError, match="HH:MM"):
        parse_time(text)
