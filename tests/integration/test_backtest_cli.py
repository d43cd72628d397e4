"""``ibpicker backtest run|walk-forward|monte-carlo|compare`` on a temporary data folder, offline.

The real command line (typer's runner, in process) on the embedded default: the offline sample
data fetched with ``ibpicker fetch`` into ``tmp_path``, the clock pinned with ``IBPICKER_NOW``;
then the journal is read back to check what was appended.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli import build_app
from commands.journal.chart_worker import WORKER
from events.audit import CommandHandled
from events.backtests import BacktestCompleted
from tests.support.cli import journal
from tests.support.cli import offline as offline_cli

NOW = "2026-12-03T21:30:00Z"
"""A Thursday, 16:30 in New York, after the close: the sample data end on 2026-12-03."""
SYMBOLS = "AAPL,MSFT,NVDA"
STRATEGY = "macd_volume_thrust"
TRADE_FIELDS = {"symbol", "direction", "entry_date", "entry_price", "exit_date", "exit_price",
                "exit_reason", "pnl", "r"}  # fmt: skip
METRICS = {"cagr", "sharpe", "sortino", "max_drawdown", "calmar", "win_rate", "profit_factor",
           "expectancy", "trades"}  # fmt: skip


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider key, no Key Vault, no data dir from the environment: the embedded default,
    with the clock pinned at ``NOW``."""
    offline_cli(monkeypatch, NOW)


@pytest.fixture(scope="module", autouse=True)
def chart_worker_stopped() -> Any:
    """The chart worker a run without --json starts is stopped at the end of the module."""
    yield
    WORKER.stop()


def ibpicker(*args: str) -> Result:
    """Run ``ibpicker ARGS`` in process."""
    return CliRunner().invoke(build_app(), list(args))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder holding the sample bars (and earnings dates) and flow alerts of
    ``SYMBOLS``, fetched as a member would."""
    for kind in ("bars", "flows"):
        fetched = ibpicker("fetch", kind, SYMBOLS, "--data-dir", str(tmp_path))
        assert fetched.exit_code == 0, fetched.output
    return tmp_path


def backtest(data_dir: Path, *args: str) -> Result:
    """``ibpicker backtest ARGS --data-dir DATA_DIR``."""
    return ibpicker("backtest", *args, "--data-dir", str(data_dir))


def test_json_is_one_object_with_trades_open_positions_equity_and_metrics(data: Path) -> None:
    """``backtest run --json`` prints one object: trades with the issue's fields, open positions,
    the daily equity as (date, value) within the inclusive session range, and the figures; one
    ``backtest_completed`` is appended with the data's journal position."""
    result = backtest(data, "run", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                      "--from", "2026-01-02", "--to", "2026-11-30", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"trades", "open_positions", "equity", "metrics"} <= set(doc)
    assert doc["trades"]
    assert all(set(t) >= TRADE_FIELDS for t in doc["trades"])
    assert isinstance(doc["open_positions"], list)
    assert doc["equity"][0]["date"] == "2026-01-02"
    assert doc["equity"][-1]["date"] == "2026-11-30"
    assert all(set(p) == {"date", "value"} for p in doc["equity"])
    assert set(doc["metrics"]) >= METRICS
    assert doc["metrics"]["trades"] == len(doc["trades"])
    done = [e.event for e in journal(data) if isinstance(e.event, BacktestCompleted)]
    assert len(done) == 1
    assert done[0].data_position == doc["data_position"]
    assert done[0].strategy_hash == doc["strategy"]["sha256"]


def test_a_run_repeats_byte_for_byte_at_its_journal_position(data: Path) -> None:
    """The same inputs ``--at`` the same position print identical bytes, even after a new fetch
    stored the bars again at a later position."""
    first = backtest(data, "run", "--strategy", STRATEGY, "--symbols", SYMBOLS, "--json")
    assert first.exit_code == 0, first.output
    position = json.loads(first.stdout)["data_position"]
    refetch = ibpicker("fetch", "flows", "AAPL", "--data-dir", str(data))
    assert refetch.exit_code == 0, refetch.output
    again = backtest(data, "run", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                     "--at", str(position), "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout


def test_a_retried_command_id_prints_the_same_result_and_appends_nothing(data: Path) -> None:
    """The same ``--command-id`` again prints the same document (computed again at the position
    the first run read) and appends nothing."""
    args = ("run", "--strategy", STRATEGY, "--symbols", SYMBOLS, "--command-id", "bt-1", "--json")
    first = backtest(data, *args)
    assert first.exit_code == 0, first.output
    appended = len(journal(data))
    again = backtest(data, *args)
    assert again.exit_code == 0, again.output
    assert again.stdout == first.stdout
    assert len(journal(data)) == appended


def test_walk_forward_monte_carlo_and_compare_print_their_parts(data: Path) -> None:
    """Each mode runs from the command line: walk-forward windows, Monte Carlo percentiles, and
    compare's one part per strategy."""
    wf = backtest(data, "walk-forward", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                  "--in-sample", "60", "--out-of-sample", "30", "--json")  # fmt: skip
    assert wf.exit_code == 0, wf.output
    assert json.loads(wf.stdout)["walk_forward"]["windows"]
    mc = backtest(data, "monte-carlo", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                  "--resamples", "100", "--seed", "3", "--json")  # fmt: skip
    assert mc.exit_code == 0, mc.output
    assert json.loads(mc.stdout)["monte_carlo"]["runs"] == 100
    cmp = backtest(data, "compare", "--strategy", STRATEGY, "--strategy", "trend_pullback_flow",
                   "--symbols", SYMBOLS, "--json")  # fmt: skip
    assert cmp.exit_code == 0, cmp.output
    keys = [part["strategy"]["key"] for part in json.loads(cmp.stdout)["strategies"]]
    assert keys == [STRATEGY, "trend_pullback_flow"]


def test_a_terminal_run_prints_the_figures_and_saves_the_chart(data: Path) -> None:
    """Without ``--json``: the figures as a table, the last trades, and the chart and trades CSV
    saved in the data folder."""
    result = backtest(data, "run", "--strategy", STRATEGY, "--symbols", SYMBOLS)
    assert result.exit_code == 0, result.output
    assert "Sharpe" in result.stdout
    assert "Max drawdown" in result.stdout
    saved = sorted(p.suffix for p in (data / "backtests").iterdir())
    assert saved == [".csv", ".png"]


def test_a_strategy_file_runs_and_records_its_hash(data: Path) -> None:
    """``--strategy FILE`` runs that file; the event names it by path and its sha256."""
    import hashlib

    from analysis.strategy import load_strategy

    source = load_strategy(STRATEGY)
    path = data / "mine.yaml"
    path.write_text(source.text)
    result = backtest(data, "run", "--strategy", str(path), "--symbols", SYMBOLS, "--json")
    assert result.exit_code == 0, result.output
    done = [e.event for e in journal(data) if isinstance(e.event, BacktestCompleted)]
    assert done[-1].strategy_key == str(path)
    assert done[-1].strategy_hash == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("run", "--strategy", "nope"), "Known strategies: "),
        (("walk", "--strategy", STRATEGY), "'run', 'walk-forward', 'monte-carlo', 'compare'"),
        (("run", "--strategy", STRATEGY, "--capital", "0"), "capital must be more than 0"),
        (("run", "--strategy", STRATEGY, "--from", "03/01/2026"), "YYYY-MM-DD"),
        (("run", "--strategy", STRATEGY, "--from", "2019-01-02", "--to", "2019-02-01"), "No bars"),
        (("run", "--strategy", STRATEGY, "--from", "2024-12-10"), "indicators need 34 bars"),
    ],
)
def test_bad_input_exits_2_naming_what_is_valid(
    data: Path, args: tuple[str, ...], says: str
) -> None:
    """Bad input exits 2 with a message naming the problem and the valid values; nothing but
    the audit event is appended (nothing at all when the command line itself is refused)."""
    before = journal(data)
    result = backtest(data, *args, "--symbols", SYMBOLS)
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    added = journal(data)[len(before) :]
    assert all(isinstance(e.event, CommandHandled) for e in added)
    assert len(added) <= 1


def test_an_empty_data_folder_says_to_fetch_first(tmp_path: Path) -> None:
    """With no bars stored, the command exits 2 and says to fetch first."""
    result = backtest(tmp_path, "run", "--strategy", STRATEGY)
    assert result.exit_code == 2
    assert "fetch some first" in result.output


def test_the_side_rate_and_earnings_filter_flags_reach_the_run_and_its_record(data: Path) -> None:
    """``--direction short --risk-free-rate 0.04 --skip-earnings-within 5 --earnings-lead 3
    --fraction 0.1 --max-positions 2``: every trade is a short, and ``backtest_completed``
    records each setting (the repeat needs them); ``monte-carlo --ruin 0.25`` sets the ruin
    threshold. Bad values exit 2."""
    result = backtest(data, "run", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                      "--from", "2026-01-02", "--direction", "short", "--risk-free-rate", "0.04",
                      "--skip-earnings-within", "5", "--earnings-lead", "3", "--fraction", "0.1",
                      "--max-positions", "2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {t["direction"] for t in doc["trades"]} == {"short"}
    assert doc["parameters"]["options"] == {
        "direction": "short", "risk_free_rate": "0.04", "skip_earnings_within": "5",
        "earnings_lead": "3", "fraction": "0.1", "max_positions": "2",
    }  # fmt: skip
    mc = backtest(data, "monte-carlo", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                  "--resamples", "20", "--ruin", "0.25", "--json")  # fmt: skip
    assert mc.exit_code == 0, mc.output
    assert json.loads(mc.stdout)["monte_carlo"]["ruin_drawdown"] == 0.25
    bad = backtest(data, "run", "--strategy", STRATEGY, "--direction", "sideways")
    assert bad.exit_code == 2


def test_a_terminal_monte_carlo_saves_the_cone_beside_the_chart(data: Path) -> None:
    """``monte-carlo`` on a terminal saves the equity chart, the trades and the equity cone as
    three files named by the run (the cone does not overwrite the chart)."""
    result = backtest(data, "monte-carlo", "--strategy", STRATEGY, "--symbols", SYMBOLS,
                      "--resamples", "50", "--command-id", "mc-1")  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = sorted(p.name for p in (data / "backtests").iterdir())
    assert saved == ["mc-1-cone.png", "mc-1.csv", "mc-1.png"]
    assert all((data / "backtests" / n).read_bytes() for n in saved)
