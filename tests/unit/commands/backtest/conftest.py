"""A command service over a temporary data folder holding the offline sample data's bars, flow
alerts and earnings dates for a few symbols (appended as the fetches would), with the real
strategies and analytics: what ``/backtest`` reads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands.core.adapters import StoredMarketData, StrategyAnalyzer
from commands.core.service import CommandService
from commands.journal.chart_worker import WORKER
from commands.wiring import ANALYTICS_FILE, close_service, open_service
from projections.analytics import Analytics
from tests.support.backtest_data import append, sample_events
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeFetcher

NOW = datetime(2026, 12, 3, 21, 30, tzinfo=UTC)
"""A Thursday after the close: the sample data's last session is 2026-12-03."""
SYMBOLS = ("AAPL", "MSFT", "NVDA", "JPM", "NFLX")
GUILD = 100


@pytest.fixture(scope="module", autouse=True)
def chart_worker_stopped() -> Iterator[None]:
    """The chart worker these tests start is stopped at the end of the module."""
    yield
    WORKER.stop()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[CommandService]:
    """The service over the sample data of ``SYMBOLS`` (Discord's symbol limit applies)."""
    analytics = Analytics(tmp_path / ANALYTICS_FILE)
    svc = open_service(
        tmp_path,
        fetcher=FakeFetcher(),
        analyzer=StrategyAnalyzer(StoredMarketData(analytics)),
        clock=FakeClock(NOW),
        analytics=analytics,
    )
    await append(svc, sample_events(SYMBOLS), "fetch-1", GUILD)
    yield svc
    close_service(svc)
