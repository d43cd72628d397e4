"""``ibpicker strategy list|show|validate`` through the real command line, on the shipped
strategies and on files written by the tests."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from analysis.strategy import list_strategies
from cli import build_app

SHIPPED = resources.files("analysis") / "strategies"


def ibpicker(*args: str) -> Result:
    """Run ``ibpicker ARGS`` in process."""
    return CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "250"})


def test_list_gives_name_file_description_tags_and_indicators_of_each() -> None:
    """strategy list --json has every shipped strategy with its file, tags and indicators; the
    table shows each key and indicator."""
    listed = json.loads(ibpicker("strategy", "list", "--json").stdout)
    shipped = list_strategies()
    assert [s["key"] for s in listed] == [s.key for s in shipped]
    pullback = next(s for s in listed if s["key"] == "trend_pullback_flow")
    assert pullback["name"] == "Trend Pullback with Flow"
    assert pullback["source"] == "analysis/strategies/trend_pullback_flow.yaml"
    assert "pullback" in pullback["tags"]
    assert pullback["indicators"] == {
        "sma_100": "SMA(100)",
        "rsi_10": "RSI(10)",
        "atr_10": "ATR(10)",
    }
    table = ibpicker("strategy", "list")
    assert table.exit_code == 0
    for s in shipped:
        assert s.key in table.stdout
    assert "rsi_10=RSI(10)" in table.stdout


def test_show_prints_the_summary_then_the_yaml_exactly() -> None:
    """strategy show KEY prints the readable summary and, piped, the file's YAML byte for byte."""
    result = ibpicker("strategy", "show", "macd_volume_thrust")
    assert result.exit_code == 0
    assert result.stdout.startswith("MACD Volume Thrust v1.0.0: ")
    assert "risk: aggressive" in result.stdout
    text = (SHIPPED / "macd_volume_thrust.yaml").read_text()
    assert result.stdout.endswith(text)


def test_show_json_carries_the_yaml() -> None:
    """strategy show --json has the summary lines and the YAML text."""
    doc = json.loads(ibpicker("strategy", "show", "fixed_levels", "--json").stdout)
    assert doc["yaml"] == (SHIPPED / "fixed_levels.yaml").read_text()
    assert doc["summary"][0].startswith("Fixed Levels v1.0.0")


def test_validate_names_file_field_and_problem_of_every_error_and_exits_1(tmp_path: Path) -> None:
    """validate checks every file given: OK for good ones, each problem of each bad one as
    file: field: problem, and exit 1."""
    good = tmp_path / "good.yaml"
    good.write_text((SHIPPED / "macd_volume_thrust.yaml").read_text())
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        (SHIPPED / "macd_volume_thrust.yaml")
        .read_text()
        .replace('type: "EMA"', 'type: "EMX"')
        .replace('profile: "aggressive"', 'profile: "reckless"')
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("strategy: [unclosed\n")
    result = ibpicker("strategy", "validate", str(good), str(typo), str(broken))
    assert result.exit_code == 1
    out = result.stdout
    assert f"{good}: OK (MACD Volume Thrust" in out
    assert f"{typo}: indicators[1].type: unknown indicator type 'EMX'" in out
    assert f"{typo}: risk.profile: unknown risk profile 'reckless'" in out
    assert f"{broken}: line " in out
    assert "invalid YAML" in out


def test_validate_of_shipped_files_exits_0() -> None:
    """Every shipped strategy file validates by path: exit 0."""
    with resources.as_file(SHIPPED) as folder:
        files = sorted(str(p) for p in Path(folder).glob("*.yaml"))
        result = ibpicker("strategy", "validate", *files)
    assert result.exit_code == 0, result.stdout
    assert result.stdout.count(": OK (") == len(files)


def test_show_of_an_unknown_key_exits_2_listing_the_shipped_ones() -> None:
    """An unknown strategy key is an input error (exit 2) naming every shipped key."""
    result = ibpicker("strategy", "show", "nope")
    assert result.exit_code == 2
    for s in list_strategies():
        assert s.key in result.stderr


def _piped(*args: str, columns: int) -> str:
    """``ibpicker ARGS`` in a real process, its output piped, in a terminal ``columns`` wide."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", *args],
        capture_output=True, text=True, env=env, check=True, timeout=60,
    ).stdout  # fmt: skip


def _squeezed(text: str) -> str:
    """``text`` without the table's frame characters and whitespace, for "is everything there"."""
    return "".join(c for c in text if not c.isspace() and c not in "│┃┏┓┗┛┡┩└┘━─┳┻╇┼┬┴╋")


def test_list_piped_gives_every_value_whole() -> None:
    """strategy list piped through 60 columns: a block per strategy, every key, description,
    tag list, indicator list and file whole on its line (nothing cut with an ellipsis)."""
    out = _piped("strategy", "list", columns=60)
    assert "…" not in out
    lines = out.splitlines()
    for s in list_strategies():
        assert f"{s.key}: {s.name} v{s.spec.strategy.version}" in lines
        assert f"  description: {s.spec.strategy.description}" in lines
        assert f"  file: {s.source}" in lines


def test_list_in_a_narrow_terminal_folds_every_cell_and_cuts_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In a 60-column terminal the table folds cells over lines: reading each column top to
    bottom gives its header and every value, whole (no "…")."""
    import io

    from rich.console import Console

    import analysis.cli as strategy_cli

    buf = io.StringIO()
    console = Console(file=buf, width=60, force_terminal=True, color_system=None, soft_wrap=True)
    monkeypatch.setattr(strategy_cli, "_out", console)
    strategy_cli.list_command(as_json=False)
    out = buf.getvalue()
    assert "…" not in out
    rows = [line.strip("│┃").split("│" if "│" in line else "┃") for line in out.splitlines()]
    rows = [r for r in rows if len(r) == 6]
    columns = ["".join("".join(r[i].split()) for r in rows) for i in range(6)]
    shipped = list_strategies()
    for i, header in enumerate(("key", "name", "description", "tags", "indicators", "file")):
        values = [value for s in shipped for name, value in strategy_cli._list_values(s)
                  if name == header]  # fmt: skip
        assert columns[i] == header + "".join("".join(v.split()) for v in values)


def test_show_wraps_and_never_cuts_in_a_narrow_piped_terminal() -> None:
    """strategy show 40 columns wide, piped: every summary line is there in full."""
    from analysis.strategy import load_strategy, summary_lines

    out = _piped("strategy", "show", "macd_volume_thrust", columns=40)
    squeezed = _squeezed(out)
    for line in summary_lines(load_strategy("macd_volume_thrust")):
        assert "".join(line.split()) in squeezed, line
