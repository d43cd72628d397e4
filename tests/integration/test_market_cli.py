"""``ibpicker fetch bars|flows`` and ``ibpicker scan`` on a temporary data folder, offline.

Each test runs the real command line (typer's runner, in process) on the embedded default: the
sample provider, a SQLite journal and DuckDB analytics in ``tmp_path``; then reads the journal
back to check what was appended.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from analysis.strategy import load_strategy
from cli import build_app
from commands.wiring import JOURNAL_FILE
from events.analysis import SignalsGenerated
from events.audit import CommandHandled
from events.market import BarsFetched, EarningsFetched, FetchFailed, FlowAlertsFetched
from tests.support.cli import journal
from tests.support.cli import offline as offline_cli

# Fires on every symbol with enough history: RSI is always >= 0 once defined.
ALWAYS = """\
strategy:
  name: "Fixture Always"
  version: "1.0"
  description: "RSI defined: a pick on every evaluated symbol"
indicators:
  - name: "rsi_14"
    type: "RSI"
    params:
      period: 14
entry:
  conditions:
    - type: "indicator_threshold"
      indicator: "rsi_14"
      operator: "ge"
      value: 0
exit:
  stop_loss:
    type: "percentage"
    value: 5
"""


NOW = "2026-12-03T21:30:00Z"
"""The CLI's clock in these tests: a Thursday, 16:30 in New York, after the close."""


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key, no Key Vault, no data dir from the environment: the embedded default,
    with the clock pinned at ``NOW``."""
    offline_cli(monkeypatch, NOW)


def ibpicker(*args: str) -> Result:
    """Run ``ibpicker ARGS`` in process."""
    return CliRunner().invoke(build_app(), list(args))


def as_json(result: Result) -> Any:
    """The JSON document a ``--json`` run printed (the whole stdout)."""
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def tags(data_dir: Path) -> list[str]:
    """The tags of every event, in order."""
    return [env.tag for env in journal(data_dir)]


def test_fetch_bars_twice_second_run_is_up_to_date_and_appends_no_bars(tmp_path: Path) -> None:
    """The first fetch appends 502 bars per symbol from the sample source (the sessions of the two
    years to 2026-12-03, pinned); the second says "up to date" per symbol and appends only its
    audit event."""
    first = ibpicker("fetch", "bars", "AAPL,MSFT", "--data-dir", str(tmp_path), "--json")
    assert first.exit_code == 0, first.output
    doc = as_json(first)
    assert doc["source"] == "sample"
    bars = [o for o in doc["outcomes"] if o["kind"] == "bars"]
    assert [(o["symbol"], o["status"], o["count"]) for o in bars] == [
        ("AAPL", "fetched", 502),
        ("MSFT", "fetched", 502),
    ]
    before = journal(tmp_path)
    assert [e.tag for e in before].count("bars_fetched") == 2
    assert "earnings_fetched" in [e.tag for e in before]  # what --skip-earnings-within reads

    second = ibpicker("fetch", "bars", "AAPL", "MSFT", "--data-dir", str(tmp_path))
    assert second.exit_code == 0, second.output
    assert "Source: sample (offline sample data" in second.stdout
    assert second.stdout.count("up to date") >= 2
    after = journal(tmp_path)
    assert len(after) == len(before) + 1
    audit = after[-1].event
    assert isinstance(audit, CommandHandled)
    assert (audit.name, audit.outcome) == ("fetch stocks", "ok")
    stored_bars = sum(len(e.event.bars) for e in after if isinstance(e.event, BarsFetched))
    assert stored_bars == 1004


def test_fetch_flows_appends_new_alerts_only_once(tmp_path: Path) -> None:
    """Flow alerts are appended with the sample source; fetching again appends no alert twice."""
    first = ibpicker(
        "fetch", "flows", "AAPL", "MSFT", "NVDA", "--data-dir", str(tmp_path), "--json"
    )
    assert first.exit_code == 0, first.output
    doc = as_json(first)
    assert doc["source"] == "sample"
    fetched = sum(o["count"] for o in doc["outcomes"] if o["status"] == "fetched")
    assert fetched > 0
    second = ibpicker("fetch", "flows", "AAPL,MSFT,NVDA", "--data-dir", str(tmp_path), "--json")
    assert second.exit_code == 0, second.output
    assert {o["status"] for o in as_json(second)["outcomes"]} == {"up_to_date"}
    alerts = [
        (a.option_chain, a.created_at)
        for e in journal(tmp_path)
        if isinstance(e.event, FlowAlertsFetched)
        for a in e.event.alerts
    ]
    assert len(alerts) == fetched == len(set(alerts))


def test_fetch_of_an_unknown_symbol_records_the_failure_and_exits_1(tmp_path: Path) -> None:
    """A symbol the provider does not know fails (exit 1, fetch_failed appended); the others are
    fetched."""
    result = ibpicker("fetch", "bars", "AAPL", "ZZZZ", "--data-dir", str(tmp_path), "--json")
    assert result.exit_code == 1, result.output
    status = {o["symbol"]: o["status"] for o in as_json(result)["outcomes"] if o["kind"] == "bars"}
    assert status == {"AAPL": "fetched", "ZZZZ": "failed"}
    failures = [e.event for e in journal(tmp_path) if isinstance(e.event, FetchFailed)]
    assert any(f.symbols == ["ZZZZ"] and f.source == "sample" for f in failures)


def test_scan_with_a_file_records_its_name_and_hash_and_reruns_identically(
    tmp_path: Path,
) -> None:
    """scan --strategy FILE appends signals_generated with the file's name and sha256; a rerun over
    the same journal gives the same signals."""
    data = str(tmp_path / "data")
    assert ibpicker("fetch", "bars", "AAPL,MSFT,SPY", "--data-dir", data).exit_code == 0
    path = tmp_path / "always.yaml"
    path.write_text(ALWAYS)
    runs = [ibpicker("scan", "--strategy", str(path), "--data-dir", data, "--json") for _ in "12"]
    for run in runs:
        assert run.exit_code == 0, run.output
    first, second = (as_json(r) for r in runs)
    assert [s["symbol"] for s in first["signals"]] == ["AAPL", "MSFT", "SPY"]
    assert first["signals"] == second["signals"]
    assert first["strategy_file"] == str(path)
    scans = [e.event for e in journal(Path(data)) if isinstance(e.event, SignalsGenerated)]
    assert len(scans) == 2
    assert {(s.strategy_name, s.strategy_hash) for s in scans} == {
        ("Fixture Always", hashlib.sha256(ALWAYS.encode()).hexdigest())
    }


def test_scan_with_a_shipped_strategy_records_its_hash_and_says_its_source(
    tmp_path: Path,
) -> None:
    """scan --strategy KEY over every stored symbol names the bar source and records the packaged
    file's hash; the audit event follows the scan in the same command."""
    assert ibpicker("fetch", "bars", "AAPL,NVDA", "--data-dir", str(tmp_path)).exit_code == 0
    result = ibpicker("scan", "--strategy", "macd_volume_thrust", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "fetched from sample" in result.stdout
    assert "MACD Volume Thrust" in result.stdout
    events = journal(tmp_path)
    scan, audit = events[-2].event, events[-1].event
    assert isinstance(scan, SignalsGenerated)
    assert isinstance(audit, CommandHandled)
    assert scan.universe == ["AAPL", "NVDA"]
    assert scan.strategy_hash == load_strategy("macd_volume_thrust").sha256
    assert (audit.name, audit.outcome) == ("analyze", "ok")
    assert events[-1].command_id == events[-2].command_id


def test_scan_skips_symbols_with_earnings_within_n_days(tmp_path: Path) -> None:
    """--skip-earnings-within skips a stock whose fetched next earnings date is near, not an ETF
    (the sample data give ETFs no earnings)."""
    assert ibpicker("fetch", "bars", "AAPL,SPY", "--data-dir", str(tmp_path)).exit_code == 0
    next_day = {
        e.symbol: e.day
        for env in journal(tmp_path)
        if isinstance(env.event, EarningsFetched)
        for e in env.event.entries
    }
    assert set(next_day) == {"AAPL"}
    path = tmp_path / "always.yaml"
    path.write_text(ALWAYS)
    result = ibpicker(
        "scan", "--strategy", str(path), "--skip-earnings-within", "120",
        "--data-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = as_json(result)
    assert [s["symbol"] for s in doc["signals"]] == ["SPY"]
    assert doc["skipped"] == [
        {"symbol": "AAPL", "reason": f"earnings on {next_day['AAPL']} (within 120 days)"}
    ]


def test_unknown_strategy_exits_2_listing_the_known_ones_and_appends_only_the_audit(
    tmp_path: Path,
) -> None:
    """An unknown strategy name is refused by the service: exit 2, the known names listed, and
    nothing appended but a rejected command_handled."""
    assert ibpicker("fetch", "bars", "AAPL", "--data-dir", str(tmp_path)).exit_code == 0
    before = tags(tmp_path)
    result = ibpicker("scan", "--strategy", "nope", "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "Unknown strategy nope" in result.stderr
    assert "macd_volume_thrust" in result.stderr
    after = journal(tmp_path)
    assert [e.tag for e in after] == [*before, "command_handled"]
    audit = after[-1].event
    assert isinstance(audit, CommandHandled)
    assert (audit.name, audit.outcome) == ("analyze", "rejected")


def test_an_invalid_strategy_file_exits_2_naming_file_and_field_and_appends_nothing(
    tmp_path: Path,
) -> None:
    """A strategy file that does not validate is refused before the service: exit 2, the file and
    the field named, the journal untouched."""
    data = tmp_path / "data"
    assert ibpicker("fetch", "bars", "AAPL", "--data-dir", str(data)).exit_code == 0
    before = tags(data)
    bad = tmp_path / "bad.yaml"
    bad.write_text(ALWAYS.replace('operator: "ge"', 'operator: "above"'))
    result = ibpicker("scan", "--strategy", str(bad), "--data-dir", str(data))
    assert result.exit_code == 2
    assert f"{bad}: entry.conditions[0].operator: unknown operator 'above'" in result.stderr
    assert tags(data) == before


def test_the_same_command_id_twice_appends_nothing_the_second_time(tmp_path: Path) -> None:
    """--command-id makes a retry idempotent: the second run appends nothing and shows the scan the
    journal already holds."""
    data = str(tmp_path / "data")
    assert ibpicker("fetch", "bars", "AAPL", "--data-dir", data).exit_code == 0
    path = tmp_path / "always.yaml"
    path.write_text(ALWAYS)
    args = (
        "scan",
        "--strategy",
        str(path),
        "--data-dir",
        data,
        "--command-id",
        "retry-1",
        "--json",
    )
    first, second = ibpicker(*args), ibpicker(*args)
    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    assert as_json(first)["appended"] == 2
    assert as_json(second)["appended"] == 0
    assert as_json(second)["scan_id"] == as_json(first)["scan_id"]
    assert tags(Path(data)).count("signals_generated") == 1


def test_scan_without_stored_bars_says_what_to_do_and_exits_2(tmp_path: Path) -> None:
    """Scanning an empty data folder exits 2 and says to fetch bars first."""
    result = ibpicker("scan", "--strategy", "macd_volume_thrust", "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "ibpicker fetch bars" in result.stderr


def test_fetch_without_symbols_covers_the_sample_universe(tmp_path: Path) -> None:
    """With the sample data and no SYMBOLS, a fetch asks for every sample symbol."""
    from fetchers.sample import SYMBOLS

    result = ibpicker("fetch", "flows", "--data-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert [o["symbol"] for o in as_json(result)["outcomes"]] == list(SYMBOLS)


def test_a_malformed_ticker_is_refused_with_exit_2_and_only_the_audit(tmp_path: Path) -> None:
    """A word that is not a ticker is refused by the service before any fetch: exit 2, the
    reason on stderr, a rejected command_handled the only event."""
    result = ibpicker("fetch", "bars", "AAPL", "12$X", "--data-dir", str(tmp_path))
    assert result.exit_code == 2
    assert "12$X" in result.stderr
    events = journal(tmp_path)
    assert [e.tag for e in events] == ["command_handled"]
    audit = events[0].event
    assert isinstance(audit, CommandHandled)
    assert audit.outcome == "rejected"


def test_the_cli_fetches_more_symbols_than_a_chat_member_may_type(tmp_path: Path) -> None:
    """The chat limit on typed symbols does not apply to the CLI: 61 symbols are fetched (in
    batches), every one listed once, the unknown ones as failed (exit 1)."""
    unknown = [f"ZZ{i}" for i in range(60)]
    result = ibpicker("fetch", "bars", "AAPL", *unknown, "--data-dir", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert "At most" not in result.output
    assert "61 symbols (0 up to date, 60 failed)" in result.stdout
    assert sum(line.startswith("│ ZZ") for line in result.stdout.splitlines()) == 60
    bars = [e.event for e in journal(tmp_path) if isinstance(e.event, BarsFetched)]
    assert [b.symbol for b in bars] == ["AAPL"]


@pytest.mark.parametrize(
    "command",
    [("fetch", "bars", "AAPL"), ("fetch", "flows"), ("scan", "--strategy", "rsi_flow"), ("bot",)],
)
def test_a_bad_ibpicker_now_is_refused_with_exit_2_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    """Every CLI command with a notion of now refuses an IBPICKER_NOW without a UTC offset: exit
    2, a message naming the variable and the expected format, and no journal created."""
    monkeypatch.setenv("IBPICKER_NOW", "2026-12-03T21:30:00")
    result = ibpicker(*command, "--data-dir", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "IBPICKER_NOW: no UTC offset: expected an ISO 8601 instant with a UTC offset" in (
        result.output
    )
    assert not (tmp_path / JOURNAL_FILE).exists()


def test_fetch_bars_with_the_clock_pinned_more_than_a_year_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 2029-03-15 17:30 New York time (beyond the calendar a process built by default a year
    ahead, which ended the fetch in a ValueError) the sample bars run to that Thursday: the last
    504 sessions (two years' worth, the history a first fetch asks for)."""
    monkeypatch.setenv("IBPICKER_NOW", "2029-03-15T21:30:00Z")
    result = ibpicker("fetch", "bars", "AAPL", "--data-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    bars = [o for o in as_json(result)["outcomes"] if o["kind"] == "bars"]
    assert [(o["status"], o["count"], o["detail"]) for o in bars] == [
        ("fetched", 504, "2027-03-16 to 2029-03-15")
    ]
