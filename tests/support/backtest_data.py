"""What a backtest reads, appended to a service's journal as the fetches (and a server's library)
would: the offline sample data's bars, flow alerts and earnings dates, and a strategy version."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

from commands.core.service import CommandService
from events.base import Actor, NewEvent
from events.market import BarsFetched, EarningsDate, EarningsFetched, FlowAlertsFetched
from events.strategies import StrategyAdded, library_stream
from fetchers.sample import SampleProvider

LAST_SESSION = date(2026, 12, 3)
"""The sample data's last session in these tests (a Thursday)."""


def sample_events(symbols: Sequence[str]) -> list[NewEvent]:
    """What ``/fetch stocks`` and ``/fetch flows`` append for ``symbols`` from the sample data
    up to ``LAST_SESSION``."""
    provider = SampleProvider(today=LAST_SESSION)
    out: list[NewEvent] = []
    for s in symbols:
        bars = BarsFetched(symbol=s, source="sample", bars=provider.bars(s))
        out.append(NewEvent(f"bars:{s}", bars))
        alerts = FlowAlertsFetched(source="sample", symbols=[s], alerts=provider.alerts(s))
        out.append(NewEvent(f"flow:{s}", alerts))
    entries = [EarningsDate(symbol=s, day=date(2026, 10, 29)) for s in symbols]
    out.append(NewEvent("earnings", EarningsFetched(source="sample", entries=entries)))
    return out


def strategy_added(guild_id: int, key: str, yaml_text: str, version: int = 1) -> NewEvent:
    """A server's ``strategy_added`` of ``yaml_text`` under ``key``."""
    added = StrategyAdded(
        guild_id=guild_id, key=key, version=version, yaml_text=yaml_text,
        sha256=hashlib.sha256(yaml_text.encode()).hexdigest(), added_by=1,
    )  # fmt: skip
    return NewEvent(library_stream(guild_id), added)


async def append(
    service: CommandService, events: list[NewEvent], command_id: str, guild_id: int | None = None
) -> None:
    """Append ``events`` as one command (on the service's worker, as a fetch does)."""
    actor = Actor(guild_id=guild_id)
    await service.call(lambda: service.append(events, command_id=command_id, actor=actor))
