"""The backtest's fill and exit rules on bars built by hand (analysis/backtest.py).

Strategy ``close_above(100)`` enters when a close is above 100; percentage exits are anchored at
the signal's close (101 in most cases: stop 5 % → 95.95, target 10 % → 111.1). The moderate
profile risks 1 % of equity: 1,000 / (101 − 95.95) → 198 shares.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from analysis.backtest import BacktestParams, KnownEarnings, Sizing, run
from tests.unit.analysis.backtest_builders import (
    business_days,
    close_above,
    close_below,
    exits,
    market,
    ohlc,
)
from tests.unit.analysis.builders import NEW_YORK, alert, strategy

QUIET = (99.0, 99.5, 98.5, 99.0)
SIGNAL = (100.0, 101.5, 99.5, 101.0)


def test_the_fill_is_the_next_open_plus_slippage_and_commission_is_charged_per_side() -> None:
    """A signal on day 1's close fills at day 2's open × (1 + 10 bps); the position still open at
    the end is marked to the last close, net of the entry commission only, and is not a trade."""
    bars = ohlc([QUIET, SIGNAL, (101.5, 102.5, 101.0, 102.0), (102.0, 103.5, 101.5, 103.0)])
    params = BacktestParams(commission=1.0, slippage_bps=10)
    result = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars}), params)
    assert result.trades == []
    [position] = result.open_positions
    days = business_days(4)
    assert (position.signal_date, position.entry_date) == (days[1], days[2])
    assert position.entry_price == pytest.approx(101.5 * 1.001)
    assert position.shares == 198
    assert position.mark_price == 103.0
    assert position.unrealised_pnl == pytest.approx(198 * (103.0 - 101.5 * 1.001) - 1.0)
    assert result.equity[-1].value == pytest.approx(100_000 + position.unrealised_pnl)
    assert [p.value for p in result.equity[:2]] == [100_000, 100_000]


def test_a_bar_touching_both_stop_and_target_counts_the_stop() -> None:
    """Day 2 trades from 95 to 112, through both levels: the exit is the stop, 95.95, R = −1."""
    bars = ohlc([QUIET, SIGNAL, (101.0, 112.0, 95.0, 100.0)])
    result = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars}))
    [trade] = result.trades
    assert trade.exit_reason == "stop"
    assert trade.exit_price == pytest.approx(95.95)
    assert trade.pnl == pytest.approx(198 * (95.95 - 101.0))
    assert trade.r == pytest.approx(-1.0)


def test_an_open_beyond_the_stop_fills_at_the_open() -> None:
    """Day 3 opens at 94, under the 95.95 stop: the exit is 94, not the stop level."""
    bars = ohlc([QUIET, SIGNAL, (101.0, 102.0, 100.0, 101.5), (94.0, 95.0, 93.0, 94.5)])
    [trade] = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars})).trades
    assert (trade.exit_reason, trade.exit_price, trade.exit_date) == (
        "stop",
        94.0,
        business_days(4)[3],
    )


def test_an_entry_whose_open_is_already_beyond_the_stop_is_not_taken() -> None:
    """Day 2 opens at 95, under the pick's stop: no position, and the notes say why."""
    bars = ohlc([QUIET, SIGNAL, (95.0, 96.0, 94.0, 95.5)])
    result = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars}))
    assert (result.trades, result.open_positions) == ([], [])
    assert any("beyond the stop or target" in note for note in result.notes)


def test_a_target_touched_by_the_high_fills_at_the_target() -> None:
    """Day 3's high 112 reaches the 111.1 target (its low stays above the stop)."""
    bars = ohlc([QUIET, SIGNAL, (101.0, 102.0, 100.0, 101.5), (102.0, 112.0, 101.0, 111.0)])
    [trade] = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars})).trades
    assert trade.exit_reason == "target"
    assert trade.exit_price == pytest.approx(111.1)
    assert trade.r == pytest.approx((111.1 - 101.0) / (101.0 - 95.95))


def test_a_trailing_stop_trails_the_best_high_of_the_bars_before() -> None:
    """5 % trailing from the entry (101): day 2's high 106 lifts it to 100.7 for day 3, whose low
    100 touches it. Without a stop, sizing falls back to 10 % of equity: 99 shares."""
    bars = ohlc([QUIET, SIGNAL, (101.0, 106.0, 100.0, 105.0), (104.0, 104.5, 100.0, 100.5)])
    [trade] = run(close_above(100, exit_=exits(trail=5)), market({"AAA": bars})).trades
    assert trade.exit_reason == "trailing"
    assert trade.exit_price == pytest.approx(100.7)
    assert trade.shares == 99
    assert trade.r is None


def test_time_exit_bars_closes_at_the_open_after_that_many_bars() -> None:
    """``time_exit_bars: 2``: held on days 2 and 3, closed at day 4's open."""
    rows = [QUIET, SIGNAL, (101.0, 102.0, 100.5, 101.5), (101.5, 102.0, 101.0, 101.8)]
    bars = ohlc([*rows, (102.5, 103.0, 101.0, 102.0)])
    [trade] = run(close_above(100, exit_=exits(bars=2)), market({"AAA": bars})).trades
    assert (trade.exit_reason, trade.exit_price, trade.bars_held) == ("time", 102.5, 2)


def test_a_short_mirrors_the_levels() -> None:
    """Short on a close of 99 below 100: stop 103.95 above, target 89.1 below; day 3's low 88
    reaches the target. 1,000 / 4.95 → 202 shares; P&L = 202 × (98.9 − 89.1)."""
    rows = [(101.0, 101.5, 100.5, 101.0), (100.0, 100.5, 98.5, 99.0)]
    bars = ohlc([*rows, (98.9, 99.5, 95.0, 96.0), (96.0, 96.5, 88.0, 90.0)])
    params = BacktestParams(direction="short")
    result = run(close_below(100, exit_=exits(stop=5, target=10)), market({"AAA": bars}), params)
    [trade] = result.trades
    assert (trade.direction, trade.exit_reason) == ("short", "target")
    assert trade.stop_loss == pytest.approx(103.95)
    assert trade.shares == 202
    assert trade.pnl == pytest.approx(202 * (98.9 - 89.1))
    assert result.metrics.final_equity == pytest.approx(100_000 + trade.pnl)


def test_max_positions_take_the_stronger_signal_then_the_symbol_whatever_the_order() -> None:
    """One slot, three symbols signalling on day 1. With ``any`` of two conditions, CCC passes
    both and goes first; between AAA and BBB (one each) AAA would win. Reversing the input
    order changes nothing."""
    both = ohlc([QUIET, (100.0, 106.0, 99.5, 105.0), (105.0, 106.0, 104.0, 105.5)])
    one = ohlc([QUIET, SIGNAL, (101.0, 102.0, 100.5, 101.5)])
    rule = (
        "    - type: price_action\n      indicator: close\n      operator: gt\n      value: 100\n"
        "    - type: price_action\n      indicator: close\n      operator: gt\n      value: 104\n"
    )
    picky = strategy(rule, logic="any", exit_=exits(stop=5))
    params = BacktestParams(max_positions=1)
    forward = run(picky, market({"AAA": one, "BBB": one, "CCC": both}), params)
    backward = run(picky, market({"CCC": both, "BBB": one, "AAA": one}), params)
    assert [p.symbol for p in forward.open_positions] == ["CCC"]
    assert forward == backward
    alone = run(picky, market({"BBB": one, "AAA": one}), params)
    assert [p.symbol for p in alone.open_positions] == ["AAA"]


def test_sessions_come_from_the_calendar_not_weekdays() -> None:
    """Day 2 is a holiday (not a session): a day-1 signal fills at day 3's open, the equity curve
    skips day 2, and a bar on the holiday is ignored (and said)."""
    days = business_days(5)
    sessions = [days[0], days[1], days[3], days[4]]
    bars = ohlc(
        [
            QUIET,
            SIGNAL,
            (50.0, 50.0, 50.0, 50.0),
            (101.2, 102.0, 101.0, 101.5),
            (101.5, 102.0, 101.0, 101.7),
        ],
        days,
    )
    result = run(close_above(100, exit_=exits(stop=5)), market({"AAA": bars}, sessions))
    [position] = result.open_positions
    assert (position.entry_date, position.entry_price) == (days[3], 101.2)
    assert [p.date for p in result.equity] == sessions
    assert any("not sessions ignored" in note for note in result.notes)


def test_one_bad_symbol_is_reported_and_the_run_goes_on() -> None:
    """A symbol with a NaN close is skipped with its reason; the other one still trades."""
    good = ohlc([QUIET, SIGNAL, (101.0, 102.0, 100.5, 101.5)])
    bad = ohlc([QUIET, (100.0, 101.5, 99.5, float("nan")), (101.0, 102.0, 100.5, 101.5)])
    result = run(close_above(100, exit_=exits(stop=5)), market({"BAD": bad, "GOOD": good}))
    assert [(s.symbol, s.reason) for s in result.skipped] == [
        ("BAD", "invalid bar data (non-finite price or volume)")
    ]
    assert [p.symbol for p in result.open_positions] == ["GOOD"]


def test_flow_alerts_count_only_up_to_the_decision_close() -> None:
    """A flow rule with a 60-minute window: an alert at 15:30 on day 1 makes day 1's signal; one
    at 16:30 is after day 1's close and outside day 2's window, so it makes none."""
    days = business_days(3)
    bars = ohlc([QUIET, QUIET, QUIET])
    flow = strategy("    - type: flow_signal\n      recency_minutes: 60\n", exit_=exits(stop=5))

    def at(hour: int, minute: int) -> datetime:
        return datetime.combine(days[1], time(hour, minute), NEW_YORK)

    early = run(flow, market({"AAA": bars}, alerts={"AAA": [alert("AAA", at(15, 30))]}))
    late = run(flow, market({"AAA": bars}, alerts={"AAA": [alert("AAA", at(16, 30))]}))
    assert [p.signal_date for p in early.open_positions] == [days[1]]
    assert late.open_positions == []


def test_an_earnings_date_counts_from_when_it_was_learned_or_from_the_lead_before_it() -> None:
    """Skipping entries within 3 days of earnings on day 3, signals every day from day 1: a date
    learned by day 1's close blocks days 1–3 (nothing enters: day 4's signal has no next open);
    learned a minute after day 1's close, day 1's signal could not know it and enters; with no
    record it counts throughout. Learned only after the run (history fetched later), it counts
    from the lead before it: a 1-day lead leaves day 1 free, a 10-day lead blocks it."""
    days = business_days(5)
    rows = [QUIET, SIGNAL, SIGNAL, SIGNAL, SIGNAL]
    rule = close_above(100, exit_=exits(stop=5, target=50))

    def close(day: date, minutes: int = 0) -> datetime:
        return datetime.combine(day, time(16, minutes), NEW_YORK)

    def positions(learned: datetime | None, lead: int = 1) -> list[date]:
        params = BacktestParams(skip_earnings_within=3, earnings_lead_days=lead)
        earnings = {"AAA": [KnownEarnings(day=days[3], learned_at=learned)]}
        result = run(rule, market({"AAA": ohlc(rows)}, earnings=earnings), params)
        return [p.signal_date for p in result.open_positions]

    assert positions(close(days[0])) == []
    assert positions(close(days[1])) == []
    assert positions(close(days[1], 1)) == [days[1]]
    assert positions(None) == []
    later = close(days[4]) + timedelta(days=30)
    assert positions(later, lead=1) == [days[1]]
    assert positions(later, lead=10) == []


def test_a_closed_trade_pays_the_commission_once_per_side() -> None:
    """Commission 2.5 per order: a closed trade's P&L is shares × move − 5, its commission 5,
    and the final equity is the capital plus that P&L."""
    bars = ohlc([QUIET, SIGNAL, (101.0, 112.0, 100.5, 111.0)])
    params = BacktestParams(commission=2.5)
    result = run(close_above(100, exit_=exits(stop=5, target=10)), market({"AAA": bars}), params)
    [trade] = result.trades
    assert trade.commission == 5.0
    assert trade.pnl == pytest.approx(198 * (111.1 - 101.0) - 5.0)
    assert result.metrics.final_equity == pytest.approx(100_000 + trade.pnl)


def test_fixed_fraction_sizing_and_the_strategy_s_own_position_cap() -> None:
    """``Sizing(mode="fraction", fraction=0.25)`` buys 25 % of equity at the signal's close
    (floor(25,000 / 101) = 247 shares); without ``max_positions`` the strategy's profile caps
    open positions (moderate: 8), so nine symbols signalling at once open eight, A… to H…."""
    one = ohlc([QUIET, SIGNAL, (101.0, 102.0, 100.5, 101.5)])
    sized = BacktestParams(sizing=Sizing(mode="fraction", fraction=0.25))
    [position] = run(close_above(100), market({"AAA": one}), sized).open_positions
    assert position.shares == 247
    small = BacktestParams(sizing=Sizing(mode="fraction", fraction=0.05))
    nine = {f"{letter}{letter}{letter}": one for letter in "ABCDEFGHI"}
    opened = run(close_above(100), market(nine), small).open_positions
    assert [p.symbol for p in opened] == [f"{c}{c}{c}" for c in "ABCDEFGH"]
