"""The console's log output as a real process writes it: JSON lines on stderr with
``IBPICKER_LOG_FORMAT=json`` (each naming its command id, guild and positions), its replies
alone on stdout; and nothing but warnings, as one plain line each, by default."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

from tests.integration.test_console import run_console

LINES = (
    "/watchlist add symbols:AAPL",
    "/trade open symbol:AAPL direction:long entry:187.5 size:10",
    "/trade open symbol:AAPL direction:long entry:-1 size:10",
)


def console(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``ibpicker console`` with ``LINES`` piped in, the clock pinned, ``env`` added."""
    return run_console(data_dir, *LINES, env=env)


def test_json_logs_of_console_commands_name_ids_guild_and_consecutive_positions(
    tmp_path: Path,
) -> None:
    """With ``IBPICKER_LOG_FORMAT=json`` every stderr line is a JSON object with timestamp,
    level, logger and message; each command (the refused one too) logs one INFO append line
    with its own command id, the console's guild and positions that follow on from the
    previous command's; stdout holds the replies and no JSON."""
    result = console(tmp_path, {"IBPICKER_LOG_FORMAT": "json"})
    assert result.returncode == 2, result.stderr  # the last line is refused (bad input)
    records = [json.loads(line) for line in result.stderr.splitlines()]
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
    appends = [r for r in records if str(r["message"]).startswith("appended ")]
    assert [r["command"] for r in appends] == ["watchlist add", "trade open", "trade open"]
    assert len({r["command_id"] for r in appends}) == 3
    assert {r["guild_id"] for r in appends} == {appends[0]["guild_id"]}
    assert {(r["level"], r["logger"]) for r in appends} == {("INFO", "commands.core.service")}
    assert appends[0]["first_position"] == 1
    for before, after in itertools.pairwise(appends):
        assert after["first_position"] == before["last_position"] + 1
    assert "Trade " in result.stdout
    assert not any(line.startswith("{") for line in result.stdout.splitlines())


def test_by_default_the_console_logs_nothing_for_commands_that_ran(tmp_path: Path) -> None:
    """Without ``IBPICKER_LOG_FORMAT`` the console's stderr holds no log line for commands that
    ran or were refused (INFO is for ``--debug``), as before JSON logging existed."""
    result = console(tmp_path, {})
    assert result.returncode == 2
    assert result.stderr == ""


def test_a_bad_ibpicker_log_format_exits_2_naming_it_and_runs_nothing(tmp_path: Path) -> None:
    """``IBPICKER_LOG_FORMAT=xml`` stops any command before it runs: exit 2, one ``error:``
    line naming the variable and the accepted values, no journal created."""
    result = console(tmp_path / "d", {"IBPICKER_LOG_FORMAT": "xml"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: IBPICKER_LOG_FORMAT must be json, text or auto")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "d" / "journal.sqlite").exists()


def test_in_json_a_failure_that_stops_a_command_is_one_json_object_with_its_traceback(
    tmp_path: Path,
) -> None:
    """A damaged analytics file stops the console: in JSON mode stderr holds one CRITICAL
    object whose message is the ``error:`` line and whose ``exception`` holds the traceback;
    with ``--debug`` too (the re-raised error is logged by the JSON mode's exception hook)."""
    assert console(tmp_path, {}).returncode == 2  # a journal to damage
    (tmp_path / "analytics.duckdb").write_bytes(b"not a database")
    for debug in ({}, {"IBPICKER_DEBUG": "1"}):
        result = console(tmp_path, {"IBPICKER_LOG_FORMAT": "json", **debug})
        assert result.returncode == 1, result.stderr
        [failure] = [json.loads(line) for line in result.stderr.splitlines()]
        assert failure["level"] == "CRITICAL"
        assert "analytics" in str(failure["message"])
        assert str(failure["exception"]).startswith("Traceback (most recent call last):")
        assert "AnalyticsCorruptError" in str(failure["exception"])
