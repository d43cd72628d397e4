"""The Anthropic client against its local stand-in: request shape, retries, limits, off switch."""

from __future__ import annotations

import time

import msgspec
import pytest

from fetchers.anthropic import AnthropicClient, summarizer_from_key
from fetchers.errors import FetchError, InputRejectedError, SpendCapError, TransientError
from fetchers.http import HttpSession
from tests.integration.fetchers.conftest import ANTHROPIC_KEY
from tests.support.clocks import FakeTime
from tests.support.providers import ProviderStandIn, Reply, anthropic_error, anthropic_reply

MESSAGES = "/v1/messages"


async def test_summarize_posts_a_messages_request_and_returns_the_text(
    anthropic: AnthropicClient, anthropic_server: ProviderStandIn
) -> None:
    """The body has model, max_tokens and one user message; the answer's text comes back."""
    anthropic_server.always("POST", MESSAGES, Reply(body=anthropic_reply(" Calm day. ")))
    assert await anthropic.summarize("Summarise the picks") == "Calm day."
    sent = anthropic_server.requests[0]
    body = msgspec.json.decode(sent.body)
    assert body["messages"] == [{"role": "user", "content": "Summarise the picks"}]
    assert body["max_tokens"] > 0
    assert "system" not in body
    assert sent.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "error",
    [
        anthropic_error(529, "overloaded_error", "Overloaded"),
        anthropic_error(500, "api_error", "Internal error"),
        anthropic_error(429, "rate_limit_error", "Too many requests", retry_after="3"),
    ],
)
async def test_overload_server_error_and_rate_limit_are_retried(
    anthropic: AnthropicClient,
    anthropic_server: ProviderStandIn,
    fake_time: FakeTime,
    error: Reply,
) -> None:
    """529, 500 and 429 are retried once and the second answer is used."""
    anthropic_server.queue("POST", MESSAGES, error)
    anthropic_server.always("POST", MESSAGES, Reply(body=anthropic_reply("ok")))
    assert await anthropic.summarize("x") == "ok"
    assert len(anthropic_server.requests) == 2
    if error.status == 429:
        assert fake_time.sleeps == [3.0]


async def test_a_spend_cap_429_is_not_retried(
    anthropic: AnthropicClient, anthropic_server: ProviderStandIn
) -> None:
    """A 429 about the spend limit will not pass by waiting: one request, a SpendCapError."""
    anthropic_server.always(
        "POST",
        MESSAGES,
        anthropic_error(
            429, "rate_limit_error", "You have reached your spend limit", retry_after="1"
        ),
    )
    with pytest.raises(SpendCapError):
        await anthropic.summarize("x")
    assert len(anthropic_server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_client_errors_are_never_retried(
    anthropic: AnthropicClient, anthropic_server: ProviderStandIn, status: int
) -> None:
    """400, 401, 403, 404 and 413 are asked once and raise a non-retryable error without the key."""
    anthropic_server.always(
        "POST", MESSAGES, anthropic_error(status, "invalid_request_error", "bad")
    )
    with pytest.raises(FetchError) as caught:
        await anthropic.summarize("x")
    assert not caught.value.retryable
    assert isinstance(caught.value, InputRejectedError) == (status not in (401, 403))
    assert ANTHROPIC_KEY not in str(caught.value)
    assert len(anthropic_server.requests) == 1


async def test_a_slow_answer_is_cut_off_by_the_timeout(
    http: HttpSession, anthropic_server: ProviderStandIn
) -> None:
    """An answer slower than the client's timeout ends as a transient error, quickly."""
    anthropic_server.always("POST", MESSAGES, Reply(body=anthropic_reply("late"), delay=5.0))
    client = AnthropicClient(http, ANTHROPIC_KEY, base_url=anthropic_server.base_url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TransientError):
        await client.summarize("x")
    assert time.monotonic() - started < 2.0


async def test_without_a_key_the_feature_is_off(http: HttpSession) -> None:
    """No key, no client: callers see ``None`` and say the feature is off."""
    assert summarizer_from_key(http, None) is None
    assert summarizer_from_key(http, "") is None
    assert isinstance(summarizer_from_key(http, "k"), AnthropicClient)
