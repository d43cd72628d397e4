"""What the handler tests share: a state over fakes, a command, and events fed to the state."""

from __future__ import annotations

from datetime import UTC, datetime

from commands.core.handler import Command, ServiceInfo, State
from commands.core.models import Invocation
from events.base import Actor, Envelope, Event
from projections.guild import GuildBook
from projections.trading import TradeBook
from tests.unit.commands.fakes import FakeAnalyzer, FakeCalendar, FakeMarketView

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
