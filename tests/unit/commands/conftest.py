"""Fixtures for the command tests: fakes of the ports and a service over a temp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from commands.core.service import CommandService
from commands.wiring import close_service, open_service
from tests.support.clocks import FakeClock
from tests.unit.commands.fakes import FakeAnalyzer, FakeCalendar, FakeFetcher, Members
from tests.unit.commands.service_kit import Start, serving

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


@pytest.fixture
def start(tmp_path: Path, clock: FakeClock, fetcher: FakeFetcher, analyzer: FakeAnalyzer) -> Start:
    """Opens a service over ``tmp_path`` with the fakes for a ``with`` block (closed at its end);
    each call is a (re)start on the same data folder."""
    return partial(serving, tmp_path, fetcher, analyzer, clock)
