"""The NYSE calendar's range follows the dates asked (the clock), not the process's start date.

``exchange_calendars``' default range ends a year after the process starts: before, a day more
than a year ahead (a pinned clock, a bot up for months) raised or counted as no session. Every
expectation here is written down from the NYSE rules for that date, not computed from a clock,
or read from ``exchange_calendars`` itself (the source of truth the session table is computed from
in a child process, so that pandas stays out of the bot).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import exchange_calendars as xcals
import msgspec
import pandas as pd
import pytest

import fetchers.calendar as calendar
import fetchers.calendar_table as calendar_table
from fetchers.calendar import (
    AHEAD,
    calendar_end,
    last_closed_session,
    session_hours,
    sessions_between,
)
from fetchers.calendar_table import CalendarError, load


@pytest.fixture
def fresh_calendar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No table built yet in this process, and an empty cache folder (yielded)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # gettempdir() caches it
    monkeypatch.setattr(calendar, "_built", None)
    session_hours.cache_clear()
    yield tmp_path / "cache" / "ibpicker" / "calendars"
    session_hours.cache_clear()


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


def test_a_day_past_the_calendars_end_builds_it_again_further_ahead(fresh_calendar: Path) -> None:
    """Asking for a day beyond the end the table was built with extends it to the end of the
    year of that day plus ``AHEAD`` (here 3 July 2070, an early close before Independence Day),
    and earlier days keep their answers."""
    sessions_between(date(2026, 12, 1), date(2026, 12, 4))
    assert calendar_end() == date(2028, 12, 31)  # 4 Dec 2026 + 732 days is in 2028
    assert session_hours(date(2070, 7, 3)) == (
        datetime(2070, 7, 3, 13, 30, tzinfo=UTC),
        datetime(2070, 7, 3, 17, 0, tzinfo=UTC),
    )
    assert calendar_end() == date(2072, 12, 31)
    assert date(2072, 12, 31) >= date(2070, 7, 3) + AHEAD
    assert sessions_between(date(2026, 11, 25), date(2026, 11, 30)) == [
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]


def _xnys_truth(start: date, end: date) -> tuple[list[date], list[tuple[datetime, datetime]]]:
    """The sessions and their (open, close) as ``exchange_calendars`` gives them."""
    cal = xcals.get_calendar("XNYS", start=pd.Timestamp(date(2015, 1, 1)), end=pd.Timestamp(end))
    sessions = cal.sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    days = [s.date() for s in sessions]
    hours = [
        (cal.session_open(s).to_pydatetime(), cal.session_close(s).to_pydatetime())
        for s in sessions
    ]
    return days, hours


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # theirs (see calendar_table)
def test_sessions_and_hours_are_exchange_calendars_own(fresh_calendar: Path) -> None:
    """Every session from 2018 to 2030 and its open and close are exactly ``exchange_calendars``'
    (holidays absent, early closes at their time), the range holds both kinds (Good Friday 2024
    is no session, 3 July 2024 closes at 13:00 New York time), and a day that is no session is
    refused with ``ValueError``."""
    start, end = date(2018, 1, 1), date(2030, 12, 31)
    days, hours = _xnys_truth(start, end)
    assert sessions_between(start, end) == days
    assert [session_hours(d) for d in days] == hours
    assert date(2024, 3, 29) not in days
    assert session_hours(date(2024, 7, 3))[1] == datetime(2024, 7, 3, 17, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="2024-03-29 is not an NYSE session"):
        session_hours(date(2024, 3, 29))


def test_the_table_is_computed_once_then_read_from_the_cache(fresh_calendar: Path) -> None:
    """The first use writes the table to the cache folder; a later load of the same range reads
    that file instead of computing it again (here a table altered in the file, to tell which
    one was read)."""
    first, end = date(1990, 1, 1), date(2026, 12, 31)
    table = load(first, end)
    files = list(fresh_calendar.glob("xnys-*-1990-01-01-2026-12-31.msgpack"))
    assert len(files) == 1
    assert table.between(date(2026, 12, 24), date(2026, 12, 28)) == [
        date(2026, 12, 24),
        date(2026, 12, 28),
    ]
    stored = msgspec.msgpack.decode(files[0].read_bytes(), type=calendar_table._Stored)
    files[0].write_bytes(
        msgspec.msgpack.encode(msgspec.structs.replace(stored, days=[], opens=[], closes=[]))
    )
    assert load(first, end).between(date(2026, 12, 24), date(2026, 12, 28)) == []


def test_a_failing_child_is_a_calendar_error_with_its_reason(fresh_calendar: Path) -> None:
    """A range ``exchange_calendars`` refuses (its end before its start) makes the child fail:
    ``load`` raises ``CalendarError`` quoting the child's last line, and caches nothing."""
    with pytest.raises(CalendarError, match=r"could not be computed \(exit 1\): \w+"):
        load(date(2030, 1, 1), date(2020, 1, 1))
    assert not fresh_calendar.exists() or not list(fresh_calendar.iterdir())


def test_using_the_calendar_never_imports_pandas() -> None:
    """A process that asks for sessions and hours (the table computed in a child, then cached)
    has neither pandas nor ``exchange_calendars`` in ``sys.modules``."""
    probe = (
        "import sys; from datetime import date; import fetchers.calendar as c; "
        "c.sessions_between(date(2026, 1, 1), date(2026, 12, 31)); "
        "c.session_hours(date(2026, 11, 27)); "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('pandas', 'exchange_calendars')))"
    )
    root = Path(calendar.__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_extending_keeps_every_earlier_answer(fresh_calendar: Path) -> None:
    """A table built again further ahead gives the very same sessions and hours for the days the
    first table covered (5 January to 31 December 2027)."""
    start, end = date(2027, 1, 5), date(2027, 12, 31)
    before = sessions_between(start, end)
    hours = [session_hours(d) for d in before]
    sessions_between(date(2040, 1, 1), date(2040, 1, 10))
    session_hours.cache_clear()
    assert calendar_end() == date(2042, 12, 31)
    assert sessions_between(start, end) == before
    assert [session_hours(d) for d in before] == hours
    assert start + timedelta(days=1) in before
