"""Errors read as messages (issue 10, item 6): real ``ibpicker`` processes on damaged, busy or full
data folders print one ``error:`` line naming the cause and what to do, exit 1, and never show a
traceback unless ``--debug`` asks for it; a line of bad bytes on the console's stdin is refused and
the rest run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.cli import cli_env

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-12-03T21:30:00Z"
"""The console's clock in these tests (``IBPICKER_NOW``)."""
TRACEBACK_MARKS = ("Traceback", "╭", 'File "')


def run_cli(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    """``ibpicker ARGS`` as a separate process with ``stdin`` piped in (bytes, as a pipe carries
    them), no provider keys, no network."""
    done = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=cli_env(NOW),
        timeout=120,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def console(data_dir: Path, *lines: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    """``ibpicker console --data-dir D`` with ``lines`` piped in."""
    args = ["console", "--data-dir", str(data_dir), *(["--debug"] if debug else [])]
    return run_cli(*args, stdin=("\n".join(lines) + "\n").encode())


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    for mark in TRACEBACK_MARKS:
        assert mark not in result.stdout + result.stderr, result.stdout + result.stderr


def _folder_with_a_journal(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    assert console(folder, "/watchlist add symbol:AAPL").returncode == 0
    return folder


def test_a_garbage_or_emptied_analytics_file_says_damaged_and_offers_rebuild(
    tmp_path: Path,
) -> None:
    """Garbage or zero bytes in ``analytics.duckdb``: one error line saying the file is damaged
    and offering ``ibpicker journal rebuild`` (it used to say "held by another process"); the
    rebuild then brings the console back with the journal's data. ``journal verify`` and
    ``journal status`` still check and show the journal, and say the same about the file."""
    folder = _folder_with_a_journal(tmp_path)
    for content in (os.urandom(20_000), b""):
        (folder / "analytics.duckdb").write_bytes(content)
        result = console(folder, "/ping")
        assert result.returncode == 1
        _no_traceback(result)
        assert "analytics.duckdb is damaged" in result.stderr
        assert f"ibpicker journal rebuild --data-dir {folder}" in result.stderr
        assert "another process" not in result.stderr
        assert "Pong" not in result.stdout
        for command in ("verify", "status"):  # they still read the journal, and say the same
            checked = run_cli("journal", command, "--data-dir", str(folder))
            assert checked.returncode == 0, checked.stdout + checked.stderr
            _no_traceback(checked)
            assert "analytics.duckdb is damaged" in checked.stdout
            assert "ibpicker journal rebuild" in checked.stdout
    rebuilt = run_cli("journal", "rebuild", "--data-dir", str(folder))
    assert rebuilt.returncode == 0, rebuilt.stderr
    again = console(folder, "/watchlist list")
    assert again.returncode == 0, again.stderr
    assert "AAPL" in again.stdout


def test_a_damaged_journal_offers_sync_pull_onto_a_fresh_folder_and_verify(
    tmp_path: Path,
) -> None:
    """A ``journal.sqlite`` of garbage, or one whose pages were overwritten ("malformed"), ends
    in one error line offering ``sync pull`` onto a fresh folder and ``journal verify`` (it used
    to print ~220 lines of traceback); ``journal verify`` and ``journal status`` say the same."""
    folder = _folder_with_a_journal(tmp_path)
    journal = folder / "journal.sqlite"
    good = journal.read_bytes()
    damaged = bytearray(good)
    damaged[100:4096] = b"\x00" * (4096 - 100)
    damaged[5000:9000] = b"\xff" * 4000
    for content in (os.urandom(len(good)), bytes(damaged)):
        journal.write_bytes(content)
        for args in (
            ["console", "--data-dir", str(folder)],
            ["journal", "verify", "--data-dir", str(folder)],
        ):
            result = run_cli(*args, stdin=b"/ping\n")
            assert result.returncode == 1, result.stdout + result.stderr
            _no_traceback(result)
            assert "the journal (journal.sqlite) is damaged" in result.stderr
            assert "ibpicker sync pull --data-dir NEW_FOLDER" in result.stderr
            assert "ibpicker journal verify --data-dir NEW_FOLDER" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """``--debug`` (anywhere on the line) shows where a failure came from, as a traceback."""
    folder = _folder_with_a_journal(tmp_path)
    (folder / "analytics.duckdb").write_bytes(b"not a database")
    result = console(folder, "/ping", debug=True)
    assert result.returncode == 1
    assert "Traceback" in result.stderr or "╭" in result.stderr
    assert "AnalyticsCorruptError" in result.stderr


def test_a_full_disk_at_start_says_so_and_loses_nothing(tmp_path: Path) -> None:
    """With the analytics file on a device that is always full (``/dev/full``: every write fails
    with ENOSPC, as on a full disk), the console says the disk is full and nothing is lost, exit
    1; with the space back, every command acknowledged before is there."""
    folder = _folder_with_a_journal(tmp_path)
    analytics = folder / "analytics.duckdb"
    analytics.unlink()
    analytics.symlink_to("/dev/full")
    result = console(folder, "/watchlist list")
    assert result.returncode == 1
    _no_traceback(result)
    assert "is full: nothing is lost" in result.stderr
    assert "another process" not in result.stderr
    analytics.unlink()
    again = console(folder, "/watchlist list")
    assert again.returncode == 0, again.stderr
    assert "AAPL" in again.stdout


def test_a_second_console_on_a_folder_is_refused_naming_the_first(tmp_path: Path) -> None:
    """While a console runs on a folder, a second one exits 1 with a message naming the first's
    process id and command (the writer lock's), not a DuckDB traceback; the first carries on."""
    folder = _folder_with_a_journal(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "console", "--data-dir",
         str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env=cli_env(NOW), text=True,
    ) as first:  # fmt: skip
        assert first.stdin is not None
        assert first.stdout is not None
        try:
            first.stdin.write("/ping\n")
            first.stdin.flush()
            for line in first.stdout:  # the first has the folder once it answered
                if "Pong" in line:
                    break
            second = console(folder, "/ping")
            assert second.returncode == 1
            _no_traceback(second)
            assert f"process {first.pid}" in second.stderr, second.stderr
            assert "console" in second.stderr
            assert "Pong" not in second.stdout
            first.stdin.write("/watchlist list\n")
            first.stdin.close()
            rest = first.stdout.read()
            assert first.wait(timeout=60) == 0
            assert "AAPL" in rest
        finally:
            if first.poll() is None:
                first.kill()


def test_a_line_that_is_not_utf8_is_refused_and_the_rest_run(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 on stdin refuse that line alone (exit 2, the line named as not
    UTF-8); the lines before and after it run (strict decoding used to abort the whole run)."""
    stdin = b"/watchlist add symbol:AAPL\n/watchlist add \xff\xfe symbol:MSFT\n/watchlist list\n"
    result = run_cli("console", "--data-dir", str(tmp_path / "data"), stdin=stdin)
    assert result.returncode == 2, result.stdout + result.stderr
    _no_traceback(result)
    assert "not valid UTF-8 (byte 0xff" in result.stdout
    assert "AAPL" in result.stdout.split("> /watchlist list")[-1]
    assert "MSFT" not in result.stdout.split("> /watchlist list")[-1]
