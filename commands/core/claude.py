"""Drafting with Claude as the command ports see it: ``ClaudeDrafter`` (the ``Drafter`` port over
``fetchers.anthropic``), ``DraftRateLimits`` (the ``DraftLimits`` port) and ``claude_drafting``,
which the front ends call with the key and settings (``None`` without a key: the feature is off).

The adapter turns each provider failure into a ``DraftUnavailableError`` whose message says what
happened and when to try again; the failures' own messages are scrubbed of the key by the HTTP
layer, and the key itself is held only by the client's headers (never in a repr).

The limits count drafts per member and per server in moving windows (``pyrate-limiter``'s
in-memory buckets); every decision is taken at the instant the caller passes, the service's
injected clock, so tests pin it and never depend on the machine's time.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from pyrate_limiter import Decision, InMemoryBucket, Rate, RateItem

from commands.core.ports import DraftAnswer, Drafting, DraftUnavailableError
from events.wording import plural
from fetchers.anthropic import (
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT,
    AnthropicClient,
    Message,
    OverloadedError,
    RefusalError,
    Tool,
    ToolUse,
    client_from_key,
    retry_messages,
)
from fetchers.errors import (
    AuthError,
    FetchError,
    RateLimitedError,
    SpendCapError,
    TimedOutError,
    TransientError,
)
from fetchers.http import HttpSession
from settings import Settings

log = logging.getLogger(__name__)

TOOL_NAME = "strategy_file"
TOOL_DESCRIPTION = (
    "Record the drafted ibpicker strategy file. The input is the whole file as data; it is "
    "written out as YAML and validated."
)
DEFAULT_PER_MEMBER = 5
DEFAULT_PER_SERVER = 30
MEMBER_WINDOW = timedelta(hours=1)
SERVER_WINDOW = timedelta(days=1)


class ClaudeDrafter:
    """The ``Drafter`` port over an ``AnthropicClient``."""

    def __init__(self, client: AnthropicClient) -> None:
        """Draft with ``client`` (its model, timeout and retries)."""
        self._client = client

    def __repr__(self) -> str:
        return f"ClaudeDrafter(model={self.model!r})"

    @property
    def model(self) -> str:
        """The model asked."""
        return self._client.model

    async def draft(
        self,
        description: str,
        *,
        system: str,
        schema: dict[str, Any],
        previous: DraftAnswer | None = None,
        problems: str = "",
    ) -> DraftAnswer:
        """One forced call of the strategy tool; the follow-up replays ``previous`` with an
        error result listing ``problems``. Provider failures become ``DraftUnavailableError``."""
        messages = [Message("user", description)]
        if previous is not None:
            asked = ToolUse(
                id=previous.call_id, name=TOOL_NAME, input=previous.spec, model=previous.model
            )
            messages += retry_messages(asked, problems)
        tool = Tool(TOOL_NAME, TOOL_DESCRIPTION, schema)
        try:
            call = await self._client.use_tool(messages, tool, system=system)
        except FetchError as exc:
            log.warning("strategy draft failed: %s", exc)
            raise unavailable(exc, timeout=self._client.timeout) from None
        return DraftAnswer(
            spec=call.input,
            model=call.model,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            call_id=call.id,
        )


def unavailable(exc: FetchError, *, timeout: float) -> DraftUnavailableError:
    """What a member reads when Claude could not draft, by the failure's type."""
    if isinstance(exc, RateLimitedError):
        wait = exc.retry_after
        when = f"in {_duration(wait)}" if wait else "in a minute"
        return DraftUnavailableError(
            f"Claude is rate limited right now (Anthropic answered 429): try again {when}.",
            retry_after=wait,
        )
    if isinstance(exc, OverloadedError):
        return DraftUnavailableError(
            "Claude is overloaded right now (Anthropic answered 529): try again in a few minutes."
        )
    if isinstance(exc, TimedOutError):
        return DraftUnavailableError(
            f"Claude gave no answer within {timeout:g} s: try again in a few minutes, or "
            "describe a shorter strategy."
        )
    if isinstance(exc, TransientError):
        return DraftUnavailableError(
            "Anthropic's service failed (a server or network error): try again in a few minutes."
        )
    if isinstance(exc, RefusalError):
        return DraftUnavailableError(
            "Claude declined to draft this strategy. Describe the entry and exit rules in "
            "trading terms (indicators, thresholds, stop and target) and try again."
        )
    if isinstance(exc, SpendCapError):
        return DraftUnavailableError(
            "The Anthropic account reached its spend limit: drafting is paused until an operator "
            "raises it."
        )
    if isinstance(exc, AuthError):
        return DraftUnavailableError(
            "Anthropic refused the configured key: an operator must check the anthropic-api-key "
            "secret."
        )
    return DraftUnavailableError(f"Anthropic refused the request: {exc.reason}")


def _duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``2 h``: a wait in the unit people read it in (seconds rounded up,
    minutes and hours to the nearest)."""
    whole = max(1, int(-(-seconds // 1)))
    if whole < 90:
        return f"{whole} s"
    if whole < 90 * 60:
        return f"{round(whole / 60)} min"
    return f"{round(whole / 3600)} h"


class DraftRateLimits:
    """At most ``per_member`` drafts per member per ``member_window`` and ``per_server`` per
    server per ``server_window`` (the ``DraftLimits`` port; moving windows)."""

    def __init__(
        self,
        *,
        per_member: int = DEFAULT_PER_MEMBER,
        per_server: int = DEFAULT_PER_SERVER,
        member_window: timedelta = MEMBER_WINDOW,
        server_window: timedelta = SERVER_WINDOW,
    ) -> None:
        """Limits in drafts per window."""
        self.per_member, self.per_server = per_member, per_server
        self._member_rate = Rate(per_member, _ms(member_window))
        self._server_rate = Rate(per_server, _ms(server_window))
        self._member_window, self._server_window = member_window, server_window
        self._members: dict[tuple[int, int], InMemoryBucket] = {}
        self._servers: dict[int, InMemoryBucket] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DraftRateLimits(per_member={self.per_member}, per_server={self.per_server})"

    def admit(self, guild_id: int, member_id: int, now: datetime) -> str | None:
        """Count one draft at ``now``, or say which limit refuses it and when to try again."""
        at = int(now.timestamp() * 1000)
        with self._lock:
            server = self._servers.setdefault(guild_id, InMemoryBucket([self._server_rate]))
            member = self._members.setdefault(
                (guild_id, member_id), InMemoryBucket([self._member_rate])
            )
            server.leak(at)
            member.leak(at)
            refused = self._refusal(server, f"server:{guild_id}", at, now, "This server")
            if refused is not None:
                return refused
            refused = self._refusal(member, f"member:{member_id}", at, now, "You")
            if refused is not None:
                server.items.pop()  # the server's count of this refused draft is taken back
            return refused

    def _refusal(
        self, bucket: InMemoryBucket, name: str, at: int, now: datetime, who: str
    ) -> str | None:
        decision = bucket.put_decision(RateItem(name, at))
        assert isinstance(decision, Decision)  # the in-memory bucket is synchronous
        if decision.allowed:
            return None
        per_member = who == "You"
        limit = self.per_member if per_member else self.per_server
        window = self._member_window if per_member else self._server_window
        wait_ms = decision.retry_after_ms if decision.retry_after_ms is not None else _ms(window)
        again = (now + timedelta(milliseconds=wait_ms)).astimezone(UTC)
        asked = "have asked for" if per_member else "has asked for"
        return (
            f"{who} {asked} {plural(limit, 'draft')} in the last {_window(window)}, the most "
            f"allowed (drafts cost money): try again in {_duration(wait_ms / 1000)} "
            f"(at {again:%Y-%m-%d %H:%M} UTC)."
        )


def _window(span: timedelta) -> str:
    """``hour``, ``day``, else the span as a duration (``10 min``)."""
    named = {timedelta(hours=1): "hour", timedelta(days=1): "day"}
    return named.get(span) or _duration(span.total_seconds())


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)


def claude_drafting(
    http: HttpSession,
    api_key: str | None,
    *,
    model: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    per_member: int = DEFAULT_PER_MEMBER,
    per_server: int = DEFAULT_PER_SERVER,
    base_url: str | None = None,
) -> Drafting | None:
    """Drafting over Anthropic when ``api_key`` is set, else ``None`` (the feature is off)."""
    options: dict[str, Any] = {"model": model or DEFAULT_MODEL, "timeout": timeout}
    if base_url is not None:
        options["base_url"] = base_url
    client = client_from_key(http, api_key, **options)
    if client is None:
        return None
    return Drafting(
        ClaudeDrafter(client), DraftRateLimits(per_member=per_member, per_server=per_server)
    )


def drafting_from_settings(
    http: HttpSession, settings: Settings, api_key: str | None
) -> Drafting | None:
    """``claude_drafting`` with the operator's settings (``IBPICKER_ANTHROPIC_MODEL``,
    ``IBPICKER_ANTHROPIC_BASE_URL``, ``IBPICKER_DRAFT_TIMEOUT_S``,
    ``IBPICKER_DRAFTS_PER_MEMBER_HOUR``, ``IBPICKER_DRAFTS_PER_SERVER_DAY``); ``None`` without a
    key."""
    return claude_drafting(
        http,
        api_key,
        model=settings.anthropic_model,
        timeout=settings.draft_timeout_s,
        per_member=settings.drafts_per_member_hour,
        per_server=settings.drafts_per_server_day,
        base_url=settings.anthropic_base_url,
    )
