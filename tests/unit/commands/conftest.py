"""Fixtures for the command tests: fakes of the ports and a service over a temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands.core.service import CommandService
from commands.wiring import close_service, open_service
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeAnalyzer, FakeCalendar, FakeFetcher, Members

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)  # a Tuesday, 11:00 in New York


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def fetcher() -> FakeFetcher:
    return FakeFetcher()


@pytest.fixture
def analyzer() -> FakeAnalyzer:
    return FakeAnalyzer()


@pytest.fixture
async def service(
    tmp_path: Path, clock: FakeClock, fetcher: FakeFetcher, analyzer: FakeAnalyzer
) -> AsyncIterator[CommandService]:
    svc = open_service(
        tmp_path, fetcher=fetcher, analyzer=analyzer, clock=clock, calendar=FakeCalendar()
    )
    yield svc
    close_service(svc)


@pytest.fixture
def members() -> Members:
    return Members()
