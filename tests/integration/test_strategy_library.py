"""The strategy library as a new user meets it, through real processes on one data folder: the old
tool's six files added through the console run exactly as ``ibpicker scan --strategy FILE`` does,
``/strategies`` lists them, ``journal export`` holds each file's text and hash, and the daily
picks run a server's strategy at its version. Offline sample data, the clock pinned."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from events.analysis import SignalsGenerated
from events.journal import Journal
from tests.integration.test_console import ROOT, run_console
from tests.support.cli import cli_env

NOW = "2026-12-03T21:30:00Z"
"""A Thursday after the close: triple_ema_trend picks KO on the sample data then."""
OLD_FILES = sorted((ROOT / "tests" / "fixtures" / "compat_strategies").glob("*.yaml"))


def ibpicker(data_dir: Path, *args: str) -> str:
    """``ibpicker ARGS --data-dir D`` as a process (offline, clock at ``NOW``); its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, cwd=ROOT, env=cli_env(NOW), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def scans(data_dir: Path) -> list[SignalsGenerated]:
    """Every scan the journal holds, in order."""
    journal = Journal.open(data_dir / "journal.sqlite")
    try:
        return [
            e.event
            for page in journal.read()
            for e in page
            if isinstance(e.event, SignalsGenerated)
        ]
    finally:
        journal.close()


def test_old_files_added_in_the_console_scan_as_the_cli_scans_them(tmp_path: Path) -> None:
    """Each old file, added with /strategy add file:PATH, gives /analyze strategy:KEY the same
    picks and skips as `ibpicker scan --strategy FILE` over the same stored data (and the same
    hash); /strategies lists the six at v1; journal export holds each file's exact text and
    SHA-256; /schedule set strategy:KEY then /schedule run scans that version and posts its
    pick."""
    data = tmp_path / "data"
    ibpicker(data, "fetch", "bars")
    ibpicker(data, "fetch", "flows")
    by_file = {
        p: json.loads(ibpicker(data, "scan", "--strategy", str(p), "--json")) for p in OLD_FILES
    }
    universe = ",".join(next(iter(by_file.values()))["universe"])
    lines = [f"/strategy add file:{p}" for p in OLD_FILES]
    lines += [f"/analyze strategy:{p.stem} symbols:{universe}" for p in OLD_FILES]
    lines += [
        "/strategies",
        f"/watchlist add symbols:{universe}",
        "/schedule set strategy:triple_ema_trend channel:1 enabled:true",
        "/schedule run",
    ]
    console = run_console(data, *lines, now=NOW)
    assert console.returncode == 0, console.stdout + console.stderr
    for path in OLD_FILES:
        assert f"Added {path.stem} v1" in console.stdout
        assert f"{path.stem} v1 (this server's, added by" in console.stdout.replace("*", "")

    found = scans(data)
    cli = {s.strategy_hash: s for s in found[: len(OLD_FILES)]}
    ours = found[len(OLD_FILES) : 2 * len(OLD_FILES)]
    assert [s.strategy_name for s in ours] == [p.stem for p in OLD_FILES]
    for scan in ours:
        theirs = cli[scan.strategy_hash]  # the CLI scanned the same bytes
        assert scan.strategy_version == "v1"
        assert (scan.signals, scan.skipped, scan.universe) == (
            theirs.signals, theirs.skipped, theirs.universe
        )  # fmt: skip
    assert sum(len(s.signals) for s in ours) >= 1  # not only empty scans compared

    daily = found[-1]
    triple = next(p for p in OLD_FILES if p.stem == "triple_ema_trend")
    assert (daily.strategy_name, daily.strategy_version) == ("triple_ema_trend", "v1")
    assert daily.strategy_hash == hashlib.sha256(triple.read_bytes()).hexdigest()
    assert [s.symbol for s in daily.signals] == ["KO"]
    assert "Daily picks" in console.stdout
    assert "KO" in console.stdout.split("Daily picks")[-1]

    exported = [
        json.loads(line)
        for line in ibpicker(data, "journal", "export", "--type", "strategy_added").splitlines()
    ]
    payloads = {e["event"]["key"]: e["event"] for e in exported}
    for path in OLD_FILES:
        text = path.read_bytes()
        assert payloads[path.stem]["yaml_text"].encode() == text
        assert payloads[path.stem]["sha256"] == hashlib.sha256(text).hexdigest()
