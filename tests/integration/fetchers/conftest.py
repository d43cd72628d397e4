"""Fixtures: one HTTP session, the provider stand-ins, and providers pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from fetchers.anthropic import AnthropicClient
from fetchers.finnhub import Finnhub
from fetchers.http import HttpSession, RateLimit
from fetchers.unusual_whales import UnusualWhales
from tests.support.anthropic_standin import AnthropicStandIn
from tests.support.clocks import FakeTime
from tests.support.providers import ProviderStandIn, retry_policy

UW_KEY = "uw-secret-key-0123456789"
FINNHUB_KEY = "fh-secret-key-9876543210"
ANTHROPIC_KEY = "sk-ant-secret-key-5555"
FAST = RateLimit(1000, 1.0)


@pytest.fixture
async def http() -> AsyncIterator[HttpSession]:
    """The shared HTTP session, closed after the test."""
    async with HttpSession() as session:
        yield session


@pytest.fixture
def fake_time() -> FakeTime:
    """Instant sleeps on a fake clock."""
    return FakeTime()


@pytest.fixture
async def uw_server() -> AsyncIterator[ProviderStandIn]:
    """An Unusual Whales stand-in that insists on the documented headers."""
    required = {"Authorization": f"Bearer {UW_KEY}", "UW-CLIENT-API-ID": "100001"}
    async with ProviderStandIn(require_headers=required) as server:
        yield server


@pytest.fixture
async def finnhub_server() -> AsyncIterator[ProviderStandIn]:
    """A Finnhub stand-in that insists on the token header."""
    async with ProviderStandIn(require_headers={"X-Finnhub-Token": FINNHUB_KEY}) as server:
        yield server


@pytest.fixture
async def anthropic_server() -> AsyncIterator[AnthropicStandIn]:
    """An Anthropic stand-in that insists on the key and version headers."""
    async with AnthropicStandIn(ANTHROPIC_KEY) as server:
        yield server


@pytest.fixture
def uw(http: HttpSession, uw_server: ProviderStandIn, fake_time: FakeTime) -> UnusualWhales:
    """Unusual Whales on the stand-in, with instant backoff."""
    return UnusualWhales(
        http, UW_KEY, base_url=uw_server.base_url, rate=FAST, policy=retry_policy(fake_time)
    )


@pytest.fixture
def finnhub(http: HttpSession, finnhub_server: ProviderStandIn, fake_time: FakeTime) -> Finnhub:
    """Finnhub on the stand-in, with instant backoff."""
    return Finnhub(
        http,
        FINNHUB_KEY,
        base_url=finnhub_server.base_url,
        rates=(FAST,),
        policy=retry_policy(fake_time),
    )


@pytest.fixture
def anthropic(
    http: HttpSession, anthropic_server: AnthropicStandIn, fake_time: FakeTime
) -> AnthropicClient:
    """The Anthropic client on the stand-in, with instant backoff."""
    return AnthropicClient(
        http, ANTHROPIC_KEY, base_url=anthropic_server.base_url, policy=retry_policy(fake_time)
    )
