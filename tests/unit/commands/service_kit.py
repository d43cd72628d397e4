"""What the service tests share: a service over a data folder with fakes, a trade opened."""

from __future__ import annotations

from pathlib import Path

from commands.core.handler import MAX_SYMBOLS
from commands.core.service import CommandService, Reply
from commands.wiring import open_service
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeAnalyzer, FakeCalendar, FakeFetcher, Members


def service_on(
    data_dir: Path,
    fetcher: FakeFetcher,
    analyzer: FakeAnalyzer,
    clock: FakeClock,
    symbol_limit: int | None = MAX_SYMBOLS,
) -> CommandService:
    """A service over ``data_dir`` (a second one over the same folder is a restart)."""
    return open_service(
        data_dir, fetcher=fetcher, analyzer=analyzer, clock=clock, calendar=FakeCalendar(),
        symbol_limit=symbol_limit,
    )  # fmt: skip


async def open_trade(service: CommandService, members: Members, **opts: object) -> Reply:
    """``/trade open`` of 10 AAPL long at 187.5 by the member, with ``opts`` on top."""
    options = {"symbol": "AAPL", "direction": "long", "entry": "187.5", "size": "10", **opts}
    return await service.execute("trade open", options, members.inv())
