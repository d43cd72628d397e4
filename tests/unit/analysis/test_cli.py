"""The ``ibpicker strategy`` commands: list, show, validate, with their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli import build_app

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def test_list_names_every_shipped_strategy() -> None:
    """strategy list --json gives each packaged strategy with its hash."""
    result = runner.invoke(build_app(), ["strategy", "list", "--json"])
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert "trend_pullback_flow" in {s["key"] for s in listed}
    assert all(len(s["sha256"]) == 64 for s in listed)


def test_show_describes_a_fixture_file() -> None:
    """strategy show FILE prints the conditions, the exits with their ATR, and the risk."""
    result = runner.invoke(build_app(), ["strategy", "show", str(FIXTURES / "golden_cross.yaml")])
    assert result.exit_code == 0
    assert "  - sma_3 cross_above sma_8" in result.stdout
    assert "stop loss: 1 × atr_3 (ATR(3))" in result.stdout
    assert "risk: moderate, 1% of equity per trade, min reward:risk 0.5" in result.stdout


def test_show_of_an_unknown_name_exits_2_listing_valid_names() -> None:
    """An unknown strategy name is an input error (exit 2) naming the shipped ones."""
    result = runner.invoke(build_app(), ["strategy", "show", "nope"])
    assert result.exit_code == 2
    assert "no such strategy; valid:" in result.stderr


def test_validate_reports_each_problem_and_exits_1(tmp_path: Path) -> None:
    """validate prints OK for good files and file: field: problem for bad ones, exit 1."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "strategy: {name: x}\nentry:\n  conditions:\n"
        "    - {type: price_action, indicator: close, operator: above, value: 1}\n"
    )
    good = FIXTURES / "rsi_flow.yaml"
    result = runner.invoke(build_app(), ["strategy", "validate", str(good), str(bad)])
    assert result.exit_code == 1
    assert f"{good}: OK (Fixture RSI Flow" in result.stdout
    assert f"{bad}: entry.conditions[0].operator: unknown operator 'above'" in result.stdout


def test_validate_of_good_files_exits_0() -> None:
    """Every fixture validates: exit 0."""
    files = [str(p) for p in sorted(FIXTURES.glob("*.yaml"))]
    result = runner.invoke(build_app(), ["strategy", "validate", "--json", *files])
    assert result.exit_code == 0
    assert all(o["ok"] for o in json.loads(result.stdout))
