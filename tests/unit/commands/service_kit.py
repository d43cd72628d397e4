"""What the service tests share: a service over a data folder with fakes, a trade opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from commands.core.handler import MAX_SYMBOLS
from commands.core.service import CommandService, Reply
from commands.wiring import close_service, open_service
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


@contextmanager
def serving(
    data_dir: Path,
    fetcher: FakeFetcher,
    analyzer: FakeAnalyzer,
    clock: FakeClock,
    symbol_limit: int | None = MAX_SYMBOLS,
) -> Iterator[CommandService]:
    """``service_on`` for the length of a ``with`` block, closed at its end (also on failure)."""
    service = service_on(data_dir, fetcher, analyzer, clock, symbol_limit)
    try:
        yield service
    finally:
        close_service(service)


class Start(Protocol):
    """The ``start`` fixture: a service over the test's data folder with its fakes."""

    def __call__(
        self, *, symbol_limit: int | None = MAX_SYMBOLS
    ) -> AbstractContextManager[CommandService]:
        """A service for a ``with`` block; a second one over the same folder is a restart."""
        ...


async def open_trade(service: CommandService, members: Members, **opts: object) -> Reply:
    """``/trade open`` of 10 AAPL long at 187.5 by the member, with ``opts`` on top."""
    options = {"symbol": "AAPL", "direction": "long", "entry": "187.5", "size": "10", **opts}
    return await service.execute("trade open", options, members.inv())
