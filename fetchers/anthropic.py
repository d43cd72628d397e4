"""A minimal Anthropic Messages API client: ``summarize(prompt) -> str``, optional and bounded.

Retries 429 (honouring ``retry-after``, except a spend-cap error), 529 overloaded and 500; never
400/401/403/404/413. A whole call is bounded by ``timeout`` so a slow answer never blocks a daily
post. With no key the feature is off: ``summarizer_from_key(None)`` is ``None``.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

import msgspec

from fetchers.errors import FetchError, SpendCapError, TransientError
from fetchers.http import HttpAnswer, HttpSession, ProviderClient, RateLimit, RetryPolicy
from fetchers.provider import decode

NAME = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_MODEL = "claude-haiku-4-5"
API_VERSION = "2023-06-01"
_SPEND_CAP = re.compile(r"spend|usage limit|credit balance|billing", re.IGNORECASE)


class _Message(msgspec.Struct):
    role: Literal["user", "assistant"]
    content: str


class _Request(msgspec.Struct, omit_defaults=True):
    model: str
    max_tokens: int
    messages: list[_Message]
    system: str | None = None
    temperature: float | None = None


class _Block(msgspec.Struct):
    type: str
    text: str = ""


class _Reply(msgspec.Struct):
    content: list[_Block]
    stop_reason: str | None = None


class _ErrorDetail(msgspec.Struct):
    type: str = ""
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: _ErrorDetail


def _classify(answer: HttpAnswer, where: str) -> FetchError | None:
    """529 overloaded is transient; a 429 naming the spend limit is not."""
    if answer.status == 529:
        return TransientError(f"{where} is overloaded (HTTP 529)", provider=NAME)
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


class AnthropicClient:
    """Summaries from the Messages API (``POST /v1/messages``)."""

    def __init__(
        self,
        http: HttpSession,
        api_key: str,
        *,
        model: str = DEFAULT_MODEL,
        max_tokens: int = 600,
        timeout: float = 30.0,
        base_url: str = DEFAULT_BASE_URL,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._model = model
        self._max_tokens = max_tokens
        self._timeout = timeout
        self._client = ProviderClient(
            name=NAME,
            http=http,
            base_url=base_url,
            headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
            secrets=(api_key,),
            limiters=(RateLimit(50, 60.0).limiter(),),
            policy=policy or RetryPolicy(max_total_seconds=timeout),
            classify=_classify,
        )

    def __repr__(self) -> str:
        return f"AnthropicClient(model={self._model!r})"

    async def summarize(self, prompt: str, *, system: str | None = None) -> str:
        """The model's text answer to ``prompt``; ``FetchError`` on failure or after ``timeout``."""
        request = _Request(
            model=self._model,
            max_tokens=self._max_tokens,
            messages=[_Message(role="user", content=prompt)],
            system=system,
        )
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._client.post("/v1/messages", msgspec.json.encode(request))
        except TimeoutError:
            raise TransientError(
                f"{NAME} gave no answer within {self._timeout:.0f}s", provider=NAME
            ) from None
        reply = decode(body, _Reply, provider=NAME, what="message")
        return "".join(block.text for block in reply.content if block.type == "text").strip()


def summarizer_from_key(
    http: HttpSession, api_key: str | None, *, model: str = DEFAULT_MODEL, timeout: float = 30.0
) -> AnthropicClient | None:
    """An ``AnthropicClient`` when a key is configured, else ``None`` (the feature is off)."""
    if not api_key:
        return None
    return AnthropicClient(http, api_key, model=model, timeout=timeout)
