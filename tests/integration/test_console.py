"""The local console driven through a pipe, as a script would: a real process, a real data dir."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

from tests.support.cli import cli_env

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-12-03T21:30:00Z"
"""The console's clock in these tests: a Thursday, 16:30 in New York, after the close."""


def run_console(
    data_dir: Path,
    *lines: str,
    now: str = NOW,
    columns: int = 200,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ibpicker console --data-dir D`` with ``lines`` piped in, no provider keys, no network,
    its clock pinned at ``now`` (``IBPICKER_NOW``), in a terminal ``columns`` wide, with
    ``env`` added to its environment."""
    env = cli_env(now) | {"COLUMNS": str(columns)} | (env or {})
    return subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "console", "--data-dir",
         str(data_dir)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )  # fmt: skip


def test_scripted_session_opens_closes_measures_and_exports(tmp_path: Path) -> None:
    """Open two trades, close them in a second run (same journal), then metrics save a PNG and
    export saves a CSV whose rows carry the exact P&L; every line succeeds (exit status 0)."""
    first = run_console(
        tmp_path,
        "# a comment line is skipped",
        "/fetch stocks symbols:AAPL",
        '/trade open symbol:AAPL direction:long entry:187.5 size:10 stop:180 note:"two words"',
        "/trade open symbol:MSFT direction:short entry:400 size:2 tags:swing",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "try:" in first.stdout.lower()  # the intro on an empty data dir
    # The sample sessions of the two years to Thursday 2026-12-03, closed at 16:30 New York time.
    assert "AAPL: 502 new bars" in first.stdout
    ids = re.findall(r"Trade ([2-9A-Z]{5}) opened", first.stdout)
    assert len(ids) == 2
    second = run_console(
        tmp_path,
        f"/trade close id:{ids[0]} exit:190.25",
        f"/trade close id:{ids[1]} exit:410",
        "/metrics",
        "/trade export",
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "try:" not in second.stdout.lower()
    assert "+27.50" in second.stdout  # (190.25 - 187.5) x 10
    assert "-20.00" in second.stdout  # short 400 -> 410, x 2
    saved = dict(re.findall(r"saved (.+?): (\S+)", second.stdout))
    png = Path(saved["Equity curve and drawdown"])
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.is_relative_to(tmp_path)
    with Path(saved["Your trades (CSV)"]).open() as f:
        rows = {r["trade_id"]: r for r in csv.DictReader(f)}
    assert rows[ids[0]]["pnl"] == "27.50"
    assert rows[ids[1]]["strategy"] == "manual"
    assert rows[ids[1]]["tags"] == "swing"


def test_a_bad_ibpicker_now_is_refused_before_anything_runs(tmp_path: Path) -> None:
    """An IBPICKER_NOW that is not an ISO instant exits 2 naming the variable and the format;
    no line runs and no journal is created."""
    result = run_console(tmp_path, "/ping", now="yesterday")
    assert result.returncode == 2
    assert "IBPICKER_NOW: not an instant: expected an ISO 8601 instant" in result.stdout
    assert "Pong" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_exit_status_says_what_went_wrong(tmp_path: Path) -> None:
    """The statuses of `ibpicker fetch`: a refused command (bad input, nothing done) makes the
    status 2, as does a line that does not parse; every line still runs."""
    refused = run_console(tmp_path, "/trade open symbol:AAPL direction:long entry:-1 size:1")
    assert refused.returncode == 2
    assert "entry must be greater than zero" in refused.stdout
    unparsed = run_console(tmp_path, "/ping", "/nonsense now", "/trade note id:X text:two words")
    assert unparsed.returncode == 2
    assert "unknown command /nonsense now" in unparsed.stdout
    assert "quote values with spaces" in unparsed.stdout
    assert "Pong!" in unparsed.stdout


def test_a_command_that_failed_in_part_exits_1_as_ibpicker_fetch_does(tmp_path: Path) -> None:
    """/fetch stocks with a symbol the provider does not have, and /schedule run with no
    strategy set, answer (the reply says what failed) but the run exits 1, like
    `ibpicker fetch bars ZZZZ`; a refusal after them still makes it 2."""
    fetch = run_console(tmp_path, "/fetch stocks symbols:AAPL,ZZZZ")
    assert fetch.returncode == 1, fetch.stdout
    assert "AAPL: 502 new bars" in fetch.stdout
    assert "Failed: ZZZZ" in fetch.stdout
    run = run_console(tmp_path, "/watchlist add symbol:AAPL", "/schedule run")
    assert run.returncode == 1, run.stdout
    assert "no strategy is configured" in run.stdout
    both = run_console(tmp_path, "/schedule run", "/trade close id:NOPE1 exit:1")
    assert both.returncode == 2


def test_quit_and_exit_end_a_piped_console_with_0(tmp_path: Path) -> None:
    """As the intro says, `quit` (or `exit`) ends the console: piped, the lines after it do not
    run and the status is 0 when every line before it succeeded."""
    for word in ("quit", "exit", "/quit"):
        result = run_console(tmp_path, "/ping", word, "/nonsense after quit")
        assert result.returncode == 0, result.stdout
        assert "Pong!" in result.stdout
        assert "nonsense" not in result.stdout


def test_ping_in_the_console_says_there_is_no_gateway_and_the_time_to_answer(
    tmp_path: Path,
) -> None:
    """/ping in the console names the missing gateway and the time the answer took, in ms."""
    result = run_console(tmp_path, "/ping")
    assert result.returncode == 0
    assert re.search(r"Gateway latency +none \(local console\)", result.stdout), result.stdout
    assert re.search(r"Answered in +\d+ ms", result.stdout), result.stdout


def test_watchlist_add_takes_several_symbols_and_still_one(tmp_path: Path) -> None:
    """/watchlist add symbols:AAPL,MSFT adds both with the same note and tags, as /fetch takes
    symbols:; symbol: still works; a list with a malformed ticker adds nothing."""
    result = run_console(
        tmp_path,
        "/watchlist add symbols:AAPL,msft tags:tech",
        "/watchlist add symbol:NVDA",
        "/watchlist list",
    )
    assert result.returncode == 0, result.stdout
    assert "Added AAPL, MSFT." in result.stdout
    assert "Added NVDA." in result.stdout
    assert re.search(r"AAPL: #tech\s+MSFT: #tech\s+NVDA\s", result.stdout), result.stdout
    refused = run_console(tmp_path, "/watchlist add symbols:JPM,12$X", "/watchlist list")
    assert refused.returncode == 2
    assert "Unknown symbol 12$X" in refused.stdout
    assert "JPM" not in refused.stdout.split("Watchlist")[-1]


def test_a_symbol_without_bars_says_to_run_fetch_stocks(tmp_path: Path) -> None:
    """Analysing a watched symbol before any fetch names it as having no bars and says which
    command gets them; /status says the same."""
    result = run_console(
        tmp_path,
        "/watchlist add symbols:AAPL",
        "/analyze strategy:fixed_levels",
        "/status",
    )
    assert "AAPL: no bars: run /fetch stocks symbols:AAPL" in result.stdout, result.stdout
    assert "AAPL: no bars (/fetch stocks gets them)" in result.stdout


def test_strategy_show_wraps_and_never_cuts_in_a_narrow_console(tmp_path: Path) -> None:
    """/strategy show piped through a 40-column console: every summary line is there in full
    (wrapped; Markdown list items were cropped at the width), the lines after the entry list
    are not indented into it, and no line is wider than the console."""
    from analysis.strategy import load_strategy, summary_lines

    result = run_console(tmp_path, "/strategy show name:macd_volume_thrust", columns=40)
    assert result.returncode == 0, result.stdout
    squeezed = "".join(result.stdout.split())
    for line in summary_lines(load_strategy("macd_volume_thrust")):
        # Entry conditions ("  - ...") show as Markdown bullets.
        assert "".join(line.removeprefix("  - ").split()) in squeezed, line
    shown = result.stdout.split("Strategy macd_volume_thrust")[1].splitlines()
    assert "take profit: 7%" in [line.rstrip() for line in shown]
    assert max(len(line.rstrip()) for line in shown) <= 40
