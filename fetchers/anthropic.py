"""The Anthropic Messages API client for structured answers: ``use_tool(messages, tool)``.

Structured output is a forced tool call: the request names one tool (its ``input_schema`` a JSON
Schema the caller builds) and ``tool_choice: {"type": "tool", "name": ...}``; the answer's
``tool_use`` block carries the input, which the caller still validates. The caller's follow-up
(a ``tool_result`` with ``is_error`` and the problems) is built with ``retry_messages``.

Failures are typed ``FetchError``s with scrubbed messages (never the key): 429 is retried after
``retry-after`` and ends as ``RateLimitedError`` (with ``retry_after``), except a spend-cap 429
(``SpendCapError``, never retried); 529 overloaded ends as ``OverloadedError`` and 5xx as
``TransientError`` after backoff with jitter; 400/401/403/404/413 are never retried; an answer
with ``stop_reason: "refusal"`` or without the tool call is a ``RefusalError``. The whole call,
retries included, is bounded by ``timeout`` (``AnswerTimeoutError``; an attempt's own timeout is
a ``TimedOutError`` too), so a slow answer never hangs a command. With no key the feature is off:
``client_from_key(http, None)`` is ``None``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from fetchers.errors import FetchError, SpendCapError, TimedOutError, TransientError
from fetchers.http import HttpAnswer, HttpSession, ProviderClient, RateLimit, RetryPolicy
from fetchers.provider import decode

NAME = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-sonnet-4-5"
"""A current Sonnet (the alias follows its latest snapshot); ``IBPICKER_ANTHROPIC_MODEL``."""
DEFAULT_TIMEOUT = 60.0
API_VERSION = "2023-06-01"
MESSAGES = "/v1/messages"
_SPEND_CAP = re.compile(r"spend|usage limit|credit balance|billing", re.IGNORECASE)


class OverloadedError(TransientError):
    """Anthropic answered 529 ``overloaded_error`` on every attempt: try again later."""


class AnswerTimeoutError(TimedOutError):
    """No answer within the client's ``timeout`` (retries included)."""


class RefusalError(FetchError):
    """The model declined (``stop_reason: "refusal"``) or did not call the tool."""


class Tool(msgspec.Struct, frozen=True):
    """A tool the model must call: its name, what it is for, and its input's JSON Schema."""

    name: str
    description: str
    input_schema: dict[str, Any]


class Message(msgspec.Struct, frozen=True):
    """One turn: text, or content blocks (``tool_use``, ``tool_result``) as the API takes them."""

    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class ToolUse(msgspec.Struct, frozen=True, kw_only=True):
    """The model's call of the tool: its input (unvalidated), and what the answer cost."""

    id: str
    name: str
    input: dict[str, Any]
    model: str
    input_tokens: int = 0
    output_tokens: int = 0


class _ToolChoice(msgspec.Struct, frozen=True):
    name: str
    type: str = "tool"


class _Request(msgspec.Struct, omit_defaults=True):
    model: str
    max_tokens: int
    messages: list[Message]
    tools: list[Tool]
    tool_choice: _ToolChoice
    system: str | None = None


class _Block(msgspec.Struct):
    type: str
    id: str = ""
    name: str = ""
    input: Any = None


class _Usage(msgspec.Struct):
    input_tokens: int = 0
    output_tokens: int = 0


class _Reply(msgspec.Struct):
    content: list[_Block]
    model: str = ""
    stop_reason: str | None = None
    usage: _Usage = msgspec.field(default_factory=_Usage)


class _ErrorDetail(msgspec.Struct):
    type: str = ""
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail


def _classify(answer: HttpAnswer, where: str) -> FetchError | None:
    """529 is overloaded (transient); a 429 naming the spend limit will not pass by waiting."""
    if answer.status == 529:
        return OverloadedError(f"{where} is overloaded (HTTP 529)", provider=NAME)
    if answer.status == 429:
        try:
            detail = msgspec.json.decode(answer.body, type=_ErrorBody).error
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if _SPEND_CAP.search(detail.message):
            return SpendCapError(
                f"{where} reached the spend limit: {detail.message}", provider=NAME
            )
    return None


def retry_messages(previous: ToolUse, problems: str) -> list[Message]:
    """The turns that answer a tool call whose input did not validate: the call as the model
    made it, then a ``tool_result`` marked as an error carrying ``problems``."""
    call = {"type": "tool_use", "id": previous.id, "name": previous.name, "input": previous.input}
    result = {"type": "tool_result", "tool_use_id": previous.id, "is_error": True,
              "content": problems}  # fmt: skip
    return [Message("assistant", [call]), Message("user", [result])]


class AnthropicClient:
    """Forced tool calls over the Messages API (``POST /v1/messages``); see the module doc."""

    def __init__(
        self,
        http: HttpSession,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        max_tokens: int = 4096,
        timeout: float = DEFAULT_TIMEOUT,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
    ) -> None:
        """``timeout`` bounds a whole call, retries included; ``policy`` times the retries."""
        self.model = model
        self.timeout = timeout
        self._max_tokens = max_tokens
        self._client = ProviderClient(
            name=NAME,
            http=http,
            base_url=base_url,
            headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
            secrets=(api_key,),
            limiters=(RateLimit(50, 60.0).limiter(),),
            policy=policy or RetryPolicy(max_total_seconds=timeout, attempt_timeout=timeout),
            classify=_classify,
        )

    def __repr__(self) -> str:
        return f"AnthropicClient(model={self.model!r})"

    async def use_tool(
        self, messages: Sequence[Message], tool: Tool, *, system: str | None = None
    ) -> ToolUse:
        """The model's call of ``tool`` after ``messages``; a ``FetchError`` otherwise."""
        request = _Request(
            model=self.model,
            max_tokens=self._max_tokens,
            messages=list(messages),
            tools=[tool],
            tool_choice=_ToolChoice(tool.name),
            system=system,
        )
        try:
            async with asyncio.timeout(self.timeout):
                body = await self._client.post(MESSAGES, msgspec.json.encode(request))
        except TimeoutError:
            raise AnswerTimeoutError(
                f"{NAME} gave no answer within {self.timeout:g}s", provider=NAME
            ) from None
        reply = decode(body, _Reply, provider=NAME, what="message")
        if reply.stop_reason == "refusal":
            raise RefusalError(f"{NAME} declined to answer (stop_reason refusal)", provider=NAME)
        calls = (b for b in reply.content if b.type == "tool_use" and b.name == tool.name)
        call = next(calls, None)
        if call is None or not isinstance(call.input, dict):
            raise RefusalError(
                f"{NAME} answered without calling {tool.name} (stop_reason {reply.stop_reason})",
                provider=NAME,
            )
        return ToolUse(
            id=call.id,
            name=call.name,
            input=call.input,
            model=reply.model or self.model,
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
        )


def client_from_key(
    http: HttpSession,
    api_key: str | None,
    *,
    model: str = DEFAULT_MODEL,
    timeout: float = DEFAULT_TIMEOUT,
    base_url: str = DEFAULT_BASE_URL,
) -> AnthropicClient | None:
    """An ``AnthropicClient`` when a key is configured, else ``None`` (the feature is off)."""
    if not api_key:
        return None
    return AnthropicClient(http, api_key, model=model, timeout=timeout, base_url=base_url)
