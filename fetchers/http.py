"""HTTP plumbing shared by every provider: one session, rate limits, retries, error translation.

- ``HttpSession`` owns the process's single ``aiohttp.ClientSession`` (opened by ``start`` or
  ``async with``, closed by ``close``), so connections are pooled across providers.
- ``ProviderClient`` is one provider's view of it: base URL, secret headers, its own ``aiolimiter``
  limiters (all acquired before every attempt, retries included), and ``tenacity`` retries:
  ``retry-after`` honoured on 429 (seconds or an HTTP date), exponential backoff with full jitter
  on 5xx, timeouts and connection errors, never a retry on input errors. Attempts and total time
  are bounded; sleep and clock are injectable so backoff tests run instantly.
- Every non-2xx answer becomes a ``FetchError`` subclass with a scrubbed message (no key, no query).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiolimiter import AsyncLimiter
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from fetchers.errors import (
    AccessDeniedError,
    AuthError,
    FetchError,
    InputRejectedError,
    RateLimitedError,
    TimedOutError,
    TransientError,
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
WallClock = Callable[[], datetime]

_EXCERPT = 200
log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: bounded attempts and total time, backoff bounds, injectable time.

    ``sleep`` and ``clock`` (monotonic seconds) are real by default; tests pass fakes so a
    backoff of minutes takes no time. ``wall_clock`` turns an HTTP-date ``retry-after`` into a
    delay.
    """

    max_attempts: int = 4
    max_total_seconds: float = 60.0
    attempt_timeout: float = 20.0
    connect_timeout: float = 5.0
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic
    wall_clock: WallClock = _utcnow


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max_rate`` requests per ``period`` seconds (a leaky bucket, ``aiolimiter``)."""

    max_rate: float
    period: float

    def limiter(self) -> AsyncLimiter:
        """A fresh limiter enforcing this limit."""
        return AsyncLimiter(self.max_rate, self.period)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A provider's raw answer: status, headers (case-insensitive copy) and body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def excerpt(self) -> str:
        """The start of the body as text, for error messages (scrubbed by the caller)."""
        text = self.body[:_EXCERPT].decode("utf-8", errors="replace")
        return " ".join(text.split())


# A provider hook that may classify a non-2xx answer itself (e.g. UW 403 history -> no data);
# returning None falls back to the default classification.
Classifier = Callable[[HttpAnswer, str], FetchError | None]


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``retry-after`` header: delta-seconds or an HTTP date; else None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret replaced by ``***`` (defence in depth for error messages)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def default_classification(
    answer: HttpAnswer, where: str, provider: str, now: datetime
) -> FetchError:
    """The error a non-2xx answer means, for providers without a special rule for it."""
    status = answer.status
    message = f"{where} answered HTTP {status}: {answer.excerpt() or '(empty body)'}"
    if status == 429:
        retry_after = parse_retry_after(answer.headers.get("retry-after"), now)
        return RateLimitedError(message, provider=provider, retry_after=retry_after)
    if status >= 500:
        return TransientError(message, provider=provider)
    if status == 401:
        return AuthError(f"{where} refused the key (HTTP 401)", provider=provider)
    if status == 403:
        return AccessDeniedError(message, provider=provider)
    return InputRejectedError(message, provider=provider)


class HttpSession:
    """Owner of the process's one ``aiohttp.ClientSession`` (``async with HttpSession()``)."""

    def __init__(self, *, user_agent: str = "ibpicker/0.1", connections: int = 32) -> None:
        self._user_agent = user_agent
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the session (idempotent); must run inside the event loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self._user_agent},
                timeout=aiohttp.ClientTimeout(total=30, connect=5),
            )

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session; a ``RuntimeError`` if ``start`` was not awaited."""
        if self._session is None or self._session.closed:
            raise RuntimeError("HttpSession is not started: use `async with HttpSession()`")
        return self._session

    async def close(self) -> None:
        """Close the session and its connections (idempotent)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@dataclass(slots=True)
class _Deadline:
    """The total time budget of one logical request: attempts and backoff sleeps count, waiting
    for the rate limiter does not (a request queued behind many others is not failing)."""

    clock: Clock
    started: float
    budget: float
    queued: float = 0.0

    def remaining(self) -> float:
        return self.budget - (self.clock() - self.started - self.queued)

    def __call__(self, state: RetryCallState) -> bool:
        return state.upcoming_sleep >= self.remaining()


@dataclass(slots=True)
class _Wait:
    """``retry-after`` when the provider gave one, else exponential backoff with full jitter."""

    backoff: wait_random_exponential

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return exc.retry_after
        return float(self.backoff(state))


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, FetchError) and exc.retryable


@dataclass(slots=True)
class ProviderClient:
    """One provider's HTTP access: its base URL, secret headers, limiters and retry policy.

    ``secrets`` are scrubbed from every error message; the repr never shows headers.
    """

    name: str
    http: HttpSession
    base_url: str
    headers: Mapping[str, str] = field(repr=False)
    secrets: Sequence[str] = field(repr=False)
    limiters: Sequence[AsyncLimiter] = ()
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    classify: Classifier | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"ProviderClient(name={self.name!r}, base_url={self.base_url!r})"

    async def get(self, path: str, params: Mapping[str, str | int | float] | None = None) -> bytes:
        """GET ``path`` and return the 2xx body, retrying what may pass; else a ``FetchError``."""
        return await self.request("GET", path, params=params)

    async def post(self, path: str, payload: bytes) -> bytes:
        """POST a JSON body to ``path`` and return the 2xx body (same retry rules as ``get``)."""
        return await self.request("POST", path, data=payload)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int | float] | None = None,
        data: bytes | None = None,
    ) -> bytes:
        """One logical request: limited, retried and translated into ``FetchError`` on failure."""
        policy = self.policy
        deadline = _Deadline(policy.clock, policy.clock(), policy.max_total_seconds)
        retrying = AsyncRetrying(
            sleep=policy.sleep,
            stop=_stop_after(policy.max_attempts, deadline),
            wait=_Wait(
                wait_random_exponential(multiplier=policy.backoff_base, max=policy.backoff_max)
            ),
            retry=retry_if_exception(_is_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(method, path, params, data, deadline)
        except FetchError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if attempts > 1:
                exc.args = (f"{exc} (after {attempts} attempts)",)
            raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int | float] | None,
        data: bytes | None,
        deadline: _Deadline,
    ) -> bytes:
        where = f"{self.name} {method} {path}"
        policy = self.policy
        queued_since = policy.clock()
        for limiter in self.limiters:
            await limiter.acquire()
        deadline.queued += policy.clock() - queued_since
        total = max(0.05, min(policy.attempt_timeout, deadline.remaining()))
        timeout = aiohttp.ClientTimeout(total=total, connect=min(policy.connect_timeout, total))
        headers: dict[str, str] = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        query: dict[str, str] = {k: _query_value(v) for k, v in (params or {}).items()}
        try:
            async with self.http.session.request(
                method,
                self.base_url.rstrip("/") + path,
                params=query,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                body = await response.read()
                lowered = {k.lower(): v for k, v in response.headers.items()}
                answer = HttpAnswer(response.status, lowered, body)
        except TimeoutError:
            raise TimedOutError(
                f"{where} timed out after {total:.1f}s", provider=self.name
            ) from None
        except aiohttp.ClientError as exc:
            reason = scrub(f"{type(exc).__name__}: {exc}", self.secrets)
            raise TransientError(f"{where} failed: {reason}", provider=self.name) from None
        if 200 <= answer.status < 300:
            return answer.body
        raise self._error(answer, where)

    def _error(self, answer: HttpAnswer, where: str) -> FetchError:
        error = self.classify(answer, where) if self.classify is not None else None
        if error is None:
            error = default_classification(answer, where, self.name, self.policy.wall_clock())
        scrubbed = scrub(str(error), self.secrets)
        if scrubbed != str(error):
            error.args = (scrubbed,)
        return error


def _log_retry(state: RetryCallState) -> None:
    """One line per retry; the error's message is already scrubbed of secrets."""
    exc = state.outcome.exception() if state.outcome is not None else None
    log.warning(
        "%s; retrying in %.1fs (attempt %d)", exc, state.upcoming_sleep, state.attempt_number
    )


def _stop_after(max_attempts: int, deadline: _Deadline) -> Callable[[RetryCallState], bool]:
    def stop(state: RetryCallState) -> bool:
        return state.attempt_number >= max_attempts or deadline(state)

    return stop


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
