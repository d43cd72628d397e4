"""The trade journal's handlers called directly: trades opened from picks, metrics."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from commands.core.errors import CommandRejectedError
from commands.core.handler import State
from commands.core.ports import SignalRow
from commands.journal.handlers import handle_metrics, handle_trade_open
from events.trading import TradeOpened
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeMarketView
from tests.unit.commands.handler_kit import NOW, cmd, feed, make_state


def test_trade_open_is_pure_and_its_id_depends_only_on_the_command_id() -> None:
    """The same command id on the same state yields the same events; the id avoids taken ids."""
    state = make_state()
    clock = FakeClock(NOW)
    opts = {"symbol": "aapl", "direction": "long", "entry": Decimal("10.50"), "size": Decimal(3)}
    first, _ = handle_trade_open(cmd("trade open", **opts), state, clock)
    again, _ = handle_trade_open(cmd("trade open", **opts), state, clock)
    assert first == again
    opened = first[0].event
    assert isinstance(opened, TradeOpened)
    assert opened.symbol == "AAPL"
    assert first[0].stream == f"trade:5:{opened.trade_id}"
    feed(state, [opened])
    other, _ = handle_trade_open(cmd("trade open", **opts), state, clock)
    assert isinstance(other[0].event, TradeOpened)
    assert other[0].event.trade_id != opened.trade_id


def signal_market() -> FakeMarketView:
    """A market view holding one long AAPL pick of scan-1 by "RSI Flow" (key rsi_flow), as the
    analyzer stores it: under the strategy's display name, with float levels."""
    market = FakeMarketView()
    market.rows.append(SignalRow(scan_id="scan-1", strategy_name="RSI Flow", evaluated_at=NOW,
                                 symbol="AAPL", direction="long", as_of=date(2026, 3, 10),
                                 entry=100.0, stop_loss=95.123, take_profit=110.5))  # fmt: skip
    return market


def open_from_signal(state: State, **options: object) -> TradeOpened:
    """The trade_opened event of a /trade open with ``options`` over a 1-share AAPL long."""
    base: dict[str, object] = {"symbol": "AAPL", "direction": "long", "entry": Decimal(100),
                               "size": Decimal(1), "signal": "scan-1:AAPL"}  # fmt: skip
    events, _ = handle_trade_open(cmd("trade open", **(base | options)), state, FakeClock(NOW))
    opened = events[0].event
    assert isinstance(opened, TradeOpened)
    return opened


def test_trade_open_from_a_signal_carries_its_stop_target_and_strategy_key() -> None:
    """signal:scan:SYMBOL links the trade to the pick, files it under the pick's strategy KEY
    (not its display name) and takes the pick's stop and target, to the cent, as the "Log trade"
    form shows them; levels the member types win."""
    state = make_state(signal_market())
    opened = open_from_signal(state)
    assert (opened.strategy, opened.signal_ref) == ("rsi_flow", "scan-1:AAPL")
    assert (opened.stop, opened.target) == (Decimal("95.12"), Decimal("110.50"))
    typed = open_from_signal(state, stop=Decimal(90), target=Decimal(120))
    assert (typed.stop, typed.target) == (Decimal(90), Decimal(120))
    with pytest.raises(CommandRejectedError, match="No signal"):
        open_from_signal(state, signal="scan-9:AAPL")


def test_trade_open_from_a_signal_refuses_another_symbol_direction_or_strategy() -> None:
    """A trade from a pick is of the pick's symbol, direction and strategy: anything else is
    refused with a message naming the pick's value."""
    state = make_state(signal_market())
    state.market.known.add("MSFT")  # type: ignore[attr-defined]
    with pytest.raises(CommandRejectedError, match="signal scan-1:AAPL is for AAPL, not MSFT"):
        open_from_signal(state, symbol="MSFT")
    with pytest.raises(CommandRejectedError, match="is a long pick"):
        open_from_signal(state, direction="short")
    # Markdown-escaped for Discord (the console renders it back to rsi_flow).
    with pytest.raises(CommandRejectedError, match=r"is from strategy rsi\\_flow"):
        open_from_signal(state, strategy="golden_cross")
    assert open_from_signal(state, strategy="RSI flow").strategy == "rsi_flow"


def test_metrics_show_one_row_per_strategy_under_its_display_name() -> None:
    """Trades filed under a strategy's key and (older journals) under its display name are one
    strategy: /metrics shows one row, named by the display name."""
    from events.trading import TradeClosed

    state = make_state()
    for i, strategy in enumerate(["rsi_flow", "RSI Flow", None]):
        feed(state, [
            TradeOpened(trade_id=f"T{i}", guild_id=5, user_id=1, symbol="AAPL", direction="long",
                        entry=Decimal(100), size=Decimal(1), opened_at=NOW, strategy=strategy),
            TradeClosed(trade_id=f"T{i}", guild_id=5, user_id=1, exit=Decimal(101),
                        closed_at=NOW),
        ])  # fmt: skip
    _, reply = handle_metrics(cmd("metrics"), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["By strategy"].splitlines() == [
        "RSI Flow: 2 trades, +2.00, win 100.0%",
        "manual: 1 trade, +1.00, win 100.0%",
    ]


def test_metrics_window_counts_only_trades_closed_within_it() -> None:
    """days:N excludes trades closed before now - N days; member: shows another member."""
    from events.trading import TradeClosed

    state = make_state()
    for i, (closed_at, exit_) in enumerate([(NOW - timedelta(days=40), 90), (NOW, 120)]):
        feed(state, [
            TradeOpened(trade_id=f"T{i}", guild_id=5, user_id=2, symbol="AAPL", direction="long",
                        entry=Decimal(100), size=Decimal(1), opened_at=closed_at),
            TradeClosed(trade_id=f"T{i}", guild_id=5, user_id=2, exit=Decimal(exit_),
                        closed_at=closed_at),
        ])  # fmt: skip
    _, reply = handle_metrics(cmd("metrics", days=30, member=2), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["Trades"] == "1 (1 W / 0 L / 0 BE)"
    assert fields["Profit factor"] == "∞"
    assert reply.title.startswith("<@2>'s metrics")
    _, mine = handle_metrics(cmd("metrics"), state, FakeClock(NOW))
    assert "No closed trades" in mine.description


def test_a_drawdown_is_shown_as_a_loss() -> None:
    """A winner of 100 then a loser of 300: the drawdown is a loss of 300 from the peak, shown
    as -300.00 (never "+300.00")."""
    from events.trading import TradeClosed

    state = make_state()
    for i, exit_ in enumerate([200, 0]):
        feed(state, [
            TradeOpened(trade_id=f"T{i}", guild_id=5, user_id=1, symbol="AAPL", direction="long",
                        entry=Decimal(100), size=Decimal(1 + 2 * i), opened_at=NOW),
            TradeClosed(trade_id=f"T{i}", guild_id=5, user_id=1, exit=Decimal(exit_),
                        closed_at=NOW),
        ])  # fmt: skip
    _, reply = handle_metrics(cmd("metrics"), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["Drawdown"] == "now -300.00, max -300.00"
