"""The Anthropic client against its local stand-in: the forced tool call, typed failures, limits,
the follow-up after an invalid answer, and the off switch."""

from __future__ import annotations

import pytest

from fetchers.anthropic import (
    AnthropicClient,
    Message,
    OverloadedError,
    RefusalError,
    Tool,
    client_from_key,
    retry_messages,
)
from fetchers.errors import (
    AuthError,
    FetchError,
    InputRejectedError,
    RateLimitedError,
    SpendCapError,
    TransientError,
)
from fetchers.http import HttpSession
from tests.integration.fetchers.conftest import ANTHROPIC_KEY
from tests.support.anthropic_standin import (
    OVERLOADED,
    SERVER_ERROR,
    STANDIN_MODEL,
    AnthropicStandIn,
    anthropic_error,
    rate_limited,
    refusal_reply,
    text_reply,
    tool_use_reply,
)
from tests.support.clocks import FakeTime
from tests.support.providers import Reply, retry_policy

TOOL = Tool(
    name="strategy",
    description="A strategy",
    input_schema={"type": "object", "properties": {"name": {"type": "string"}}},
)
ASK = [Message("user", "buy the dip")]


async def test_the_tool_is_forced_and_its_input_comes_back_with_the_token_counts(
    anthropic: AnthropicClient, anthropic_server: AnthropicStandIn
) -> None:
    """The request names the tool and forces it; the tool_use input, model and usage return."""
    anthropic_server.answer(tool_use_reply({"name": "dip"}, input_tokens=11, output_tokens=22))
    call = await anthropic.use_tool(ASK, TOOL, system="You draft strategies.")
    assert call.input == {"name": "dip"}
    assert (call.model, call.input_tokens, call.output_tokens) == (STANDIN_MODEL, 11, 22)
    body = anthropic_server.sent()[0]
    assert body["tool_choice"] == {"type": "tool", "name": "strategy"}
    assert body["tools"][0]["input_schema"] == TOOL.input_schema
    assert body["messages"] == [{"role": "user", "content": "buy the dip"}]
    assert body["system"] == "You draft strategies."
    assert body["model"] == anthropic.model
    headers = anthropic_server.requests[0].headers
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["Content-Type"] == "application/json"


async def test_the_follow_up_answers_the_tool_call_with_an_error_result(
    anthropic: AnthropicClient, anthropic_server: AnthropicStandIn
) -> None:
    """retry_messages replays the call and a tool_result marked is_error that the API accepts."""
    anthropic_server.answer(tool_use_reply({"name": 1}), tool_use_reply({"name": "ok"}))
    first = await anthropic.use_tool(ASK, TOOL)
    second = await anthropic.use_tool([*ASK, *retry_messages(first, "name: not a string")], TOOL)
    assert second.input == {"name": "ok"}
    turns = anthropic_server.sent()[1]["messages"]
    assert turns[1]["content"][0] == {
        "type": "tool_use", "id": "toolu_01", "name": "strategy", "input": {"name": 1}
    }  # fmt: skip
    assert turns[2]["content"][0]["is_error"] is True
    assert turns[2]["content"][0]["content"] == "name: not a string"


@pytest.mark.parametrize("error", [OVERLOADED, SERVER_ERROR, rate_limited("3")])
async def test_overload_server_error_and_rate_limit_are_retried(
    anthropic: AnthropicClient,
    anthropic_server: AnthropicStandIn,
    fake_time: FakeTime,
    error: Reply,
) -> None:
    """529, 500 and 429 are retried and the next answer is used; a 429 waits its retry-after."""
    anthropic_server.answer(error, tool_use_reply({"name": "x"}))
    assert (await anthropic.use_tool(ASK, TOOL)).input == {"name": "x"}
    assert len(anthropic_server.requests) == 2
    if error.status == 429:
        assert fake_time.sleeps == [3.0]


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (OVERLOADED, OverloadedError),
        (SERVER_ERROR, TransientError),
        (rate_limited("20"), RateLimitedError),
    ],
)
async def test_a_failure_that_persists_ends_as_its_typed_error(
    anthropic: AnthropicClient,
    anthropic_server: AnthropicStandIn,
    error: Reply,
    kind: type[FetchError],
) -> None:
    """After the bounded retries, 529 is OverloadedError, 5xx TransientError, 429
    RateLimitedError carrying the retry-after seconds; no message holds the key."""
    anthropic_server.answer_always(error)
    with pytest.raises(kind) as caught:
        await anthropic.use_tool(ASK, TOOL)
    assert caught.value.retryable
    assert ANTHROPIC_KEY not in str(caught.value)
    if isinstance(caught.value, RateLimitedError):
        assert caught.value.retry_after == 20.0


async def test_a_spend_cap_429_is_not_retried(
    anthropic: AnthropicClient, anthropic_server: AnthropicStandIn
) -> None:
    """A 429 about the spend limit will not pass by waiting: one request, a SpendCapError."""
    capped = anthropic_error(429, "rate_limit_error", "Your spend limit", retry_after="1")
    anthropic_server.answer_always(capped)
    with pytest.raises(SpendCapError):
        await anthropic.use_tool(ASK, TOOL)
    assert len(anthropic_server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_client_errors_are_never_retried(
    anthropic: AnthropicClient, anthropic_server: AnthropicStandIn, status: int
) -> None:
    """400, 401, 403, 404 and 413 are asked once and raise a non-retryable error without the key."""
    anthropic_server.answer_always(anthropic_error(status, "invalid_request_error", "bad"))
    with pytest.raises(FetchError) as caught:
        await anthropic.use_tool(ASK, TOOL)
    assert not caught.value.retryable
    assert isinstance(caught.value, InputRejectedError) == (status not in (401, 403))
    assert ANTHROPIC_KEY not in str(caught.value)
    assert len(anthropic_server.requests) == 1


@pytest.mark.parametrize("answer", [refusal_reply(), text_reply("I would rather not.")])
async def test_a_refusal_or_an_answer_without_the_tool_call_is_a_refusal_error(
    anthropic: AnthropicClient, anthropic_server: AnthropicStandIn, answer: dict[str, object]
) -> None:
    """stop_reason "refusal", or text without the forced call, is a RefusalError, not retried."""
    anthropic_server.answer_always(answer)
    with pytest.raises(RefusalError):
        await anthropic.use_tool(ASK, TOOL)
    assert len(anthropic_server.requests) == 1


async def test_a_slow_answer_is_cut_off_by_the_timeout(
    http: HttpSession, anthropic_server: AnthropicStandIn
) -> None:
    """An answer slower than the client's (pinned small) timeout ends as a transient error."""
    anthropic_server.answer_always(Reply(body=tool_use_reply({"name": "late"}), delay=5.0))
    client = AnthropicClient(http, ANTHROPIC_KEY, base_url=anthropic_server.base_url, timeout=0.3)
    with pytest.raises(TransientError) as caught:
        await client.use_tool(ASK, TOOL)
    # The attempt's own timeout or the whole call's, whichever fires first: both name 0.3 s.
    assert "0.3" in str(caught.value)
    assert caught.value.retryable


async def test_a_wrong_key_is_refused_by_the_stand_in_and_never_shown(
    http: HttpSession, anthropic_server: AnthropicStandIn, fake_time: FakeTime
) -> None:
    """The stand-in checks x-api-key: another key gets 401, an AuthError without the key."""
    wrong = "sk-ant-wrong-key-0000"
    client = AnthropicClient(
        http, wrong, base_url=anthropic_server.base_url, policy=retry_policy(fake_time)
    )
    with pytest.raises(AuthError) as caught:
        await client.use_tool(ASK, TOOL)
    assert wrong not in str(caught.value)
    assert wrong not in repr(client)


async def test_the_stand_in_refuses_a_tool_choice_naming_no_tool(
    http: HttpSession, anthropic_server: AnthropicStandIn
) -> None:
    """The stand-in is faithful: a tool schema that is not an object is a 400, as the API says."""
    bad = Tool(name="strategy", description="", input_schema={"type": "array"})
    client = AnthropicClient(http, ANTHROPIC_KEY, base_url=anthropic_server.base_url)
    with pytest.raises(InputRejectedError, match="input_schema"):
        await client.use_tool(ASK, bad)


async def test_without_a_key_the_feature_is_off(http: HttpSession) -> None:
    """No key, no client: callers see ``None`` and say the feature is off."""
    assert client_from_key(http, None) is None
    assert client_from_key(http, "") is None
    client = client_from_key(http, "k", model="claude-x")
    assert isinstance(client, AnthropicClient)
    assert client.model == "claude-x"
