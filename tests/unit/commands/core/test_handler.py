"""The handler contract's shared rules: escaping member text, singular counts, the symbols rule."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from commands.core.errors import CommandRejectedError
from commands.core.handler import symbols_or, watched_and_stored
from commands.journal.handlers import handle_metrics, handle_trade_export
from commands.market.handlers import fetch_symbols, handle_watchlist_clear
from commands.picks.handlers import (
    _days_or_off,
    analyze_symbols,
    handle_signals,
    scan_reply,
)
from events.trading import TradeOpened
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeAnalyzer, FakeMarketView
from tests.unit.commands.handler_kit import NOW, cmd, feed, make_state


def test_member_text_is_escaped() -> None:
    """Markdown and mentions in a member's note cannot format or ping."""
    from commands.core.text import escape

    assert (
        escape("**bold** @everyone [x](http://y)")
        == "\\*\\*bold\\*\\* @\u200beveryone \\[x\\](http://y)"
    )


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


def test_the_symbols_rule_is_given_else_a_default_else_the_commands_refusal() -> None:
    """/fetch, /analyze and /status share one rule (``symbols_or``): the symbols given win;
    without them /fetch takes the watchlist and every stored symbol, /analyze the watchlist
    only, /status either; with none, /fetch and /analyze refuse with their own message and
    /status answers with an empty list."""
    from events.guild import WatchlistSymbolAdded

    empty = make_state(FakeMarketView(known={"NVDA"}))
    empty_guild = make_state(FakeMarketView())
    with pytest.raises(CommandRejectedError, match="The watchlist is empty"):
        analyze_symbols(cmd("analyze", strategy="rsi_flow"), empty)
    with pytest.raises(CommandRejectedError, match="no data is stored yet"):
        fetch_symbols(cmd("fetch stocks"), empty_guild)
    assert symbols_or(cmd("status"), empty_guild, watched_and_stored, refusal=None) == []
    assert fetch_symbols(cmd("fetch stocks"), empty) == ["NVDA"]
    feed(empty, [WatchlistSymbolAdded(guild_id=5, symbol="AAPL")])
    assert analyze_symbols(cmd("analyze", strategy="rsi_flow"), empty) == ["AAPL"]
    assert fetch_symbols(cmd("fetch stocks"), empty) == ["AAPL", "NVDA"]
    given = cmd("analyze", strategy="rsi_flow", symbols="msft, nvda")
    assert analyze_symbols(given, empty) == ["MSFT", "NVDA"]
