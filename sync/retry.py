"""How sync waits out a blob store that is unavailable: one retry policy, for restore and shipping.

A ``BlobStoreUnavailableError`` (a timeout, a refused connection, a 5xx) is retried without a
bound on attempts: the bot keeps serving from its local journal meanwhile, and the backlog ships
once the store answers. Waits grow exponentially from ``min_s`` to ``max_s`` with full jitter
(uniformly drawn below the exponential bound, as the fetchers' retries do), so restarted
instances do not retry in step. Any other error is not retried; a stop signal (``stopping``)
gives up and re-raises the last unavailability. ``sleep`` is injectable for tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from sync.blobstore import BlobStoreUnavailableError

STORE_RETRY_MIN_S = 0.2
"""The first wait's bound after the store is found unavailable."""
STORE_RETRY_MAX_S = 15.0
"""The longest wait between two tries."""

Sleep = Callable[[float], Awaitable[None]]


def store_retrying(
    *,
    min_s: float = STORE_RETRY_MIN_S,
    max_s: float = STORE_RETRY_MAX_S,
    stopping: Callable[[], bool] = lambda: False,
    on_retry: Callable[[BaseException, float], None] | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncRetrying:
    """The policy as a tenacity ``AsyncRetrying`` (``async for attempt in ...: with attempt:``).

    ``on_retry(error, wait_s)`` runs before each wait (to log, or to report the store down).
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(error, state.upcoming_sleep)

    return AsyncRetrying(
        retry=retry_if_exception_type(BlobStoreUnavailableError),
        wait=wait_random_exponential(multiplier=min_s, max=max_s),
        stop=lambda _: stopping(),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
