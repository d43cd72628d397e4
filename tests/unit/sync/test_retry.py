"""The sync retry policy for an unavailable blob store (``sync.retry``), on an injected sleep."""

from __future__ import annotations

import pytest
from tenacity import AsyncRetrying

from sync.blobstore import BlobStoreUnavailableError
from sync.errors import SyncError
from sync.retry import store_retrying


class Waits:
    """An injected sleep that records each wait and takes no time."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def _call_failing(times: int, error: Exception, retrying: AsyncRetrying) -> int:
    """Run an attempt that raises ``error`` ``times`` times, then returns its attempt count."""
    attempts = 0
    async for attempt in retrying:
        with attempt:
            attempts += 1
            if attempts <= times:
                raise error
            return attempts
    raise AssertionError("unreachable")


async def test_unavailability_is_retried_with_capped_jittered_exponential_waits() -> None:
    """Ten unavailable answers are retried (no bound on attempts) and the eleventh succeeds; each
    wait lies within [0, min(min_s * 2^n, max_s)] (full jitter under a capped exponential)."""
    waits = Waits()
    done = await _call_failing(
        10, BlobStoreUnavailableError("down"), store_retrying(sleep=waits, min_s=0.2, max_s=3.0)
    )
    assert done == 11
    assert len(waits.seconds) == 10
    for n, wait in enumerate(waits.seconds):
        assert 0 <= wait <= min(0.2 * 2**n, 3.0)


async def test_other_errors_are_not_retried() -> None:
    """An error other than unavailability propagates from the first attempt, with no wait."""
    waits = Waits()
    with pytest.raises(SyncError, match="not transient"):
        await _call_failing(1, SyncError("not transient"), store_retrying(sleep=waits))
    assert waits.seconds == []


async def test_a_stop_signal_gives_up_with_the_last_unavailability() -> None:
    """Once ``stopping()`` holds, the next failed attempt is not retried: the unavailability is
    raised to the caller instead of another wait."""
    waits = Waits()
    stop = False

    def on_retry(error: BaseException, wait_s: float) -> None:
        nonlocal stop
        stop = len(waits.seconds) >= 1  # the stop arrives during the second wait

    with pytest.raises(BlobStoreUnavailableError, match="down"):
        await _call_failing(
            100,
            BlobStoreUnavailableError("down"),
            store_retrying(sleep=waits, stopping=lambda: stop, on_retry=on_retry),
        )
    assert len(waits.seconds) == 2


async def test_on_retry_hears_each_error_and_the_wait_before_it() -> None:
    """``on_retry`` is called once per wait with the error and exactly the wait that follows."""
    waits = Waits()
    heard: list[tuple[str, float]] = []
    await _call_failing(
        3,
        BlobStoreUnavailableError("down"),
        store_retrying(
            sleep=waits, on_retry=lambda error, wait_s: heard.append((str(error), wait_s))
        ),
    )
    assert heard == [("down", w) for w in waits.seconds]
