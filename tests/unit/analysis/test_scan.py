"""Scanning a universe: evaluation date, earnings, missing data, the event, and our fixtures."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.scan import evaluation_date, scan, signals_event
from analysis.strategy import load_strategy
from events.analysis import SignalsGenerated
from tests.support.synthetic import generate_market
from tests.unit.analysis.builders import bars, close_of, strategy

FIXTURES = Path(__file__).parent / "fixtures"
ALWAYS = "    - {type: price_action, indicator: close, operator: gt, value: 0}\n"
CROSS = "    - {type: price_action, indicator: close, operator: cross_above, value: 100}\n"


def test_bars_after_the_evaluation_date_are_not_seen() -> None:
    """Scanning a past moment uses only bars up to that New York day."""
    data = {"X": bars([95, 99, 101, 103])}  # crosses 100 on the third bar
    third_day = close_of(bars([95, 99, 101]))
    result = scan(strategy(CROSS), data, {}, evaluated_at=third_day)
    assert [s.symbol for s in result.signals] == ["X"]
    assert result.signals[0].as_of == date(2026, 1, 7)
    assert result.signals[0].entry == 101.0


def test_the_evaluation_date_is_the_new_york_day() -> None:
    """03:00 UTC on the 8th is still the 7th in New York."""
    from datetime import UTC, datetime

    assert evaluation_date(datetime(2026, 1, 8, 3, 0, tzinfo=UTC)) == date(2026, 1, 7)


def test_symbols_with_earnings_soon_are_skipped_when_asked() -> None:
    """skip_earnings_within N skips earnings from today to N days ahead, not past or later ones."""
    data = {s: bars([10, 11]) for s in ("SOON", "TODAY", "PAST", "LATER", "UNKNOWN")}
    now = close_of(data["SOON"])
    day = evaluation_date(now)
    earnings = {
        "SOON": [day + timedelta(days=3)],
        "TODAY": [day],
        "PAST": [day - timedelta(days=1)],
        "LATER": [day + timedelta(days=4)],
    }
    result = scan(
        strategy(ALWAYS), data, {}, evaluated_at=now, earnings=earnings, skip_earnings_within=3
    )
    assert [s.symbol for s in result.signals] == ["LATER", "PAST", "UNKNOWN"]
    reasons = {s.symbol: s.reason for s in result.skipped}
    assert reasons["SOON"] == f"earnings on {(day + timedelta(days=3)).isoformat()} (within 3 days)"
    assert set(reasons) == {"SOON", "TODAY"}


def test_skipping_earnings_without_earnings_data_is_an_error() -> None:
    """Asking to skip earnings without giving the dates fails loudly instead of skipping nothing."""
    data = {"X": bars([10, 11])}
    with pytest.raises(AnalysisError, match="needs the earnings dates"):
        scan(strategy(ALWAYS), data, {}, evaluated_at=close_of(data["X"]), skip_earnings_within=2)


def test_universe_symbols_without_usable_bars_are_reported() -> None:
    """A watched symbol with no bars, only future bars, or broken data is skipped with a reason."""
    future = bars([10, 11], first_day=date(2026, 3, 2))
    broken = bars([10, float("nan")])
    data = {"OK": bars([10, 11]), "FUTURE": future, "BROKEN": broken}
    now = close_of(data["OK"])
    result = scan(
        strategy(ALWAYS), data, {}, evaluated_at=now, universe=["OK", "NONE", "FUTURE", "BROKEN"]
    )
    assert result.universe == ("BROKEN", "FUTURE", "NONE", "OK")
    assert {s.symbol: s.reason for s in result.skipped} == {
        "BROKEN": "invalid bar data (non-finite price or volume)",
        "FUTURE": "no bars on or before 2026-01-06",
        "NONE": "no bars",
    }
    assert result.evaluated == 1


def test_signals_event_records_strategy_hash_and_round_trips() -> None:
    """The event names the strategy and its file hash and survives msgspec encoding."""
    strat = strategy(ALWAYS)
    data = {"A": bars([10, 11]), "B": bars([12, 13])}
    result = scan(strat, data, {}, evaluated_at=close_of(data["A"]), account_equity=50_000)
    event = signals_event(result, strat, "scan-1", guild_id=7)
    assert (event.strategy_name, event.strategy_hash, event.scan_id) == (
        "test",
        strat.sha256,
        "scan-1",
    )
    assert event.account_equity == 50_000
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=SignalsGenerated)
    assert decoded == event


def test_signals_event_refuses_a_result_of_another_strategy() -> None:
    """Recording a result under the wrong strategy would break reproducibility: refused."""
    data = {"A": bars([10, 11])}
    result = scan(strategy(ALWAYS), data, {}, evaluated_at=close_of(data["A"]))
    other = strategy(CROSS)
    with pytest.raises(AnalysisError, match="scan result is from strategy"):
        signals_event(result, other, "scan-2")


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_fixture_runs_and_finds_signals(path: Path) -> None:
    """Each fixture (compat feature set) runs over synthetic data and yields some signals."""
    market = generate_market(
        60, 120, seed=11, alerts_per_symbol=20, short_history_every=7, short_history_bars=3
    )
    strat = load_strategy(path)
    result = scan(strat, market.bars, market.alerts, evaluated_at=market.evaluated_at)
    assert len(result.universe) == 60
    assert result.signals, f"{path.name}: no signal at all"
    short = [s for s in result.skipped if s.reason.startswith("too little history")]
    assert short, "the short-history symbols are reported"
    for signal in result.signals:
        assert all(c.passed for c in signal.conditions)
        assert signal.stop_loss is not None
        assert signal.stop_loss < signal.entry
        assert np.isfinite(list(signal.indicators.values())).all()


COMPAT = Path(__file__).parents[2] / "fixtures" / "compat_strategies"


@pytest.mark.parametrize("path", sorted(COMPAT.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_old_tool_file_runs_unchanged(path: Path) -> None:
    """Each of the old tool's six files (byte for byte) scans synthetic data without error and
    sizes its picks from its profile's fraction of equity (at most 2 % at risk per pick)."""
    market = generate_market(40, 260, seed=3, alerts_per_symbol=30)
    strat = load_strategy(path)
    result = scan(strat, market.bars, market.alerts, evaluated_at=market.evaluated_at)
    assert len(result.universe) == 40
    assert not [s for s in result.skipped if "error" in s.reason.lower()]
    risk = strat.risk_profile.risk_per_trade * 100_000
    for signal in result.signals:
        assert signal.position_size is not None
        assert signal.stop_loss is not None
        assert signal.position_size * (signal.entry - signal.stop_loss) <= risk + 1e-6


def test_flow_fixture_signals_cite_only_alerts_before_evaluation() -> None:
    """Every alert a flow signal cites was created at or before the evaluation time."""
    market = generate_market(80, 60, seed=5, alerts_per_symbol=25)
    strat = load_strategy(FIXTURES / "macd_flow.yaml")
    result = scan(strat, market.bars, market.alerts, evaluated_at=market.evaluated_at)
    cited = {a for s in result.signals for a in s.flow_alerts}
    assert cited
    by_id = {
        f"{a.option_chain}@{a.created_at.isoformat()}": a
        for al in market.alerts.values()
        for a in al
    }
    assert all(by_id[c].created_at <= market.evaluated_at for c in cited)


def test_counts_of_one_in_reasons_are_singular() -> None:
    """A skip for earnings within 1 day says "1 day", a one-bar history "1 bar"."""
    data = {"SOON": bars([10, 11]), "ONE": bars([10])}
    now = close_of(data["SOON"])
    day = evaluation_date(now)
    rsi = "  - {name: rsi, type: RSI, params: {period: 2}}\n"
    cond = "    - {type: indicator_threshold, indicator: rsi, operator: gt, value: 0}\n"
    result = scan(
        strategy(cond, indicators=rsi), data, {}, evaluated_at=now,
        earnings={"SOON": [day + timedelta(days=1)]}, skip_earnings_within=1,
    )  # fmt: skip
    reasons = {s.symbol: s.reason for s in result.skipped}
    assert reasons["SOON"] == f"earnings on {(day + timedelta(days=1)).isoformat()} (within 1 day)"
    assert reasons["ONE"] == "too little history (1 bar, needs 3)"
