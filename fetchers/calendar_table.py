"""The XNYS session table: every session's date, open and close, computed by ``exchange_calendars``.

``exchange_calendars`` stays the source of truth for NYSE sessions, but it needs pandas, ~43 MiB
of RSS a long-running bot would carry for a table of a few thousand rows. So the table is
computed in a short-lived child process (``python -m fetchers.calendar_table --end DAY``, which
writes it as msgpack to its standard output) and the bot keeps only the compact result
(``SessionTable``: three integer arrays). The result is cached in a file named after the
``exchange_calendars`` version and the range, so a restart reads it back instead of starting
the child again.

This module never imports pandas or ``exchange_calendars`` at module level: only ``compute``
(run in the child) does.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path

import msgspec
from platformdirs import user_cache_dir

from fetchers.errors import FetchError

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_ROOT = Path(__file__).resolve().parent.parent
"""The folder holding the ``fetchers`` package (the child imports it from there)."""
_CHILD_TIMEOUT_S = 300.0
"""Importing pandas and building ~20,000 sessions takes ~2 s of CPU: at 0.25 vCPU, ~10 s."""


class CalendarError(FetchError):
    """The session table could not be computed (the child process failed)."""


class _Stored(msgspec.Struct, frozen=True):
    """The table as the child writes it and the cache file keeps it."""

    calendar_version: str
    first: date
    end: date
    days: list[int]  # proleptic ordinals
    opens: list[int]  # POSIX seconds, UTC
    closes: list[int]


@dataclass(frozen=True, slots=True)
class SessionTable:
    """XNYS sessions from ``first`` to ``end``: ordinals, opens and closes (POSIX seconds)."""

    first: date
    end: date
    days: array[int]
    opens: array[int]
    closes: array[int]

    def between(self, start: date, end: date) -> list[date]:
        """The sessions from ``start`` to ``end``, both included (clipped to the table)."""
        lo = bisect_left(self.days, start.toordinal())
        hi = bisect_right(self.days, end.toordinal())
        return [date.fromordinal(d) for d in self.days[lo:hi]]

    def hours(self, day: date) -> tuple[datetime, datetime]:
        """(open, close) of the session ``day`` as aware UTC datetimes; ``ValueError`` when
        ``day`` is not a session."""
        i = bisect_left(self.days, day.toordinal())
        if i == len(self.days) or self.days[i] != day.toordinal():
            raise ValueError(f"{day.isoformat()} is not an NYSE session")
        return (
            datetime.fromtimestamp(self.opens[i], UTC),
            datetime.fromtimestamp(self.closes[i], UTC),
        )


def calendar_version() -> str:
    """The installed ``exchange_calendars`` version (read from its metadata, not imported)."""
    return version("exchange_calendars")


def compute(first: date, end: date) -> _Stored:
    """(Child process) the table from ``exchange_calendars``; imports pandas."""
    import exchange_calendars as xcals
    import pandas as pd
    from pandas.errors import Pandas4Warning

    # exchange_calendars builds its tables with a pandas call that pandas 3.1 deprecates; the
    # warning is theirs to fix and would otherwise be an error in our warnings-as-errors tests.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Pandas4Warning)
        cal = xcals.get_calendar("XNYS", start=pd.Timestamp(first), end=pd.Timestamp(end))
        days = cal.sessions.values.astype("datetime64[D]").astype("int64") + _EPOCH_ORDINAL
        opens = cal.opens.values.astype("datetime64[s]").astype("int64")
        closes = cal.closes.values.astype("datetime64[s]").astype("int64")
    return _Stored(calendar_version(), first, end, days.tolist(), opens.tolist(), closes.tolist())


def _cache_dirs() -> list[Path]:
    # The per-user cache first; in the container the user has no home, so the temporary folder.
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return [
        Path(user_cache_dir("ibpicker", appauthor=False)) / "calendars",
        Path(tempfile.gettempdir()) / f"ibpicker-{uid}" / "calendars",
    ]


def _cache_name(first: date, end: date) -> str:
    return f"xnys-{calendar_version()}-{first.isoformat()}-{end.isoformat()}.msgpack"


def _table(stored: _Stored) -> SessionTable:
    return SessionTable(
        stored.first,
        stored.end,
        array("q", stored.days),
        array("q", stored.opens),
        array("q", stored.closes),
    )


def _read_cached(first: date, end: date) -> SessionTable | None:
    """A cached table for exactly this version and range, if one is readable."""
    for folder in _cache_dirs():
        try:
            stored = msgspec.msgpack.decode(
                (folder / _cache_name(first, end)).read_bytes(), type=_Stored
            )
        except (OSError, msgspec.DecodeError):
            continue
        if (stored.calendar_version, stored.first, stored.end) == (
            calendar_version(),
            first,
            end,
        ):
            return _table(stored)
    return None


def _write_cached(data: bytes, first: date, end: date) -> None:
    """Keep ``data`` in the first writable cache folder (none writable: not kept)."""
    for folder in _cache_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            part = folder / f".{_cache_name(first, end)}.{os.getpid()}.part"
            part.write_bytes(data)
            part.replace(folder / _cache_name(first, end))  # readers never see half a file
            return
        except OSError:
            continue


def load(first: date, end: date) -> SessionTable:
    """The session table from ``first`` to ``end``: from the cache, else from a child process
    (which is cached after). ``CalendarError`` when the child fails."""
    cached = _read_cached(first, end)
    if cached is not None:
        return cached
    command = [sys.executable, "-m", "fetchers.calendar_table"]
    command += ["--first", first.isoformat(), "--end", end.isoformat()]
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter and module, fixed arguments)
            command, cwd=_ROOT, capture_output=True, timeout=_CHILD_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CalendarError(f"the NYSE calendar could not be computed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise CalendarError(
            f"the NYSE calendar could not be computed (exit {done.returncode}): {tail[0]}"
        )
    try:
        stored = msgspec.msgpack.decode(done.stdout, type=_Stored)
    except msgspec.DecodeError as exc:
        raise CalendarError(f"the NYSE calendar child wrote an unreadable table: {exc}") from None
    _write_cached(done.stdout, first, end)
    return _table(stored)


def main(argv: list[str] | None = None) -> None:
    """(Child process) write the table from ``--first`` to ``--end`` to standard output."""
    parser = argparse.ArgumentParser(description="XNYS session table as msgpack on stdout")
    parser.add_argument("--first", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(msgspec.msgpack.encode(compute(args.first, args.end)))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
