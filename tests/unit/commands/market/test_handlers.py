"""The market room's handlers called directly: watchlist lists."""

from __future__ import annotations

from commands.market.handlers import handle_watchlist_list
from tests.support.clocks import FakeClock
from tests.unit.commands.handler_kit import NOW, cmd, feed, make_state


def test_long_lists_are_paginated() -> None:
    """A watchlist of 40 symbols comes back as three pages of at most 15 lines."""
    from events.guild import WatchlistSymbolAdded

    state = make_state()
    feed(state, [WatchlistSymbolAdded(guild_id=5, symbol=f"S{i:02d}") for i in range(40)])
    _, reply = handle_watchlist_list(cmd("watchlist list"), state, FakeClock(NOW))
    assert len(reply.pages) == 2
    assert reply.title == "Watchlist (page 1/3)"
    assert len(reply.pages[-1].description.splitlines()) == 10
