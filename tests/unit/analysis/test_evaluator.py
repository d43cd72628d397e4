"""The evaluator: crosses, price action, filters, flow windows, history, exits and size."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
import talib

from analysis.errors import AnalysisError
from analysis.evaluator import alert_id
from analysis.scan import ScanResult, scan
from analysis.series import SymbolBars
from analysis.strategy import Strategy
from events.market import FlowAlert
from tests.unit.analysis.builders import alert, bars, close_of, minutes, strategy

CLOSE_CROSS_100 = (
    "    - type: price_action\n      indicator: close\n"
    "      operator: cross_above\n      value: 100\n"
)


def _run(
    strat: Strategy,
    data: dict[str, SymbolBars],
    alerts: dict[str, list[FlowAlert]] | None = None,
    at: datetime | None = None,
) -> ScanResult:
    when = at or max(close_of(b) for b in data.values())
    return scan(strat, data, alerts or {}, evaluated_at=when)


def _picked(result: ScanResult) -> list[str]:
    return [s.symbol for s in result.signals]


def _reasons(result: ScanResult) -> dict[str, str]:
    return {s.symbol: s.reason for s in result.skipped}


def test_cross_above_needs_the_previous_bar_at_or_below() -> None:
    """cross_above passes when the previous bar was ≤ and the last is >, not when already above."""
    data = {
        "UP": bars([95, 97, 99, 101]),
        "TOUCH": bars([95, 97, 100, 101]),
        "ABOVE": bars([95, 101, 102, 103]),
        "BELOW": bars([95, 97, 98, 99]),
    }
    result = _run(strategy(CLOSE_CROSS_100), data)
    assert _picked(result) == ["TOUCH", "UP"]
    detail = result.signals[1].conditions[0].detail
    assert detail == "previous bar: close 99 vs 100; last bar: close 101 vs 100"


def test_cross_below_mirrors_cross_above() -> None:
    """cross_below passes when the previous bar was ≥ and the last is <."""
    condition = CLOSE_CROSS_100.replace("cross_above", "cross_below")
    data = {"DOWN": bars([105, 103, 101, 99]), "UNDER": bars([99, 98, 97, 96])}
    assert _picked(_run(strategy(condition), data)) == ["DOWN"]


def test_cross_between_two_indicators_uses_both_previous_values() -> None:
    """A fast SMA crossing a slow SMA is detected on the bar it happens, not the bar after."""
    indicators = (
        "  - {name: fast, type: SMA, params: {period: 2}}\n"
        "  - {name: slow, type: SMA, params: {period: 4}}\n"
    )
    condition = (
        "    - type: indicator_threshold\n      indicator: fast\n"
        "      operator: cross_above\n      value: slow\n"
    )
    closes = [10, 9, 8, 7, 6, 9]  # last bar: fast 7.5, slow 7.5, equal is not a cross
    closes_cross = [10, 9, 8, 7, 6, 12]  # fast 6.5 ≤ slow 7.5, then 9 > 8.25
    # LATE crossed a bar earlier: on its last bar fast was already above slow.
    data = {"FLAT": bars(closes), "CROSS": bars(closes_cross), "LATE": bars([*closes_cross, 13])}
    result = _run(strategy(condition, indicators=indicators), data)
    assert _picked(result) == ["CROSS"]
    assert result.signals[0].indicators["fast"] == pytest.approx(9.0)


def test_price_action_compares_price_fields_with_indicators() -> None:
    """price_action works: close above an SMA and volume at least its average."""
    indicators = (
        "  - {name: sma_3, type: SMA, params: {period: 3}}\n"
        "  - {name: vol, type: VOLUME_SMA, params: {period: 3}}\n"
    )
    conditions = (
        "    - {type: price_action, indicator: close, operator: gt, value: sma_3}\n"
        "    - {type: price_action, indicator: volume, operator: ge, value: vol}\n"
    )
    data = {
        "YES": bars([10, 10, 10, 12], volume=[1e6, 1e6, 1e6, 2e6]),
        "LOWVOL": bars([10, 10, 10, 12], volume=[2e6, 2e6, 2e6, 1e6]),
        "BELOW": bars([10, 10, 10, 9], volume=[1e6, 1e6, 1e6, 2e6]),
    }
    result = _run(strategy(conditions, indicators=indicators), data)
    assert _picked(result) == ["YES"]
    assert result.signals[0].conditions[1].values == {"volume": 2e6, "vol": pytest.approx(4e6 / 3)}


def test_filters_apply_to_price_and_average_volume() -> None:
    """min_price / max_price test the last close; min_volume the average over volume_lookback."""
    filters = (
        "filters:\n  min_price: 20\n  max_price: 200\n  min_volume: 500000\n  volume_lookback: 3\n"
    )
    condition = "    - {type: price_action, indicator: close, operator: gt, value: 0}\n"
    data = {
        "OK": bars([50, 50, 50, 50]),
        "CHEAP": bars([10, 10, 10, 10]),
        "DEAR": bars([300, 300, 300, 300]),
        # Last bar's volume is high but the 3-bar average is below the floor.
        "THIN": bars([50, 50, 50, 50], volume=[1e6, 1e5, 1e5, 1e6]),
    }
    result = _run(strategy(condition, filters=filters), data)
    assert _picked(result) == ["OK"]
    assert result.evaluated == 1  # filtered symbols never reach the entry rule
    reasons = _reasons(result)
    assert reasons["CHEAP"] == "filtered out: close 10 below min_price 20"
    assert reasons["DEAR"] == "filtered out: close 300 above max_price 200"
    assert (
        reasons["THIN"]
        == "filtered out: average volume 400,000 over 3 bars below min_volume 500,000"
    )


def test_volume_lookback_one_filters_on_the_last_bar() -> None:
    """With volume_lookback 1 only the evaluation bar's volume counts."""
    filters = "filters:\n  min_volume: 500000\n  volume_lookback: 1\n"
    condition = "    - {type: price_action, indicator: close, operator: gt, value: 0}\n"
    data = {"THIN": bars([50, 50, 50, 50], volume=[1e6, 1e5, 1e5, 1e6])}
    assert _picked(_run(strategy(condition, filters=filters), data)) == ["THIN"]


FLOW = (
    "    - {type: flow_signal, direction: bullish, min_premium: 100000, min_volume: 100,"
    " recency_minutes: 60}\n"
)


def test_flow_window_ends_at_the_evaluation_time() -> None:
    """An alert at the evaluation time counts; one a second later (a backtest's future) does not."""
    data = {"AT": bars([10, 11]), "LATER": bars([10, 11])}
    now = close_of(data["AT"])
    alerts = {
        "AT": [alert("AT", now)],
        "LATER": [alert("LATER", now + timedelta(seconds=1))],
    }
    result = _run(strategy(FLOW), data, alerts, now)
    assert _picked(result) == ["AT"]
    assert result.signals[0].flow_alerts == [alert_id(alerts["AT"][0])]
    assert (
        result.signals[0].flow_alerts[0].startswith("AT261218C00100000@2026-01-06T21:00:00+00:00")
    )


def test_flow_window_starts_recency_minutes_before() -> None:
    """An alert exactly recency_minutes old is outside the window; a minute younger is inside."""
    data = {"EDGE": bars([10, 11]), "IN": bars([10, 11])}
    now = close_of(data["IN"])
    alerts = {"EDGE": [alert("EDGE", now - minutes(60))], "IN": [alert("IN", now - minutes(59))]}
    assert _picked(_run(strategy(FLOW), data, alerts, now)) == ["IN"]


def test_flow_direction_premium_and_volume_floors() -> None:
    """Bearish, small-premium and small-volume alerts do not satisfy a bullish $100k+ condition."""
    data = {s: bars([10, 11]) for s in ("BEAR", "SMALL", "THIN", "GOOD")}
    now = close_of(data["GOOD"])
    alerts = {
        "BEAR": [alert("BEAR", now - minutes(5), direction="bearish")],
        "SMALL": [alert("SMALL", now - minutes(5), premium=99_999)],
        "THIN": [alert("THIN", now - minutes(5), volume=99)],
        "GOOD": [alert("GOOD", now - minutes(5))],
    }
    assert _picked(_run(strategy(FLOW), data, alerts, now)) == ["GOOD"]


def test_flow_direction_any_counts_neutral_alerts_and_min_alerts_applies() -> None:
    """direction any matches neutral alerts; min_alerts asks for that many."""
    condition = "    - {type: flow_signal, direction: any, recency_minutes: 30, min_alerts: 2}\n"
    data = {"TWO": bars([10, 11]), "ONE": bars([10, 11])}
    now = close_of(data["TWO"])
    alerts = {
        "TWO": [
            alert("TWO", now - minutes(1), direction="neutral", chain="TWOA"),
            alert("TWO", now - minutes(2), direction="bearish", chain="TWOB"),
        ],
        "ONE": [alert("ONE", now - minutes(1), direction="neutral")],
    }
    result = _run(strategy(condition), data, alerts, now)
    assert _picked(result) == ["TWO"]
    assert len(result.signals[0].flow_alerts) == 2


def test_flow_accepts_alerts_in_any_time_zone() -> None:
    """Alerts and evaluation times in any zone compare correctly; results and ids are in UTC."""
    from zoneinfo import ZoneInfo

    data = {"NY": bars([10, 11])}
    now = close_of(data["NY"])
    new_york = ZoneInfo("America/New_York")
    alerts = {"NY": [alert("NY", (now - minutes(10)).astimezone(new_york))]}
    result = _run(strategy(FLOW), data, alerts, now.astimezone(new_york))
    assert _picked(result) == ["NY"]
    assert result.evaluated_at.utcoffset() == timedelta(0)
    assert result.signals[0].flow_alerts[0].endswith("@2026-01-06T20:50:00+00:00")


def test_naive_times_are_refused() -> None:
    """A naive evaluation time is an error, not a silent guess."""
    data = {"X": bars([10, 11])}
    with pytest.raises(AnalysisError, match="time-zone aware"):
        scan(strategy(FLOW), data, {}, evaluated_at=datetime(2026, 1, 6, 21, 0))


def test_too_little_history_is_reported_with_counts() -> None:
    """A symbol shorter than the warm-up is skipped saying how many bars it has and needs."""
    indicators = "  - {name: rsi_14, type: RSI, params: {period: 14}}\n"
    condition = "    - {type: indicator_threshold, indicator: rsi_14, operator: lt, value: 101}\n"
    cross = condition.replace("operator: lt", "operator: cross_below")
    data = {"SHORT": bars(np.linspace(10, 20, 14)), "ENOUGH": bars(np.linspace(10, 20, 15))}
    result = _run(strategy(condition, indicators=indicators), data)
    assert _picked(result) == ["ENOUGH"]
    assert _reasons(result) == {"SHORT": "too little history (14 bars, needs 15)"}
    crossing = _run(strategy(cross, indicators=indicators), data)
    assert _reasons(crossing)["ENOUGH"] == "too little history (15 bars, needs 16)"


def test_an_indicator_without_a_value_is_reported() -> None:
    """VWAP over a window without volume is reported as a skipped symbol, not a silent failure."""
    indicators = "  - {name: vw, type: VWAP, params: {period: 3}}\n"
    condition = "    - {type: price_action, indicator: close, operator: gt, value: vw}\n"
    data = {"DRY": bars([10, 11, 12, 13, 14], volume=[1, 1, 0, 0, 0])}
    result = _run(strategy(condition, indicators=indicators), data)
    assert result.signals == ()
    assert _reasons(result)["DRY"].startswith("vw has no value on the evaluation bar")


def test_logic_any_needs_one_condition_and_all_needs_every_one() -> None:
    """logic any picks a symbol meeting one condition; logic all needs both."""
    conditions = (
        "    - {type: price_action, indicator: close, operator: gt, value: 100}\n"
        "    - {type: price_action, indicator: volume, operator: gt, value: 5000000}\n"
    )
    data = {
        "PRICE": bars([99, 101]),
        "BOTH": bars([99, 101], volume=6e6),
        "NONE": bars([99, 99]),
    }
    assert _picked(_run(strategy(conditions, logic="any"), data)) == ["BOTH", "PRICE"]
    everything = _run(strategy(conditions, logic="all"), data)
    assert _picked(everything) == ["BOTH"]
    any_result = _run(strategy(conditions, logic="any"), data)
    price = next(s for s in any_result.signals if s.symbol == "PRICE")
    assert [c.passed for c in price.conditions] == [True, False]
    assert price.score == 0.5


def _walk(n: int = 60, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


ALWAYS = "    - {type: price_action, indicator: close, operator: gt, value: 0}\n"


def test_atr_exits_use_the_strategy_s_atr_period() -> None:
    """An ATR stop uses the declared ATR's period (5 here, not 14)."""
    indicators = "  - {name: atr_5, type: ATR, params: {period: 5}}\n"
    exit_ = (
        "  stop_loss: {type: atr_multiple, multiplier: 2}\n"
        "  take_profit: {type: atr_multiple, value: 3}\n"
    )
    data = {"W": bars(_walk())}
    signal = _run(strategy(ALWAYS, indicators=indicators, exit_=exit_), data).signals[0]
    b = data["W"]
    atr5 = talib.ATR(b.high, b.low, b.close, 5)[-1]
    assert signal.stop_loss == pytest.approx(b.close[-1] - 2 * atr5, rel=1e-12)
    assert signal.take_profit == pytest.approx(b.close[-1] + 3 * atr5, rel=1e-12)
    assert signal.risk_reward == pytest.approx(1.5)
    assert signal.notes == []


def test_without_an_atr_indicator_exits_use_atr_14_and_say_so() -> None:
    """No ATR declared: ATR(14) is computed, shown in the evidence and noted."""
    exit_ = "  stop_loss: {type: atr_multiple, multiplier: 1.5}\n"
    data = {"W": bars(_walk())}
    signal = _run(strategy(ALWAYS, exit_=exit_), data).signals[0]
    b = data["W"]
    atr14 = talib.ATR(b.high, b.low, b.close, 14)[-1]
    assert signal.stop_loss == pytest.approx(b.close[-1] - 1.5 * atr14, rel=1e-12)
    assert signal.indicators["ATR(14)"] == pytest.approx(atr14, rel=1e-12)
    assert signal.notes[0] == "no ATR indicator in the strategy: exits use ATR(14)"


def test_percentage_exits_size_and_trailing() -> None:
    """Percent levels, a trailing percent and whole-share size from the risk profile."""
    exit_ = (
        "  take_profit: {type: percentage, value: 10}\n"
        "  stop_loss: {type: percentage, value: 4}\n"
        "  trailing_stop: {type: trailing_stop, value: 2.5}\n"
        "  time_exit_bars: 7\n"
    )
    data = {"P": bars([100, 100, 100, 100])}
    signal = _run(strategy(ALWAYS, exit_=exit_), data).signals[0]
    assert (signal.entry, signal.stop_loss) == (100.0, 96.0)
    assert signal.take_profit == pytest.approx(110.0)
    assert signal.trailing_stop_pct == 2.5
    assert signal.time_exit_bars == 7
    # moderate: 1 % of 100,000 = 1,000 at risk; 4.00 per share → 250 shares.
    assert signal.position_size == 250.0
    assert signal.risk_reward == pytest.approx(2.5)


def test_an_old_files_fractional_risk_sizes_the_position_as_the_old_tool_did() -> None:
    """``risk_per_trade: 0.02`` risks 2 % of equity: 2,000 of 100,000 over a 4.00 stop is 500
    shares (read as a percent it was 5, a hundred times too small)."""
    exit_ = "  stop_loss: {type: percentage, value: 4}\n"
    risk = "risk:\n  profile: custom\n  risk_per_trade: 0.02\n  min_risk_reward: 0\n"
    data = {"P": bars([100, 100, 100, 100])}
    signal = _run(strategy(ALWAYS, exit_=exit_, risk=risk), data).signals[0]
    assert signal.position_size == 500.0


def test_size_is_capped_by_account_equity() -> None:
    """A tight stop would buy more than the account holds: size is capped and noted."""
    exit_ = "  stop_loss: {type: percentage, value: 0.1}\n"
    data = {"P": bars([100, 100, 100, 100])}
    signal = _run(strategy(ALWAYS, exit_=exit_), data).signals[0]
    assert signal.position_size == 1000.0
    assert "size capped at 1000 shares" in signal.notes[0]


def test_min_risk_reward_rejects_with_a_reason() -> None:
    """A pick below the profile's reward:risk floor is reported as not taken, with the ratio."""
    exit_ = (
        "  take_profit: {type: percentage, value: 3}\n  stop_loss: {type: percentage, value: 3}\n"
    )
    risk = "risk:\n  profile: conservative\n"
    data = {"P": bars([100, 100, 100, 100])}
    result = _run(strategy(ALWAYS, exit_=exit_, risk=risk), data)
    assert result.signals == ()
    assert _reasons(result)["P"] == "not taken: reward/risk 1.00 below min_risk_reward 3"


def test_fixed_price_levels_on_the_wrong_side_are_not_taken() -> None:
    """A fixed stop above the entry cannot be traded and says why."""
    exit_ = (
        "  take_profit: {type: fixed_price, value: 120}\n"
        "  stop_loss: {type: fixed_price, value: 105}\n"
    )
    data = {"LOW": bars([100, 100]), "HIGH": bars([110, 110])}
    result = _run(strategy(ALWAYS, exit_=exit_), data)
    assert _reasons(result)["LOW"] == "not taken: stop loss 105 is not between 0 and entry 100"
    picked = result.signals[0]
    assert (picked.symbol, picked.take_profit, picked.stop_loss) == ("HIGH", 120.0, 105.0)


def test_trailing_stop_loss_sets_the_initial_stop_and_the_trail() -> None:
    """stop_loss of type trailing_stop starts value % below entry and trails by value %."""
    exit_ = "  stop_loss: {type: trailing_stop, value: 5}\n"
    signal = _run(strategy(ALWAYS, exit_=exit_), {"P": bars([100, 100])}).signals[0]
    assert (signal.stop_loss, signal.trailing_stop_pct) == (95.0, 5.0)


def test_evidence_lists_every_indicator_output() -> None:
    """A signal carries each declared output on the evaluation bar (MACD and bands included)."""
    indicators = (
        "  - {name: m, type: MACD, params: {fast_period: 3, slow_period: 6, signal_period: 3}}\n"
        "  - {name: bb, type: BOLLINGER, params: {period: 5}}\n"
    )
    data = {"W": bars(_walk(40))}
    signal = _run(strategy(ALWAYS, indicators=indicators), data).signals[0]
    assert set(signal.indicators) == {
        "close",
        "m",
        "m.signal",
        "m.histogram",
        "bb",
        "bb.upper",
        "bb.lower",
    }
    close = data["W"].close
    assert signal.indicators["bb.upper"] == pytest.approx(talib.BBANDS(close, 5)[0][-1])
    assert signal.indicators["m.signal"] == pytest.approx(talib.MACD(close, 3, 6, 3)[1][-1])
