"""``ibpicker journal …``: each command on a generated journal, exit codes, JSON output."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from events.journal import Journal
from projections.analytics import Analytics
from projections.cli import register
from tests.unit.projections.conftest import add_commands


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    """A data folder with a journal of 6 commands (14 events) and no analytics yet."""
    j = Journal.open(tmp_path / "journal.sqlite")
    add_commands(j, 6)
    j.close()
    return str(tmp_path)


def run(*args: str) -> tuple[int, str, str]:
    """Invoke the journal group; return exit code, stdout and stderr."""
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, ["journal", *args])
    return result.exit_code, result.stdout, result.stderr


def test_status_before_and_after_rebuild(data_dir: str) -> None:
    """status shows the head, then per-projection position, lag 0 and rows after a rebuild."""
    code, out, _ = run("status", "--data-dir", data_dir, "--json")
    assert code == 0
    assert json.loads(out)["head"] == 14
    assert json.loads(out)["projections"] == []
    assert run("rebuild", "--data-dir", data_dir)[0] == 0
    status = json.loads(run("status", "--data-dir", data_dir, "--json")[1])
    by_name = {p["name"]: p for p in status["projections"]}
    assert by_name["commands"]["position"] == 14
    assert by_name["commands"]["lag"] == 0
    assert by_name["commands"]["rows"] == 6
    assert by_name["commands"]["rebuilt_at"] is not None


def test_status_says_when_analytics_is_busy(data_dir: str) -> None:
    """With the analytics file held by another process, status says so and still shows the head."""
    import multiprocessing

    ready = multiprocessing.get_context("spawn").Event()
    release = multiprocessing.get_context("spawn").Event()
    holder = multiprocessing.get_context("spawn").Process(
        target=_hold, args=(str(Path(data_dir) / "analytics.duckdb"), ready, release)
    )
    holder.start()
    try:
        assert ready.wait(30)
        code, out, _ = run("status", "--data-dir", data_dir, "--json")
        status = json.loads(out)
        assert code == 0
        assert status["head"] == 14
        assert status["analytics"].startswith("busy")
        code, out, _ = run("verify", "--data-dir", data_dir, "--json")
        report = json.loads(out)
        assert code == 0
        assert report["analytics"].startswith("busy")
        assert report["events_checked"] == 14
    finally:
        release.set()
        holder.join(30)


def _hold(path: str, ready: object, release: object) -> None:
    """Child process: hold the analytics file open for writing until told to let go."""
    live = Analytics(Path(path))
    ready.set()  # type: ignore[attr-defined]
    release.wait(30)  # type: ignore[attr-defined]
    live.close()


def test_tail_prints_the_last_events_and_filters_by_tag(data_dir: str) -> None:
    """tail -n 3 prints three lines ending at the head; --type keeps only that tag."""
    code, out, _ = run("tail", "--data-dir", data_dir, "-n", "3")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 3
    assert lines[-1].split()[0] == "14"
    code, out, _ = run(
        "tail", "--data-dir", data_dir, "-n", "10", "--type", "trade_opened", "--json"
    )
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [e["tag"] for e in events] == ["trade_opened", "trade_opened"]


def test_tail_summarises_each_event_on_one_line_and_full_prints_payloads(
    data_dir: str,
) -> None:
    """By default each event is one short summary line (lists counted, not dumped: a
    bars_fetched says how many bars); --full prints the whole payload instead."""
    code, out, _ = run("tail", "--data-dir", data_dir, "-n", "14")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 14
    bars = next(line for line in lines if " bars_fetched " in line)
    assert "symbol=S" in bars
    assert re.search(r"bars: \d+ bars?\b", bars), bars
    assert '"bars":[[' not in out
    assert max(len(line) for line in lines) < 200
    trade = next(line for line in lines if " trade_opened " in line)
    assert "symbol=S1" in trade
    assert "entry=10.5" in trade
    code, full, _ = run("tail", "--data-dir", data_dir, "-n", "14", "--full")
    assert code == 0
    assert len(full.strip().splitlines()) == 14
    assert '"bars":[[' in full


def test_show_prints_envelope_and_payload(data_dir: str) -> None:
    """show 1 prints the envelope and the payload; --json parses."""
    code, out, _ = run("show", "1", "--data-dir", data_dir)
    assert code == 0
    assert "cmd-0" in out
    assert '"name": "c0"' in out
    event = json.loads(run("show", "3", "--data-dir", data_dir, "--json")[1])
    assert event["position"] == 3
    assert event["tag"] == "trade_opened"


def test_verify_sound_journal_exits_zero(data_dir: str) -> None:
    """verify on a sound journal with rebuilt projections exits 0 with every projection ok."""
    run("rebuild", "--data-dir", data_dir)
    code, out, _ = run("verify", "--data-dir", data_dir, "--json")
    report = json.loads(out)
    assert code == 0
    assert report["sound"]
    assert {p["outcome"] for p in report["projections"]} == {"ok"}


def test_verify_names_a_projection_that_differs(data_dir: str) -> None:
    """A projection table edited behind the runner's back is reported with its table, exit 1."""
    run("rebuild", "--data-dir", data_dir)
    live = Analytics(Path(data_dir) / "analytics.duckdb")
    with live.cursor() as cur:
        cur.execute("UPDATE commands SET name = 'tampered' WHERE position = 1")
    live.close()
    code, out, _ = run("verify", "--data-dir", data_dir, "--json")
    report = json.loads(out)
    assert code == 1
    commands = next(p for p in report["projections"] if p["name"] == "commands")
    assert commands["outcome"].startswith("differs: table commands: 1 rows not in a fresh rebuild")


def test_rebuild_one_projection_dry_run_and_to(data_dir: str) -> None:
    """rebuild -p NAME --to N --dry-run reports projection and position; --json parses."""
    code, out, _ = run(
        "rebuild", "--data-dir", data_dir, "-p", "bars", "--to", "5", "--dry-run", "--json"
    )
    report = json.loads(out)
    assert code == 0
    assert report["projections"] == ["bars"]
    assert report["to_position"] == 5
    assert not report["swapped"]
    assert not (Path(data_dir) / "analytics.duckdb").exists()


def test_export_jsonl_and_csv(data_dir: str, tmp_path: Path) -> None:
    """export writes JSON lines to stdout and CSV to --output, honouring --from/--to/--type."""
    code, out, _ = run(
        "export", "--data-dir", data_dir, "--format", "jsonl", "--from", "2", "--to", "4"
    )
    assert code == 0
    assert [json.loads(line)["position"] for line in out.splitlines()] == [2, 3, 4]
    target = tmp_path / "out.csv"
    code, _, _ = run(
        "export", "--data-dir", data_dir, "--format", "csv", "--type", "command_handled",
        "--output", str(target),
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert code == 0
    assert len(rows) == 6
    assert {r["tag"] for r in rows} == {"command_handled"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rebuild", "-p", "nope"], "unknown projection nope; valid: journal_events, commands"),
        (["rebuild", "--to", "99"], "--to 99 is out of range (the journal holds 1..14)"),
        (["show", "99"], "position 99 is out of range (the journal holds 1..14)"),
        (["show", "0"], "position 0 is out of range"),
        (["tail", "--type", "nope"], "unknown tag 'nope'; known tags: backtest_completed, bars_"),
        (["export", "--type", "nope"], "unknown tag 'nope'"),
        (["export", "--from", "10", "--to", "99"], "range 10..99 is out of range"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    data_dir: str, args: list[str], message: str
) -> None:
    """Bad input exits with code 2 and a one-line message naming what is valid, no traceback."""
    code, out, err = run(*args, "--data-dir", data_dir)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_missing_journal_exits_2(tmp_path: Path) -> None:
    """A data folder without a journal is a clear error, not an empty journal created by verify."""
    code, _, err = run("verify", "--data-dir", str(tmp_path))
    assert code == 2
    assert "no journal at" in err
    assert not (tmp_path / "journal.sqlite").exists()
