"""The plain handlers called directly: command + state + clock in, events + reply out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from commands.core.errors import CommandRejectedError
from commands.core.handler import Command, ServiceInfo, State
from commands.core.models import Invocation
from commands.core.ports import SignalRow
from commands.general.handlers import handle_about, handle_ping, with_ping_timings
from commands.journal.handlers import handle_metrics, handle_trade_export, handle_trade_open
from commands.market.handlers import handle_watchlist_clear, handle_watchlist_list
from commands.picks.handlers import (
    _days_or_off,
    handle_schedule_set,
    handle_schedule_status,
    handle_signals,
    scan_reply,
)
from events.base import Actor, Envelope, Event
from events.trading import TradeOpened
from projections.guild import GuildBook
from projections.trading import TradeBook
from tests.unit.commands.fakes import FakeAnalyzer, FakeCalendar, FakeClock, FakeMarketView

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def make_state(market: FakeMarketView | None = None) -> State:
    return State(
        trades=TradeBook(),
        guilds=GuildBook(),
        market=market or FakeMarketView(),
        strategies=FakeAnalyzer().strategies(),
        info=ServiceInfo(version="1.2.3", sources=["fake"], journal_head=9),
        calendar=FakeCalendar(),
    )


def cmd(name: str, **options: object) -> Command:
    inv = Invocation(command_id="c1", guild_id=5, user_id=1, channel_id=77)
    return Command(name=name, options=dict(options), inv=inv)


def feed(state: State, events: list[Event]) -> None:
    for event in events:
        pos = max(state.trades.position, state.guilds.position) + 1
        env = Envelope(position=pos, stream="s", version=1, recorded_at=NOW, command_id="x",
                       actor=Actor(), event=event)  # fmt: skip
        state.trades.apply(env)
        state.guilds.apply(env)


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


def test_long_lists_are_paginated() -> None:
    """A watchlist of 40 symbols comes back as three pages of at most 15 lines."""
    from events.guild import WatchlistSymbolAdded

    state = make_state()
    feed(state, [WatchlistSymbolAdded(guild_id=5, symbol=f"S{i:02d}") for i in range(40)])
    _, reply = handle_watchlist_list(cmd("watchlist list"), state, FakeClock(NOW))
    assert len(reply.pages) == 2
    assert reply.title == "Watchlist (page 1/3)"
    assert len(reply.pages[-1].description.splitlines()) == 10


def test_schedule_status_shows_the_next_run_in_new_york_time() -> None:
    """After /schedule set, status names the next session and its New York time."""
    state = make_state()
    events, _ = handle_schedule_set(
        cmd("schedule set", strategy="rsi_flow", time="09:30"), state, FakeClock(NOW)
    )
    feed(state, [e.event for e in events])
    _, reply = handle_schedule_status(cmd("schedule status"), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in reply.fields}
    assert fields["Next run"] == "2026-03-11 09:30 EDT (session 2026-03-11)"
    assert fields["Channel"] == "<#77>"


def test_about_and_ping_show_the_journal_head() -> None:
    """/about shows version, sources and head; /ping answers ephemerally."""
    state = make_state()
    _, about = handle_about(cmd("about"), state, FakeClock(NOW))
    fields = {name: value for name, value, _ in about.fields}
    assert (fields["Version"], fields["Journal head"], fields["Data sources"]) == (
        "1.2.3", "9", "fake",
    )  # fmt: skip
    _, ping = handle_ping(cmd("ping"), state, FakeClock(NOW))
    assert ping.ephemeral


def test_member_text_is_escaped() -> None:
    """Markdown and mentions in a member's note cannot format or ping."""
    from commands.core.text import escape

    assert (
        escape("**bold** @everyone [x](http://y)")
        == "\\*\\*bold\\*\\* @\u200beveryone \\[x\\](http://y)"
    )


def test_ping_timings_say_latency_and_time_to_answer_in_ms() -> None:
    """The front ends' timings in /ping: the gateway latency in ms (or why there is none) and
    the time to answer in ms."""
    _, ping = handle_ping(cmd("ping"), make_state(), FakeClock(NOW))
    timed = {
        gateway: {
            name: value
            for name, value, _ in with_ping_timings(
                ping, gateway_latency=gateway, answered_in=0.0126
            ).fields
        }
        for gateway in (0.0423, None, float("inf"))
    }
    assert timed[0.0423] == {"Gateway latency": "42 ms", "Answered in": "13 ms"}
    assert timed[None]["Gateway latency"] == "none (local console)"
    assert timed[float("inf")]["Gateway latency"] == "not measured yet (no heartbeat answered)"


def test_counts_of_one_are_singular_everywhere() -> None:
    """One pick, one symbol, one day, one trade: every count goes through text.plural."""
    from events.guild import WatchlistSymbolAdded
    from events.trading import TradeClosed

    state = make_state()
    feed(state, [WatchlistSymbolAdded(guild_id=5, symbol="AAPL")])
    analyzer = FakeAnalyzer()
    scan = analyzer.scan("rsi_flow", ["AAPL"], guild_id=5, scan_id="scan-1", now=NOW)
    none = msgspec.structs.replace(
        analyzer.scan("rsi_flow", ["MSFT"], guild_id=5, scan_id="scan-2", now=NOW), skipped=[]
    )
    picks = scan_reply(scan, title="t", footer="f")
    assert scan_reply(none, title="t", footer="f").description == (
        "No picks: none of the 1 symbol evaluated met the entry conditions."
    )
    assert picks.buttons
    _, signals = handle_signals(cmd("signals", days=1), state, FakeClock(NOW))
    assert signals.title == "Signals, last 1 day"
    _, cleared = handle_watchlist_clear(cmd("watchlist clear"), state, FakeClock(NOW))
    assert cleared.description == "Cleared 1 symbol."
    feed(state, [
        TradeOpened(trade_id="T1", guild_id=5, user_id=1, symbol="AAPL", direction="long",
                    entry=Decimal(100), size=Decimal(1), opened_at=NOW, stop=Decimal(90)),
        TradeClosed(trade_id="T1", guild_id=5, user_id=1, exit=Decimal(110), closed_at=NOW),
    ])  # fmt: skip
    _, metrics = handle_metrics(cmd("metrics", days=1), state, FakeClock(NOW))
    assert metrics.title == "Your metrics, last 1 day"
    fields = {name: value for name, value, _ in metrics.fields}
    assert fields["Average R"] == "+1.00R (1 trade)"
    _, export = handle_trade_export(cmd("trade export"), state, FakeClock(NOW))
    assert export.description == "1 trade."
    assert _days_or_off(1) == "1 day"


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
