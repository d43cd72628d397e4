"""A local Anthropic Messages API stand-in (aiohttp on 127.0.0.1, a free port).

``AnthropicStandIn`` is a ``ProviderStandIn`` (``tests.support.providers``) that insists on the
``x-api-key`` and ``anthropic-version`` headers (401 otherwise, as the API does) and checks each
``POST /v1/messages`` body the way the API would before answering: a model, ``max_tokens``,
messages starting with the user, a ``tool_choice`` naming one of the ``tools``, each tool's
``input_schema`` an object schema, and every ``tool_result`` answering the ``tool_use`` of the
turn before (400 ``invalid_request_error`` otherwise). Then it answers from its script:
``answer(*replies)`` one per request, ``answer_always(reply)`` after them.

The replies, in the documented shapes (reference: apis.md): ``tool_use_reply`` (the forced tool
call), ``text_reply`` (an answer without the call), ``refusal_reply``, ``anthropic_error``
(its envelope, with headers such as ``retry-after``) and the usual failures ``rate_limited``,
``OVERLOADED`` (529) and ``SERVER_ERROR`` (500); any ``Reply`` may carry a ``delay`` (a slow
answer). ``sent()`` decodes the bodies received, for assertions on what the client asked.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import msgspec

from tests.support.providers import ProviderStandIn, Recorded, Reply

MESSAGES = "/v1/messages"
API_VERSION = "2023-06-01"
STANDIN_MODEL = "claude-sonnet-4-5-20250929"
"""The model id the stand-in answers with (a dated snapshot, as the API names it)."""


def tool_use_reply(
    tool_input: dict[str, Any],
    *,
    name: str = "strategy",
    input_tokens: int = 1200,
    output_tokens: int = 340,
    call_id: str = "toolu_01",
) -> dict[str, Any]:
    """A success whose content is the forced tool call with ``tool_input``."""
    return {
        "id": "msg_01", "type": "message", "role": "assistant", "model": STANDIN_MODEL,
        "content": [{"type": "tool_use", "id": call_id, "name": name, "input": tool_input}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }  # fmt: skip


def text_reply(text: str, *, stop_reason: str = "end_turn") -> dict[str, Any]:
    """A success with text only (the tool was not called)."""
    return {
        "id": "msg_02", "type": "message", "role": "assistant", "model": STANDIN_MODEL,
        "content": [{"type": "text", "text": text}], "stop_reason": stop_reason,
        "usage": {"input_tokens": 900, "output_tokens": 12},
    }  # fmt: skip


def refusal_reply() -> dict[str, Any]:
    """The model declined: ``stop_reason`` ``refusal``, no tool call."""
    return {
        "id": "msg_03", "type": "message", "role": "assistant", "model": STANDIN_MODEL,
        "content": [], "stop_reason": "refusal",
        "usage": {"input_tokens": 900, "output_tokens": 0},
    }  # fmt: skip


def anthropic_error(status: int, kind: str, message: str, **headers: str) -> Reply:
    """A Messages API error in its documented envelope (``retry_after="3"`` → ``retry-after``)."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}
    return Reply(status, body, headers={k.replace("_", "-"): v for k, v in headers.items()})


def rate_limited(retry_after: str = "30") -> Reply:
    """429 ``rate_limit_error`` asking to wait ``retry_after`` seconds."""
    return anthropic_error(
        429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
        retry_after=retry_after,
    )  # fmt: skip


OVERLOADED = anthropic_error(529, "overloaded_error", "Overloaded")
SERVER_ERROR = anthropic_error(500, "api_error", "Internal server error")


def _bad(message: str) -> Reply:
    return anthropic_error(400, "invalid_request_error", message)


def check_request(request: Recorded) -> Reply | None:
    """The 400 the real API would answer to a malformed Messages request, or ``None``."""
    if request.method != "POST" or request.path != MESSAGES:
        return None
    try:
        body = msgspec.json.decode(request.body)
    except msgspec.DecodeError:
        return _bad("malformed JSON")
    if not isinstance(body, dict) or not body.get("model") or not body.get("max_tokens"):
        return _bad("model and max_tokens are required")
    messages = body.get("messages") or []
    if not messages or messages[0].get("role") != "user":
        return _bad("messages: the first message must use the user role")
    tools = {t.get("name"): t for t in body.get("tools", [])}
    choice = body.get("tool_choice")
    if choice is not None and (choice.get("type") != "tool" or choice.get("name") not in tools):
        return _bad("tool_choice.name: no such tool")
    for tool in tools.values():
        if tool.get("input_schema", {}).get("type") != "object":
            return _bad(f"tools.{tool.get('name')}.input_schema.type: Field required: 'object'")
    return _check_tool_results(messages)


def _check_tool_results(messages: list[dict[str, Any]]) -> Reply | None:
    """Each ``tool_result`` must answer a ``tool_use`` id of the assistant turn just before."""
    for before, turn in pairwise(messages):
        content = turn.get("content")
        if not isinstance(content, list):
            continue
        asked = before.get("content") if before.get("role") == "assistant" else None
        blocks = asked if isinstance(asked, list) else []
        ids = {b.get("id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"}
        for block in content:
            if block.get("type") == "tool_result" and block.get("tool_use_id") not in ids:
                return _bad("tool_result block(s) provided without a matching tool_use")
    return None


class AnthropicStandIn(ProviderStandIn):
    """The Messages API on 127.0.0.1 for the key ``api_key``; see the module docstring."""

    def __init__(self, api_key: str) -> None:
        """Accept only ``api_key`` with the documented version header."""
        super().__init__(
            require_headers={"x-api-key": api_key, "anthropic-version": API_VERSION},
            check=check_request,
        )

    def answer(self, *replies: Reply | dict[str, Any]) -> None:
        """Answer the next requests with ``replies`` in order (a dict is a 200 body)."""
        self.queue("POST", MESSAGES, *(_reply(r) for r in replies))

    def answer_always(self, reply: Reply | dict[str, Any]) -> None:
        """Answer with ``reply`` once the queued answers are used up."""
        self.always("POST", MESSAGES, _reply(reply))

    def sent(self) -> list[dict[str, Any]]:
        """The JSON bodies of the Messages requests received, in order."""
        return [msgspec.json.decode(r.body) for r in self.requests if r.path == MESSAGES]


def _reply(reply: Reply | dict[str, Any]) -> Reply:
    return reply if isinstance(reply, Reply) else Reply(body=reply)
