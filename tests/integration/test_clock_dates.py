"""The console and the CLI on the dates where calendars go wrong, with the clock pinned by
``IBPICKER_NOW``: a weekend, a market holiday, both DST switches, a half day, New Year's Eve in
New York (already New Year's Day in UTC), a leap day, and more than a year ahead.

Each case's expectations are written down for its date (the NYSE rules and the sample data's two
years of sessions), never computed from a clock: the last closed session and so the last bar,
how many bars a first fetch brings, the "up to date" answer of a second fetch, and the next run of
a daily schedule as ``/schedule status`` shows it. The sample data are the same on any machine.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli import build_app
from commands.console.console import run_console
from settings import ENV_PREFIX, SECRET_ENV


@dataclass(frozen=True)
class Case:
    """One pinned instant and what the console and the CLI must say at it."""

    now: str
    schedule_at: str
    bars: int
    first_day: str
    last_day: str
    next_run: str


CASES = {
    # Sunday 13:00 in New York: the last session is Friday's, the next run Monday's.
    "weekend": Case(
        "2026-12-06T18:00:00Z", "09:30", 502, "2024-12-04", "2026-12-04",
        "2026-12-07 09:30 EST (session 2026-12-07)",
    ),
    # Thanksgiving evening: no session that day; the next run is on the half day (09:30 comes
    # before its 13:00 close, so it is not moved).
    "holiday": Case(
        "2026-11-26T22:00:00Z", "09:30", 502, "2024-11-25", "2026-11-25",
        "2026-11-27 09:30 EST (session 2026-11-27)",
    ),
    # The Monday after clocks went forward (14 March 2027): 20:30 UTC is 16:30 EDT, so that day's
    # session has closed (at 20:00 UTC, not 21:00 as in winter); the run stays at 09:30 EDT.
    "dst-march": Case(
        "2027-03-15T20:30:00Z", "09:30", 501, "2025-03-17", "2027-03-15",
        "2027-03-16 09:30 EDT (session 2027-03-16)",
    ),
    # The Monday after clocks went back (1 November 2026): 20:30 UTC is 15:30 EST, the session
    # is still open (it closes at 21:00 UTC now), so the last bar is Friday's.
    "dst-november": Case(
        "2026-11-02T20:30:00Z", "09:30", 499, "2024-11-04", "2026-10-30",
        "2026-11-03 09:30 EST (session 2026-11-03)",
    ),
    # The day after Thanksgiving at 11:00 EST, before its 13:00 close: the last bar is
    # Wednesday's, and a run set for 15:00 is moved to 30 minutes before the early close.
    "half-day": Case(
        "2026-11-27T16:00:00Z", "15:00", 500, "2024-11-27", "2026-11-25",
        "2026-11-27 12:30 EST (session 2026-11-27)",
    ),
    # 22:00 on 31 December in New York, already 1 January in UTC: the last bar is the 31st's;
    # New Year's Day (a Friday) is a holiday, so the next run is Monday 4 January.
    "new-years-eve-new-york": Case(
        "2027-01-01T03:00:00Z", "09:30", 502, "2024-12-31", "2026-12-31",
        "2027-01-04 09:30 EST (session 2027-01-04)",
    ),
    # Tuesday 29 February 2028 after the close.
    "leap-day": Case(
        "2028-02-29T21:30:00Z", "09:30", 503, "2026-03-02", "2028-02-29",
        "2028-03-01 09:30 EST (session 2028-03-01)",
    ),
    # More than a year past any process's start: the calendar must reach it. A first fetch
    # asks for at most 504 sessions.
    "years-ahead": Case(
        "2029-03-15T21:30:00Z", "09:30", 504, "2027-03-16", "2029-03-15",
        "2029-03-16 09:30 EDT (session 2029-03-16)",
    ),
}  # fmt: skip


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key, no Key Vault, no data dir from the environment: the sample data."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name in SECRET_ENV.values() or name == "KEY_VAULT_URL":
            monkeypatch.delenv(name)


@pytest.mark.parametrize("name", list(CASES))
def test_the_cli_fetches_to_the_last_closed_session_of_the_pinned_date(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ibpicker fetch bars`` at the pinned instant fetches the case's bars up to its last
    closed session; a second run says up to date with that last bar."""
    case = CASES[name]
    monkeypatch.setenv("IBPICKER_NOW", case.now)

    def bars() -> list[tuple[str, int, str]]:
        result = CliRunner().invoke(
            build_app(), ["fetch", "bars", "AAPL", "--data-dir", str(tmp_path), "--json"]
        )
        assert result.exit_code == 0, result.output
        outcomes = json.loads(result.stdout)["outcomes"]
        return [(o["status"], o["count"], o["detail"]) for o in outcomes if o["kind"] == "bars"]

    assert bars() == [("fetched", case.bars, f"{case.first_day} to {case.last_day}")]
    assert bars() == [("up_to_date", 0, f"last bar {case.last_day}")]


@pytest.mark.parametrize("name", list(CASES))
def test_the_console_fetches_and_schedules_by_the_pinned_date(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console at the pinned instant: ``/fetch stocks`` brings the case's bars, ``/status``
    shows them up to the last closed session, and ``/schedule status`` the case's next run (New
    York time, the right offset for the season, moved on a half day)."""
    case = CASES[name]
    monkeypatch.setenv("IBPICKER_NOW", case.now)
    script = (
        "/fetch stocks symbols:AAPL\n"
        f"/schedule set strategy:rsi2_dip_any time:{case.schedule_at} enabled:true\n"
        "/schedule status\n"
        "/status symbols:AAPL\n"
    )
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, soft_wrap=True)
    code = asyncio.run(run_console(tmp_path, stdin=io.StringIO(script), out=console))
    text = out.getvalue()
    assert code == 0, text
    assert f"AAPL: {case.bars} new bars" in text
    assert f"AAPL: {case.bars} bars {case.first_day}→{case.last_day}" in text
    next_run = [
        line.split(None, 2)[2].rstrip() for line in text.splitlines() if line.startswith("Next run")
    ]
    assert next_run == [case.next_run], text
