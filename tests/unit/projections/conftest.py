"""Fixtures for projection tests: a journal with a few commands of mixed events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from events.audit import CommandHandled
from events.base import Actor, NewEvent
from events.journal import Journal
from events.market import Bar, BarsFetched
from events.trading import TradeOpened

AT = datetime(2024, 2, 1, 15, 0, tzinfo=UTC)


def bars(symbol: str, day: int) -> BarsFetched:
    """One bar of ``symbol`` on day ``day`` of January 2024."""
    bar = Bar(day=date(2024, 1, day), open=1.0, high=2.0, low=0.5, close=1.5, volume=10)
    return BarsFetched(symbol=symbol, source="test", bars=[bar])


def add_commands(journal: Journal, count: int, *, start: int = 0) -> None:
    """Append ``count`` commands: an audit, bars, and every third one a trade."""
    for n in range(start, start + count):
        events = [NewEvent(f"audit:{n % 2}", CommandHandled(name=f"c{n}")),
                  NewEvent(f"bars:S{n % 3}", bars(f"S{n % 3}", 1 + n % 28))]  # fmt: skip
        if n % 3 == 0:
            trade = TradeOpened(
                trade_id=f"t{n}", guild_id=1, user_id=2, symbol="S1", direction="long",
                entry=Decimal("10.5"), size=Decimal(3), opened_at=AT,
            )  # fmt: skip
            events.append(NewEvent(f"trade:1:t{n}", trade))
        journal.append(
            events, command_id=f"cmd-{n}", actor=Actor(guild_id=1, user_id=2), recorded_at=AT
        )


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal of 6 commands (14 events) in a temporary folder."""
    j = Journal.open(tmp_path / "journal.sqlite")
    add_commands(j, 6)
    yield j
    j.close()
